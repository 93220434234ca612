/*
 * token.h - session tokens: a browser's authority over one session.
 *
 * A token names a tenant, a session and an expiry, and is signed with
 * HMAC-SHA256 under security.token_secret, so the producer checks it without
 * any lookup (DESIGN.md section 4):
 *
 *   base64url("1|<tenant>|<session_id>|<expiry, Unix seconds>") "." base64url(mac)
 *
 * where mac = HMAC-SHA256(secret, "vigil-session-token|" payload). Neither
 * the tenant ([a-z0-9_-]) nor the session id ([A-Za-z0-9_.:-]) can hold "|".
 * The token is URL-safe: it travels in headers, query strings and /t/ links.
 */
#ifndef VG_TOKEN_H
#define VG_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "err.h"

#define VG_TOKEN_MAX 400 /* longest token, NUL included */

struct vg_token {
    char tenant[VG_TENANT_MAX + 1];
    char session_id[VG_ID_MAX + 1];
    int64_t expires_s;
};

/*
 * Writes the token for (tenant, session_id, expires_s) into out. Returns 0,
 * or VG_EINVAL if a name is empty, too long or holds "|", or out is too small.
 */
int vg_token_sign(const void *secret, size_t secret_len, const char *tenant,
                  const char *session_id, int64_t expires_s, char *out,
                  size_t out_size) VG_MUSTCHECK;

/*
 * Checks token (len bytes) at Unix time now_s. Returns 0 and fills *out;
 * VG_EAUTH if it is malformed or its signature does not match (altered,
 * or signed with another secret); VG_ETIMEOUT if it is authentic but expired
 * (*out is filled then too).
 */
int vg_token_verify(const void *secret, size_t secret_len, const char *token, size_t len,
                    int64_t now_s, struct vg_token *out) VG_MUSTCHECK;

#endif
