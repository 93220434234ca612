/*
 * crypto.h - hashes, HMAC, constant-time comparison and ids, over OpenSSL.
 */
#ifndef VG_CRYPTO_H
#define VG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifndef VG_SHA256_LEN
#define VG_SHA256_LEN 32
/* Decodes standard base64 (RFC 4648 section 4, padding required, as HTTP Basic
 * credentials are); returns the length or -1 if in is no such text or out is
 * too small. out needs 3*(n/4)+1 bytes; it is NUL-terminated. */
long vg_base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

#endif
#define VG_UUID_STR_LEN 37 /* 36 characters and the NUL */

void vg_sha256(const void *data, size_t len, unsigned char out[VG_SHA256_LEN]);
void vg_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[VG_SHA256_LEN]);
/* Compares n bytes in time independent of where they differ; 1 if equal. */
int vg_equal_ct(const void *a, const void *b, size_t n);

/* MD5 of data as 32 uppercase hex digits and a NUL (the Data Vault hash form). */
void vg_md5_hex_upper(const void *data, size_t len, char out[33]);

/* A new UUIDv7 (RFC 9562): 48-bit millisecond time, then random bits. */
void vg_uuid_v7(int64_t epoch_ms, char out[VG_UUID_STR_LEN]);
/* The name-based UUIDv5 (RFC 9562, SHA-1) of name (len bytes) in the namespace ns (a
 * canonical UUID string): the same name always gives the same id. */
void vg_uuid_v5(const char *ns, const void *name, size_t len, char out[VG_UUID_STR_LEN]);
/* 1 if s is a UUID in canonical 8-4-4-4-12 hex form (any version). */
int vg_uuid_valid(const char *s);

/* URL-safe base64 without padding. out needs 4*ceil(n/3)+1 bytes. Returns length. */
size_t vg_base64url_encode(const unsigned char *in, size_t n, char *out);
/* Decodes URL-safe base64 without padding; returns the length or -1. */
long vg_base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

/* Decodes standard base64 (RFC 4648 section 4, padding required, as HTTP Basic
 * credentials are); returns the length or -1 if in is no such text or out is
 * too small. out needs 3*(n/4)+1 bytes; it is NUL-terminated. */
long vg_base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

#endif
