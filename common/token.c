#include "token.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "envelope.h"

#define PAYLOAD_MAX 240 /* "link1|" + 64 + "|" + 128 + "|" + 20 digits, with room */
#define MAC_B64_LEN 43  /* 32 bytes in unpadded base64url */

/* Each kind: its first payload field, and the context its MAC is computed in. */
static const struct {
    const char *field;
    const char *context;
} kinds[] = {
    [VG_TOKEN_SESSION] = {"1", "vigil-session-token|"},
    [VG_TOKEN_LINK] = {"link1", "vigil-link-token|"},
};

#define CONTEXT_MAX 24

static void mac(const void *secret, size_t secret_len, enum vg_token_kind kind,
                const char *payload, size_t n, unsigned char out[VG_SHA256_LEN])
{
    char msg[CONTEXT_MAX + PAYLOAD_MAX];
    size_t c = strlen(kinds[kind].context);
    memcpy(msg, kinds[kind].context, c);
    memcpy(msg + c, payload, n);
    vg_hmac_sha256(secret, secret_len, msg, c + n, out);
}

int vg_token_sign(const void *secret, size_t secret_len, enum vg_token_kind kind,
                  const char *tenant, const char *session_id, int64_t expires_s, char *out,
                  size_t out_size)
{
    size_t tn = strlen(tenant), sn = strlen(session_id);
    if (!vg_check_tenant(tenant, tn) ||
        !vg_check_name(session_id, sn, VG_ID_MAX, 1) || expires_s < 0)
        return VG_EINVAL;
    char payload[PAYLOAD_MAX];
    int n = snprintf(payload, sizeof(payload), "%s|%s|%s|%" PRId64, kinds[kind].field, tenant,
                     session_id, expires_s);
    if (n < 0 || (size_t)n >= sizeof(payload))
        return VG_EINVAL;
    unsigned char m[VG_SHA256_LEN];
    mac(secret, secret_len, kind, payload, (size_t)n, m);
    size_t need = ((size_t)n + 2) / 3 * 4 + 1 + MAC_B64_LEN + 1;
    if (out_size < need)
        return VG_EINVAL;
    size_t o = vg_base64url_encode((const unsigned char *)payload, (size_t)n, out);
    out[o++] = '.';
    vg_base64url_encode(m, sizeof(m), out + o);
    return 0;
}

/* Copies the field of payload up to the next '|' (or the end); advances *p. */
static int field(const char **p, const char *end, char *dst, size_t dst_size)
{
    const char *s = *p, *bar = memchr(s, '|', (size_t)(end - s));
    size_t n = (size_t)((bar ? bar : end) - s);
    if (n == 0 || n >= dst_size)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *p = bar ? bar + 1 : end;
    return bar ? 1 : 0;
}

int vg_token_verify(const void *secret, size_t secret_len, const char *token, size_t len,
                    int64_t now_s, struct vg_token *out)
{
    memset(out, 0, sizeof(*out));
    const char *dot = memchr(token, '.', len);
    if (!dot || len >= VG_TOKEN_MAX)
        return VG_EAUTH;
    size_t pn = (size_t)(dot - token), mn = len - pn - 1;
    if (mn != MAC_B64_LEN)
        return VG_EAUTH;
    char payload[PAYLOAD_MAX];
    long n = vg_base64url_decode(token, pn, (unsigned char *)payload, sizeof(payload) - 1);
    if (n <= 0)
        return VG_EAUTH;
    unsigned char got[VG_SHA256_LEN], want[VG_SHA256_LEN];
    if (vg_base64url_decode(dot + 1, mn, got, sizeof(got)) != VG_SHA256_LEN)
        return VG_EAUTH;
    /* The kind field chooses the MAC's context; the MAC then vouches for it. */
    const char *p = payload, *end = payload + n;
    char kind[8], exp[24];
    if (field(&p, end, kind, sizeof(kind)) != 1)
        return VG_EAUTH;
    if (!strcmp(kind, kinds[VG_TOKEN_SESSION].field))
        out->kind = VG_TOKEN_SESSION;
    else if (!strcmp(kind, kinds[VG_TOKEN_LINK].field))
        out->kind = VG_TOKEN_LINK;
    else
        return VG_EAUTH;
    mac(secret, secret_len, out->kind, payload, (size_t)n, want);
    if (!vg_equal_ct(got, want, VG_SHA256_LEN))
        return VG_EAUTH;

    /* Authentic from here on; still parse strictly. */
    if (field(&p, end, out->tenant, sizeof(out->tenant)) != 1 ||
        field(&p, end, out->session_id, sizeof(out->session_id)) != 1 ||
        field(&p, end, exp, sizeof(exp)) != 0)
        return VG_EAUTH;
    if (!vg_check_tenant(out->tenant, strlen(out->tenant)) ||
        !vg_check_name(out->session_id, strlen(out->session_id), VG_ID_MAX, 1) ||
        vg_parse_int64(exp, 0, INT64_MAX, &out->expires_s))
        return VG_EAUTH;
    if (out->expires_s <= now_s)
        return VG_ETIMEOUT;
    return 0;
}
