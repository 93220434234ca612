/*
 * Signed commands (common/command.h): the canonical form is stable and
 * matches an independent implementation byte for byte; a tampered field, a
 * wrong secret or a missing signature fails; malformed and unknown commands
 * are told apart; parameters are checked against each command's list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"
#include "err.h"
#include "util.h"

#define SECRET "test-secret"
#define GROUP  "vigil-workers"
#define NOW_US 1767226620000000LL /* 2026-01-01T00:17:00Z: when the workers read them */

/* What the workers of GROUP trust, with secret, at NOW_US. */
static struct vg_command_trust trust_of(const char *secret)
{
    return (struct vg_command_trust){
        .secret = secret, .audience = GROUP, .now_us = NOW_US, .max_age_s = 86400,
        .max_skew_s = 300};
}

/* Both vectors computed with Python's json.dumps(sort_keys=True,
 * separators=(',', ':'), ensure_ascii=False) and hmac/hashlib. */
static const char canon1[] =
    "{\"aud\":\"vigil-workers\",\"command_id\":\"drafts@2026-01-01T00:17:00Z\",\"dry_run\":true,"
    "\"issued_at\":\"2026-01-01T00:17:00.000412Z\",\"name\":\"cleanup_drafts\","
    "\"params\":{\"batch_size\":1000,\"older_than_hours\":48},\"v\":1}";
static const char sig1[] = "828ce7cdcc22eddedfafbab32518ca73781944964a14778b6a4fa2f68b574f68";

static const char canon2[] =
    "{\"command_id\":\"x@1\",\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\","
    "\"name\":\"erase_subject\",\"params\":{\"tenant\":\"d\xc3\xa9mo\","
    "\"visitor_id\":\"a\\\"b\\\\c/d\\n\"},\"v\":1}";
static const char sig2[] = "e57089e0e9fdf2db05af7c9adc185c4d61472d07d8603a7bf1a1c953d5f9cd73";

static json_t *message1(void)
{
    int64_t issued;
    assert_int_equal(vg_time_parse("2026-01-01T00:17:00.000412Z", &issued), 0);
    json_t *params = json_pack("{s:i, s:i}", "older_than_hours", 48, "batch_size", 1000);
    json_t *msg =
        vg_command_new("drafts@2026-01-01T00:17:00Z", "cleanup_drafts", params, 1, issued, GROUP);
    json_decref(params);
    return msg;
}

static char *dump(const json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* Parses a signed message; returns the code and fills err. */
static int parse(const char *text, const char *secret, char *err, size_t size)
{
    struct vg_command c;
    const struct vg_command_trust trust = trust_of(secret);
    int rc = vg_command_parse(text, strlen(text), &trust, &c, err, size);
    if (rc == 0) {
        assert_non_null(c.msg);
        vg_command_free(&c);
    }
    return rc;
}

static void test_canonical_form_is_sorted_compact_and_matches_python(void **state)
{
    json_t *msg = message1();
    char *c = vg_command_canonical(msg);
    assert_string_equal(c, canon1);
    free(c);
    assert_int_equal(vg_command_sign(msg, SECRET), 0);
    assert_string_equal(json_string_value(json_object_get(msg, "sig")), sig1);
    /* the signature is not part of what it signs */
    c = vg_command_canonical(msg);
    assert_string_equal(c, canon1);
    free(c);
    json_decref(msg);

    /* member order and spacing of the input do not matter; escapes and
     * UTF-8 come out as specified */
    json_t *m2 = json_loads("{ \"v\": 1, \"params\": {\"visitor_id\": \"a\\\"b\\\\c\\/d\\n\","
                            " \"tenant\": \"d\\u00e9mo\"}, \"name\": \"erase_subject\","
                            " \"issued_at\": \"2026-01-01T00:00:00Z\", \"dry_run\": false,"
                            " \"command_id\": \"x@1\" }",
                            0, NULL);
    assert_non_null(m2);
    c = vg_command_canonical(m2);
    assert_string_equal(c, canon2);
    free(c);
    assert_int_equal(vg_command_sign(m2, SECRET), 0);
    assert_string_equal(json_string_value(json_object_get(m2, "sig")), sig2);
    json_decref(m2);
}

static void test_signed_command_parses_with_its_fields(void **state)
{
    json_t *msg = message1();
    assert_int_equal(vg_command_sign(msg, SECRET), 0);
    char *text = dump(msg);
    struct vg_command c;
    char err[256] = "";
    const struct vg_command_trust trust = trust_of(SECRET);
    int rc = vg_command_parse(text, strlen(text), &trust, &c, err, sizeof(err));
    if (rc)
        fail_msg("refused: %s", err);
    assert_string_equal(c.command_id, "drafts@2026-01-01T00:17:00Z");
    assert_string_equal(c.name, "cleanup_drafts");
    assert_ptr_equal(c.def, vg_command_find("cleanup_drafts"));
    assert_int_equal(c.dry_run, 1);
    assert_int_equal(json_integer_value(json_object_get(c.params, "older_than_hours")), 48);
    int64_t issued;
    assert_int_equal(vg_time_parse("2026-01-01T00:17:00.000412Z", &issued), 0);
    assert_int_equal(c.issued_us, issued);
    vg_command_free(&c);
    vg_command_free(&c); /* twice is harmless */
    free(text);
    json_decref(msg);
}

static void test_tampered_field_fails_verification(void **state)
{
    static const struct {
        const char *key;
        const char *json; /* the new value */
    } tamper[] = {
        {"command_id", "\"drafts@2026-01-01T00:18:00Z\""},
        {"name", "\"timeout_sessions\""},
        {"params", "{\"older_than_hours\":1,\"batch_size\":1000}"},
        {"dry_run", "false"},
        {"issued_at", "\"2026-01-01T00:17:00.000413Z\""},
        {"v", "2"},
        {"extra", "1"},
    };
    for (size_t i = 0; i < sizeof(tamper) / sizeof(tamper[0]); i++) {
        json_t *msg = message1();
        assert_int_equal(vg_command_sign(msg, SECRET), 0);
        json_object_set_new(msg, tamper[i].key, json_loads(tamper[i].json, JSON_DECODE_ANY, NULL));
        char *text = dump(msg);
        char err[256] = "";
        int rc = parse(text, SECRET, err, sizeof(err));
        if (rc != VG_EAUTH || strcmp(err, "bad signature"))
            fail_msg("%s changed: rc %d \"%s\", want VG_EAUTH \"bad signature\"", tamper[i].key, rc,
                     err);
        assert_int_not_equal(vg_command_verify(msg, SECRET, err, sizeof(err)), 0);
        free(text);
        json_decref(msg);
    }
}

static void test_wrong_secret_missing_or_bad_sig_fail(void **state)
{
    json_t *msg = message1();
    assert_int_equal(vg_command_sign(msg, SECRET), 0);
    char *text = dump(msg);
    char err[256];
    assert_int_equal(parse(text, "another-secret", err, sizeof(err)), VG_EAUTH);
    assert_string_equal(err, "bad signature");
    assert_int_equal(parse(text, "", err, sizeof(err)), VG_EAUTH);
    assert_non_null(strstr(err, "no command secret"));
    assert_int_equal(parse(text, NULL, err, sizeof(err)), VG_EAUTH);
    free(text);

    json_object_del(msg, "sig");
    text = dump(msg);
    assert_int_equal(parse(text, SECRET, err, sizeof(err)), VG_EAUTH);
    assert_non_null(strstr(err, "unsigned"));
    free(text);

    static const char *const bad_sigs[] = {"", "00",
                                           "3E203994FA908BD6D907472ECBF5B2197BCD8CE3"
                                           "0F113A959C63016DCCC1F0F3"};
    for (size_t i = 0; i < sizeof(bad_sigs) / sizeof(bad_sigs[0]); i++) {
        json_object_set_new(msg, "sig", json_string(bad_sigs[i]));
        text = dump(msg);
        assert_int_equal(parse(text, SECRET, err, sizeof(err)), VG_EAUTH);
        free(text);
    }
    json_object_set_new(msg, "sig", json_integer(1));
    text = dump(msg);
    assert_int_equal(parse(text, SECRET, err, sizeof(err)), VG_EAUTH);
    free(text);
    json_decref(msg);
}

/* A signed message from JSON text (members may be anything). */
static char *signed_text(const char *json)
{
    json_t *msg = json_loads(json, 0, NULL);
    assert_non_null(msg);
    if (!json_object_get(msg, "aud"))
        json_object_set_new(msg, "aud", json_string(GROUP));
    assert_int_equal(vg_command_sign(msg, SECRET), 0);
    char *text = dump(msg);
    json_decref(msg);
    return text;
}

static void test_audience_and_issue_time_are_signed_and_checked(void **state)
{
    static const struct {
        const char *what;
        const char *aud;   /* NULL: no aud member */
        int64_t issued_us; /* relative to NOW_US */
        int tamper_aud;    /* aud rewritten to GROUP after signing */
        int rc;
        const char *error;
    } cases[] = {
        {"this group, now", GROUP, 0, 0, 0, ""},
        {"another group", "staging-workers", 0, 0, VG_EAUTH, "another audience"},
        {"another group, rewritten to this one", "staging-workers", 0, 1, VG_EAUTH, "signature"},
        {"no audience", NULL, 0, 0, VG_EPARSE, "aud"},
        {"an empty audience", "", 0, 0, VG_EPARSE, "aud"},
        {"23 h 59 min old", GROUP, -86340000000LL, 0, 0, ""},
        {"24 h 1 min old", GROUP, -86460000000LL, 0, VG_EAUTH, "past the window of 86400 s"},
        {"a year old", GROUP, -31536000000000LL, 0, VG_EAUTH, "past the window"},
        {"4 min ahead", GROUP, 240000000LL, 0, 0, ""},
        {"6 min ahead", GROUP, 360000000LL, 0, VG_EAUTH, "in the future"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        json_t *msg = vg_command_new("a@1", "expire_sessions", NULL, 0,
                                     NOW_US + cases[i].issued_us, cases[i].aud ? cases[i].aud : "");
        if (!cases[i].aud)
            json_object_del(msg, "aud");
        assert_int_equal(vg_command_sign(msg, SECRET), 0);
        if (cases[i].tamper_aud)
            json_object_set_new(msg, "aud", json_string(GROUP));
        char *text = dump(msg);
        char err[256] = "";
        int rc = parse(text, SECRET, err, sizeof(err));
        if (rc != cases[i].rc || !strstr(err, cases[i].error))
            fail_msg("%s: rc %d \"%s\"; want %d and \"%s\"", cases[i].what, rc, err, cases[i].rc,
                     cases[i].error);
        free(text);
        json_decref(msg);
    }
}

static void test_malformed_and_unknown_commands_are_told_apart(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *error;
    } cases[] = {
        {"{\"v\":2,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "v must be 1"},
        {"{\"v\":1,\"command_id\":\"a b\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "command_id"},
        {"{\"v\":1,\"command_id\":\"\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "command_id"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":[],"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "params must be an object"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":0,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "dry_run"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"yesterday\"}",
         VG_EPARSE, "issued_at"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false}",
         VG_EPARSE, "issued_at"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\",\"note\":1}",
         VG_EPARSE, "unknown member \"note\""},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"drop_everything\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_ENOTFOUND, "unknown command \"drop_everything\""},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"timeout_sessions\",\"params\":{},"
         "\"dry_run\":false,\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "requires parameter idle_seconds"},
        {"{\"v\":1,\"command_id\":\"a@1\",\"name\":\"expire_sessions\","
         "\"params\":{\"batch_size\":0},\"dry_run\":false,"
         "\"issued_at\":\"2026-01-01T00:00:00Z\"}",
         VG_EPARSE, "batch_size must be within [1, 100000]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = signed_text(cases[i].json);
        char err[256] = "";
        int rc = parse(text, SECRET, err, sizeof(err));
        if (rc != cases[i].rc || !strstr(err, cases[i].error))
            fail_msg("case %zu: rc %d \"%s\"; want %d and \"%s\"", i, rc, err, cases[i].rc,
                     cases[i].error);
        free(text);
    }
    char err[256];
    assert_int_equal(parse("not json", SECRET, err, sizeof(err)), VG_EPARSE);
    assert_int_equal(parse("[1]", SECRET, err, sizeof(err)), VG_EPARSE);
    assert_int_equal(parse("{\"v\":1,\"v\":1}", SECRET, err, sizeof(err)), VG_EPARSE);
    struct vg_command c;
    const struct vg_command_trust trust = trust_of(SECRET);
    assert_int_equal(vg_command_parse(NULL, 0, &trust, &c, err, sizeof(err)), VG_EPARSE);
    assert_null(c.msg);
}

static void test_params_are_checked_per_command(void **state)
{
    static const struct {
        const char *name, *params;
        int ok;
        const char *error;
    } cases[] = {
        {"timeout_sessions", "{\"idle_seconds\":1800}", 1, NULL},
        {"timeout_sessions",
         "{\"idle_seconds\":1800,\"max_seconds\":86400,\"batch_size\":5000,\"tenant\":\"demo\"}", 1,
         NULL},
        {"timeout_sessions", "{\"idle_seconds\":\"1800\"}", 0, "idle_seconds must be an integer"},
        {"timeout_sessions", "{\"idle_seconds\":1800.0}", 0, "idle_seconds must be an integer"},
        {"timeout_sessions", "{\"idle_seconds\":0}", 0, "idle_seconds must be within"},
        {"timeout_sessions", "{\"idle_seconds\":60,\"idle\":1}", 0, "no parameter \"idle\""},
        {"timeout_sessions", "{\"idle_seconds\":60,\"tenant\":\"\"}", 0, "tenant must be 1 to"},
        {"timeout_sessions", "{\"idle_seconds\":60,\"tenant\":\"a\\nb\"}", 0, "tenant must be"},
        {"cleanup_drafts", "{\"older_than_hours\":0}", 1, NULL},
        {"cleanup_drafts", "{}", 0, "requires parameter older_than_hours"},
        {"expire_sessions", "{}", 1, NULL},
        {"purge_raw", "{\"older_than_days\":30}", 1, NULL},
        {"purge_raw", "{\"older_than_days\":0}", 0, "older_than_days must be within"},
        {"erase_subject", "{\"tenant\":\"demo\",\"visitor_id\":\"v-1\"}", 1, NULL},
        {"erase_subject", "{\"tenant\":\"demo\",\"user_id\":\"u-1\"}", 1, NULL},
        {"erase_subject", "{\"tenant\":\"demo\"}", 0, "exactly one of visitor_id and user_id"},
        {"erase_subject", "{\"tenant\":\"demo\",\"visitor_id\":\"v\",\"user_id\":\"u\"}", 0,
         "exactly one"},
        {"erase_subject", "{\"visitor_id\":\"v\"}", 0, "requires parameter tenant"},
        {"reprocess", "{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-02T00:00:00Z\"}", 1,
         NULL},
        {"reprocess", "{\"from\":\"2026-01-02T00:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\"}", 0,
         "from must be before to"},
        {"reprocess", "{\"from\":\"soon\",\"to\":\"2026-01-01T00:00:00Z\"}", 0,
         "from must be an RFC 3339 time"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct vg_command_def *def = vg_command_find(cases[i].name);
        assert_non_null(def);
        json_t *p = json_loads(cases[i].params, 0, NULL);
        assert_non_null(p);
        char err[256] = "";
        int rc = vg_command_check_params(def, p, err, sizeof(err));
        json_decref(p);
        if (cases[i].ok ? rc != 0 : (rc != VG_EINVAL || !strstr(err, cases[i].error)))
            fail_msg("%s %s: rc %d \"%s\"; want %s", cases[i].name, cases[i].params, rc, err,
                     cases[i].ok ? "ok" : cases[i].error);
    }
}

static void test_param_text_becomes_the_declared_type(void **state)
{
    const struct vg_command_def *def = vg_command_find("timeout_sessions");
    json_t *v;
    char err[256];
    assert_int_equal(vg_command_param_parse(def, "idle_seconds", "60", &v, err, sizeof(err)), 0);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 60);
    json_decref(v);
    assert_int_equal(vg_command_param_parse(def, "tenant", "60", &v, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(v), "60");
    json_decref(v);
    assert_int_equal(vg_command_param_parse(def, "idle_seconds", "1m", &v, err, sizeof(err)),
                     VG_EINVAL);
    assert_null(v);
    assert_int_equal(vg_command_param_parse(def, "idle_seconds", "-5", &v, err, sizeof(err)),
                     VG_EINVAL);
    assert_int_equal(vg_command_param_parse(def, "nope", "1", &v, err, sizeof(err)), VG_EINVAL);
    assert_non_null(strstr(err, "no parameter \"nope\""));
}

static void test_command_ids(void **state)
{
    assert_true(vg_command_id_valid("timeout-idle@2026-11-23T01:54:00Z"));
    assert_true(vg_command_id_valid("manual@2026-11-23T01:54:07Z-0a1b2c3d"));
    assert_false(vg_command_id_valid(""));
    assert_false(vg_command_id_valid("a b"));
    assert_false(vg_command_id_valid("a\tb"));
    assert_false(vg_command_id_valid("caf\xc3\xa9"));
    char longid[VG_COMMAND_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_false(vg_command_id_valid(longid));
    longid[VG_COMMAND_ID_MAX] = '\0';
    assert_true(vg_command_id_valid(longid));
}

static void test_every_command_is_listed_and_found(void **state)
{
    static const char *const names[] = {"timeout_sessions", "cleanup_drafts", "expire_sessions",
                                        "purge_raw",        "erase_subject",  "reprocess"};
    size_t n = 0;
    while (vg_command_at(n))
        n++;
    assert_int_equal(n, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(vg_command_find(names[i]), vg_command_at(i));
    assert_null(vg_command_find("TIMEOUT_SESSIONS"));
    assert_null(vg_command_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_form_is_sorted_compact_and_matches_python),
        cmocka_unit_test(test_signed_command_parses_with_its_fields),
        cmocka_unit_test(test_tampered_field_fails_verification),
        cmocka_unit_test(test_wrong_secret_missing_or_bad_sig_fail),
        cmocka_unit_test(test_audience_and_issue_time_are_signed_and_checked),
        cmocka_unit_test(test_malformed_and_unknown_commands_are_told_apart),
        cmocka_unit_test(test_params_are_checked_per_command),
        cmocka_unit_test(test_param_text_becomes_the_declared_type),
        cmocka_unit_test(test_command_ids),
        cmocka_unit_test(test_every_command_is_listed_and_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
