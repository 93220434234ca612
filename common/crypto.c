#include "crypto.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void vg_sha256(const void *data, size_t len, unsigned char out[VG_SHA256_LEN])
{
    unsigned int n = VG_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void vg_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[VG_SHA256_LEN])
{
    unsigned int n = VG_SHA256_LEN;
    HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

int vg_equal_ct(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void vg_md5_hex_upper(const void *data, size_t len, char out[33])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char md[16];
    unsigned int n = sizeof(md);
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (tolower((unsigned char)c) - 'a' + 10);
}

static void uuid_format(const unsigned char b[16], char out[VG_UUID_STR_LEN])
{
    snprintf(out, VG_UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void vg_uuid_v7(int64_t epoch_ms, char out[VG_UUID_STR_LEN])
{
    unsigned char b[16];
    vg_random_bytes(b + 6, 10);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)((uint64_t)epoch_ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    uuid_format(b, out);
}

void vg_uuid_v5(const char *ns, const void *name, size_t len, char out[VG_UUID_STR_LEN])
{
    unsigned char nsb[16], digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    for (int i = 0, j = 0; i < 16; j++) {
        if (ns[j] == '-')
            continue;
        nsb[i++] = (unsigned char)(hexval(ns[j]) << 4 | hexval(ns[j + 1]));
        j++;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) || !EVP_DigestUpdate(ctx, nsb, 16) ||
        !EVP_DigestUpdate(ctx, name, len) || !EVP_DigestFinal_ex(ctx, digest, &dlen)) {
        fprintf(stderr, "vigil: SHA-1 is unavailable\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    digest[6] = (unsigned char)(0x50 | (digest[6] & 0x0f));
    digest[8] = (unsigned char)(0x80 | (digest[8] & 0x3f));
    uuid_format(digest, out);
}

int vg_uuid_valid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[36] == '\0';
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t vg_base64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long vg_base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)))
        return -1; /* non-canonical trailing bits */
    return (long)o;
}

long vg_base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    if (n % 4 || n > 4 * ((size_t)INT32_MAX / 3) || out_size < 3 * (n / 4) + 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int pad = c == '=' && i + 2 >= n && (i == n - 1 || in[n - 1] == '=');
        if (!isalnum((unsigned char)c) && c != '+' && c != '/' && !pad)
            return -1;
    }
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (n && in[n - 1] == '=')
        len--;
    if (n > 1 && in[n - 2] == '=')
        len--;
    out[len] = '\0';
    return len;
}
