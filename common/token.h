/*
 * token.h - session and link tokens: a browser's authority over one session.
 *
 * A token names its kind, a tenant, a session and an expiry, and is signed
 * with HMAC-SHA256 under security.token_secret, so the producer checks it
 * without any lookup (DESIGN.md sections 4 and 12):
 *
 *   base64url("<kind>|<tenant>|<session_id>|<expiry, Unix seconds>") "." base64url(mac)
 *
 * where <kind> is "1" for a session token (heartbeats, end and events of the
 * session) and "link1" for a link token (the tracking link /t/{token} only),
 * and mac = HMAC-SHA256(secret, context payload) with the context
 * "vigil-session-token|" or "vigil-link-token|": a token of one kind never
 * verifies as the other, even with its kind field rewritten. Neither the
 * tenant ([a-z0-9_-]) nor the session id ([A-Za-z0-9_.:-]) can hold "|".
 * The token is URL-safe: it travels in headers, query strings and /t/ links.
 */
#ifndef VG_TOKEN_H
#define VG_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "err.h"

#define VG_TOKEN_MAX 400 /* longest token, NUL included */

enum vg_token_kind {
    VG_TOKEN_SESSION, /* heartbeats, end and events of one session */
    VG_TOKEN_LINK     /* GET /t/{token}, the tracking link, and nothing else */
};

struct vg_token {
    enum vg_token_kind kind;
    char tenant[VG_TENANT_MAX + 1];
    char session_id[VG_ID_MAX + 1];
    int64_t expires_s;
};

/*
 * Writes the token of kind for (tenant, session_id, expires_s) into out.
 * Returns 0, or VG_EINVAL if a name is empty, too long or holds "|", or out
 * is too small.
 */
int vg_token_sign(const void *secret, size_t secret_len, enum vg_token_kind kind, const char *tenant,
                  const char *session_id, int64_t expires_s, char *out,
                  size_t out_size) VG_MUSTCHECK;

/*
 * Checks token (len bytes) at Unix time now_s. Returns 0 and fills *out,
 * out->kind saying what the token may do (the caller checks it);
 * VG_EAUTH if it is malformed or its signature does not match (altered,
 * or signed with another secret); VG_ETIMEOUT if it is authentic but expired
 * (*out is filled then too).
 */
int vg_token_verify(const void *secret, size_t secret_len, const char *token, size_t len,
                    int64_t now_s, struct vg_token *out) VG_MUSTCHECK;

#endif
