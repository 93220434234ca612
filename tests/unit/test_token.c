/* Session and link tokens: sign, verify, kinds, tampering, expiry, other secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "token.h"

static const char secret[] = "0123456789abcdef-test-secret";
#define SLEN (sizeof(secret) - 1)
#define NOW 1795398847LL

static void sign(const char *tenant, const char *session, int64_t exp, char *out)
{
    int rc = vg_token_sign(secret, SLEN, VG_TOKEN_SESSION, tenant, session, exp, out, VG_TOKEN_MAX);
    if (rc)
        fail_msg("sign(%s, %s): %d", tenant, session, rc);
}

static void test_token_round_trip(void **state)
{
    char tok[VG_TOKEN_MAX];
    struct vg_token t;
    sign("demo", "20261123_015407_lesson_abcdefgh", NOW + 60, tok);
    /* URL-safe: base64url and one dot */
    for (const char *p = tok; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            fail_msg("token has '%c': %s", *p, tok);
    assert_int_equal(vg_token_verify(secret, SLEN, tok, strlen(tok), NOW, &t), 0);
    assert_string_equal(t.tenant, "demo");
    assert_string_equal(t.session_id, "20261123_015407_lesson_abcdefgh");
    assert_int_equal(t.expires_s, NOW + 60);
}

static void test_token_longest_ids_fit(void **state)
{
    char tenant[65], session[129], tok[VG_TOKEN_MAX];
    struct vg_token t;
    memset(tenant, 'a', 64);
    tenant[64] = '\0';
    memset(session, 'Z', 128);
    session[128] = '\0';
    sign(tenant, session, INT64_MAX / 2, tok);
    assert_int_equal(vg_token_verify(secret, SLEN, tok, strlen(tok), NOW, &t), 0);
    assert_string_equal(t.session_id, session);
}

static void test_token_refuses_bad_names(void **state)
{
    char tok[VG_TOKEN_MAX];
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_SESSION, "de|mo", "s", NOW, tok, sizeof(tok)), VG_EINVAL);
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_SESSION, "demo", "s|1", NOW, tok, sizeof(tok)), VG_EINVAL);
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_SESSION, "demo", "", NOW, tok, sizeof(tok)), VG_EINVAL);
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_SESSION, "demo", "s", NOW, tok, 10), VG_EINVAL);
}

static void test_token_expired(void **state)
{
    char tok[VG_TOKEN_MAX];
    struct vg_token t;
    sign("demo", "s1", NOW, tok);
    assert_int_equal(vg_token_verify(secret, SLEN, tok, strlen(tok), NOW - 1, &t), 0);
    assert_int_equal(vg_token_verify(secret, SLEN, tok, strlen(tok), NOW, &t), VG_ETIMEOUT);
    assert_int_equal(vg_token_verify(secret, SLEN, tok, strlen(tok), NOW + 1000, &t),
                     VG_ETIMEOUT);
}

static void test_token_every_altered_character_is_refused(void **state)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    char tok[VG_TOKEN_MAX], bad[VG_TOKEN_MAX];
    struct vg_token t;
    sign("demo", "s1", NOW + 60, tok);
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
            if (alphabet[a] == tok[i])
                continue;
            memcpy(bad, tok, n + 1);
            bad[i] = alphabet[a];
            int rc = vg_token_verify(secret, SLEN, bad, n, NOW, &t);
            if (rc != VG_EAUTH)
                fail_msg("token altered at %zu to '%c' gave %d: %s", i, alphabet[a], rc, bad);
        }
    }
    /* truncated, extended, emptied */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(vg_token_verify(secret, SLEN, tok, cut, NOW, &t), VG_EAUTH);
    memcpy(bad, tok, n);
    memcpy(bad + n, "AA", 3);
    assert_int_equal(vg_token_verify(secret, SLEN, bad, n + 2, NOW, &t), VG_EAUTH);
}

static void test_token_forged_payload_is_refused(void **state)
{
    /* Swap in another session's payload under the first one's MAC. */
    char a[VG_TOKEN_MAX], b[VG_TOKEN_MAX], forged[2 * VG_TOKEN_MAX];
    struct vg_token t;
    sign("demo", "session-a", NOW + 60, a);
    sign("demo", "session-b", NOW + 60, b);
    const char *mac_a = strchr(a, '.');
    size_t pb = (size_t)(strchr(b, '.') - b);
    memcpy(forged, b, pb);
    strcpy(forged + pb, mac_a);
    assert_int_equal(vg_token_verify(secret, SLEN, forged, strlen(forged), NOW, &t), VG_EAUTH);
    /* A payload of our own making, MAC'd with another key. */
    char other[VG_TOKEN_MAX];
    assert_int_equal(vg_token_sign("another-secret", 14, VG_TOKEN_SESSION, "demo", "session-a", NOW + 60, other,
                                   sizeof(other)),
                     0);
    assert_int_equal(vg_token_verify(secret, SLEN, other, strlen(other), NOW, &t), VG_EAUTH);
    /* A well-formed MAC over a payload that is not ours. */
    char raw[] = "2|demo|s|9999999999";
    char fake[VG_TOKEN_MAX];
    unsigned char mac[VG_SHA256_LEN];
    vg_hmac_sha256(secret, SLEN, raw, strlen(raw), mac); /* wrong context prefix */
    size_t o = vg_base64url_encode((const unsigned char *)raw, strlen(raw), fake);
    fake[o++] = '.';
    vg_base64url_encode(mac, sizeof(mac), fake + o);
    assert_int_equal(vg_token_verify(secret, SLEN, fake, strlen(fake), NOW, &t), VG_EAUTH);
}

static void test_token_garbage(void **state)
{
    static const char *const junk[] = {"", ".", "abc", "abc.def", "....",
                                       "MXxkZW1vfHMxfDk5OTk5OTk5OTk.",
                                       "!!!!.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    struct vg_token t;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_int_equal(vg_token_verify(secret, SLEN, junk[i], strlen(junk[i]), NOW, &t),
                         VG_EAUTH);
}

static void test_link_token_is_its_own_kind(void **state)
{
    char link[VG_TOKEN_MAX], session[VG_TOKEN_MAX];
    struct vg_token t;
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_LINK, "demo", "s1", NOW + 60, link,
                                   sizeof(link)),
                     0);
    sign("demo", "s1", NOW + 60, session);
    assert_string_not_equal(link, session);
    assert_int_equal(vg_token_verify(secret, SLEN, link, strlen(link), NOW, &t), 0);
    assert_int_equal(t.kind, VG_TOKEN_LINK);
    assert_string_equal(t.session_id, "s1");
    assert_int_equal(vg_token_verify(secret, SLEN, session, strlen(session), NOW, &t), 0);
    assert_int_equal(t.kind, VG_TOKEN_SESSION);
}

/* A link token whose kind field is rewritten to a session token's keeps the
 * link's MAC, which the session context does not produce. */
static void test_link_token_rewritten_as_session_token_is_refused(void **state)
{
    char link[VG_TOKEN_MAX], forged[VG_TOKEN_MAX + 8];
    unsigned char payload[256];
    struct vg_token t;
    assert_int_equal(vg_token_sign(secret, SLEN, VG_TOKEN_LINK, "demo", "s1", NOW + 60, link,
                                   sizeof(link)),
                     0);
    const char *dot = strchr(link, '.');
    long n = vg_base64url_decode(link, (size_t)(dot - link), payload, sizeof(payload));
    assert_true(n > 6 && !memcmp(payload, "link1|", 6));
    /* "link1|demo|..." -> "1|demo|..." */
    size_t o = vg_base64url_encode(payload + 4, (size_t)n - 4, forged);
    strcpy(forged + o, dot);
    assert_int_equal(vg_token_verify(secret, SLEN, forged, strlen(forged), NOW, &t), VG_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_longest_ids_fit),
        cmocka_unit_test(test_token_refuses_bad_names),
        cmocka_unit_test(test_token_expired),
        cmocka_unit_test(test_token_every_altered_character_is_refused),
        cmocka_unit_test(test_token_forged_payload_is_refused),
        cmocka_unit_test(test_token_garbage),
        cmocka_unit_test(test_link_token_is_its_own_kind),
        cmocka_unit_test(test_link_token_rewritten_as_session_token_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
