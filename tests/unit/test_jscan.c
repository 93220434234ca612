/* common/jscan.c: the spans of values, members and elements in a JSON text,
 * strict about the grammar, never reading past the text, in agreement with
 * jansson on what it accepted; and the compact copy of a span. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jscan.h"

/* The text of span sp of s, NUL-terminated, in a static buffer. */
static const char *text_of(const char *s, struct vg_span sp)
{
    static char buf[4096];
    assert_true(sp.len < sizeof(buf));
    memcpy(buf, s + sp.off, sp.len);
    buf[sp.len] = '\0';
    return buf;
}

/* s copied to a heap block of exactly its length (no NUL after it), so that
 * a read past the end is caught by the address sanitizer. */
static char *exact_copy(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return p;
}

static const struct {
    const char *text;
    const char *value; /* the value's text, NULL: refused */
} values[] = {
    {"  1.50  ", "1.50"},
    {"1e2", "1e2"},
    {"-0", "-0"},
    {"0.5E-3", "0.5E-3"},
    {"12345678901234567890.123456789", "12345678901234567890.123456789"},
    {"\"a\\\"b\"", "\"a\\\"b\""},
    {"\"\\u00e9\\/\\b\\f\\n\\r\\t\\\\\"", "\"\\u00e9\\/\\b\\f\\n\\r\\t\\\\\""},
    {"\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
    {"true", "true"},
    {"false", "false"},
    {"null", "null"},
    {"{}", "{}"},
    {"[ ]", "[ ]"},
    {"\r\n\t[1, {\"a\": [ ]}, \"]\"]\n", "[1, {\"a\": [ ]}, \"]\"]"},
    {"{ \"a\" : 1 , \"b\":[true,false,null] }", "{ \"a\" : 1 , \"b\":[true,false,null] }"},
    {"{\"}\":\"{\"}", "{\"}\":\"{\"}"},
    /* bytes after the value are not looked at */
    {"1 2", "1"},
    {"01", "0"},
    {"{}x", "{}"},
    /* refused */
    {"", NULL},
    {"   ", NULL},
    {"-", NULL},
    {"1.", NULL},
    {".5", NULL},
    {"+1", NULL},
    {"1e", NULL},
    {"1e+", NULL},
    {"tru", NULL},
    {"nul", NULL},
    {"True", NULL},
    {"\"abc", NULL},
    {"\"a\\x\"", NULL},
    {"\"\\u12g4\"", NULL},
    {"\"\\u12\"", NULL},
    {"\"tab\there\"", NULL},
    {"\"a\\", NULL},
    {"[01]", NULL},
    {"[1,]", NULL},
    {"[1 2]", NULL},
    {"[,1]", NULL},
    {"{\"a\"}", NULL},
    {"{\"a\":}", NULL},
    {"{,}", NULL},
    {"{\"a\":1,}", NULL},
    {"{1:2}", NULL},
    {"{'a':1}", NULL},
    {"[", NULL},
    {"{", NULL},
    {"]", NULL},
    {"[}", NULL},
    {"{]", NULL},
    {"{\"a\":1]", NULL},
    {"[1}", NULL},
    {"\v1", NULL},
};

static void test_values_are_spanned_exactly_and_malformed_text_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < VG_ARRAY_LEN(values); i++) {
        size_t n = strlen(values[i].text);
        char *s = exact_copy(values[i].text, n);
        struct vg_span sp;
        int rc = vg_jscan_value(s, n, 0, &sp);
        if (!values[i].value) {
            if (rc != VG_EPARSE)
                fail_msg("%s: want VG_EPARSE, got %d", values[i].text, rc);
        } else {
            if (rc)
                fail_msg("%s: refused (%d)", values[i].text, rc);
            if (strcmp(text_of(s, sp), values[i].value))
                fail_msg("%s: want %s, got %s", values[i].text, values[i].value, text_of(s, sp));
        }
        free(s);
    }
}

static void test_no_prefix_of_a_text_is_read_past_its_end(void **state)
{
    /* Every prefix of each text, in a block of exactly its size: the
     * sanitizer fails the test on any read past it. A truncated container
     * or string is refused; a span, when given, lies within the prefix. */
    (void)state;
    static const char *const texts[] = {
        "{\"properties\":{\"a\":[1.50,\"x\\u00e9\\\"\",{\"b\":null}],\"c\":-1e-2},\"e\":true}",
        "[ {\"a\" : \"\\ud83d\\ude00\"} , [ false ] ]",
    };
    for (size_t t = 0; t < VG_ARRAY_LEN(texts); t++) {
        size_t full = strlen(texts[t]);
        for (size_t n = 0; n <= full; n++) {
            char *s = exact_copy(texts[t], n);
            struct vg_span sp, m, el[8];
            size_t count;
            int rc = vg_jscan_value(s, n, 0, &sp);
            if (n < full && rc != VG_EPARSE)
                fail_msg("prefix of %zu bytes of %s accepted", n, texts[t]);
            if (n == full && (rc || sp.off != 0 || sp.len != full))
                fail_msg("%s: not spanned whole (%d)", texts[t], rc);
            struct vg_span all = {0, n};
            rc = vg_jscan_member(s, all, "properties", &m);
            if (rc == 0)
                assert_true(m.off + m.len <= n);
            rc = vg_jscan_elements(s, all, el, VG_ARRAY_LEN(el), &count);
            for (size_t k = 0; rc == 0 && k < count; k++)
                assert_true(el[k].off + el[k].len <= n);
            (void)vg_jscan_compact_len(s, all);
            free(s);
        }
    }
}

static void test_members_match_by_unescaped_name_the_last_one_winning(void **state)
{
    (void)state;
    static const struct {
        const char *text, *key, *value; /* value NULL: absent */
        int rc;
    } cases[] = {
        {"{\"type\":\"a\",\"properties\":{\"n\":1.50}}", "properties", "{\"n\":1.50}", 0},
        {"{ \"properties\" :\n [ 1e2 ] }", "properties", "[ 1e2 ]", 0},
        {"{\"propert\\u0069es\":7}", "properties", "7", 0},
        {"{\"caf\\u00e9\":1}", "caf\xc3\xa9", "1", 0},
        {"{\"\\ud83d\\ude00\":2}", "\xf0\x9f\x98\x80", "2", 0},
        {"{\"a\\/b\":3}", "a/b", "3", 0},
        {"{\"a\":1,\"a\":2}", "a", "2", 0},
        {"{\"x\":{\"properties\":1}}", "properties", NULL, VG_ENOTFOUND},
        {"{\"prop\":1,\"properties2\":2}", "properties", NULL, VG_ENOTFOUND},
        {"{\"properties\":1}", "prop", NULL, VG_ENOTFOUND},
        {"{}", "a", NULL, VG_ENOTFOUND},
        {" { } ", "a", NULL, VG_ENOTFOUND},
        {"[\"properties\",1]", "properties", NULL, VG_EPARSE},
        {"{\"a\":1,}", "a", NULL, VG_EPARSE},
        {"{\"a\" 1}", "a", NULL, VG_EPARSE},
        {"{\"a\":1", "a", NULL, VG_EPARSE},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i].text);
        char *s = exact_copy(cases[i].text, n);
        struct vg_span m;
        int rc = vg_jscan_member(s, (struct vg_span){0, n}, cases[i].key, &m);
        if (rc != cases[i].rc)
            fail_msg("%s [%s]: want %d, got %d", cases[i].text, cases[i].key, cases[i].rc, rc);
        if (rc == 0 && strcmp(text_of(s, m), cases[i].value))
            fail_msg("%s [%s]: want %s, got %s", cases[i].text, cases[i].key, cases[i].value,
                     text_of(s, m));
        free(s);
    }
}

static void test_elements_are_spanned_in_order(void **state)
{
    (void)state;
    const char *s = " [ 1 , {\"a\":[2, 3]} ,\"x,y\" ,[]] ";
    struct vg_span el[4], whole;
    size_t n;
    assert_int_equal(vg_jscan_value(s, strlen(s), 0, &whole), 0);
    assert_int_equal(vg_jscan_elements(s, whole, el, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(text_of(s, el[0]), "1");
    assert_string_equal(text_of(s, el[1]), "{\"a\":[2, 3]}");
    assert_string_equal(text_of(s, el[2]), "\"x,y\"");
    assert_string_equal(text_of(s, el[3]), "[]");
    /* more elements than the caller expects: refused, not overrun */
    assert_int_equal(vg_jscan_elements(s, whole, el, 3, &n), VG_EPARSE);
    assert_int_equal(vg_jscan_elements("[]", (struct vg_span){0, 2}, el, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vg_jscan_elements("{}", (struct vg_span){0, 2}, el, 4, &n), VG_EPARSE);
}

static void test_compact_drops_blanks_between_tokens_only(void **state)
{
    (void)state;
    const char *s = "{ \"a b\" : [ 1.50 , \"x y\\\" z\" , -0.0E+1 ] ,\n\t\"c\":\r\n \"\\u00e9\\/\" }";
    const char *want = "{\"a b\":[1.50,\"x y\\\" z\",-0.0E+1],\"c\":\"\\u00e9\\/\"}";
    struct vg_span v;
    assert_int_equal(vg_jscan_value(s, strlen(s), 0, &v), 0);
    struct vg_buf out = {0};
    vg_jscan_compact(s, v, &out);
    vg_buf_putc(&out, '\0');
    assert_string_equal(out.data, want);
    assert_int_equal(vg_jscan_compact_len(s, v), strlen(want));
    vg_buf_free(&out);
}

/* depth nested arrays around 0, in a malloc'd text of *n bytes. */
static char *nested(size_t depth, size_t *n)
{
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    s[depth] = '0';
    memset(s + depth + 1, ']', depth);
    *n = 2 * depth + 1;
    return s;
}

static void test_nesting_up_to_janssons_limit_is_scanned(void **state)
{
    (void)state;
    size_t n;
    struct vg_span v;
    char *s = nested(VG_JSCAN_MAX_DEPTH, &n);
    assert_int_equal(vg_jscan_value(s, n, 0, &v), 0);
    assert_int_equal(v.len, n);
    free(s);
    s = nested(VG_JSCAN_MAX_DEPTH + 1, &n);
    assert_int_equal(vg_jscan_value(s, n, 0, &v), VG_EPARSE);
    free(s);
}

static void test_every_member_agrees_with_jansson(void **state)
{
    /* For texts jansson accepts, each member's span, parsed alone, is the
     * value jansson holds for that name. */
    (void)state;
    static const char *const texts[] = {
        "{\"price\":1.50,\"hundred\":1e2,\"big\":12345678901234567890.123456789,"
        "\"s\":\"caf\\u00e9 \\/ \\\"q\\\"\",\"nested\":{\"a\":[1,{\"b\":[]}],\"c\":null},"
        "\"t\":true,\"f\":false,\"neg\":-0.001E-5}",
        " { \"a\" : { \"a\" : 1 } , \"b\" : [ \"a\" , { } ] } ",
    };
    for (size_t t = 0; t < VG_ARRAY_LEN(texts); t++) {
        json_error_t jerr;
        json_t *root = json_loads(texts[t], JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
            fail_msg("jansson refused %s: %s", texts[t], jerr.text);
        struct vg_span whole, m;
        assert_int_equal(vg_jscan_value(texts[t], strlen(texts[t]), 0, &whole), 0);
        const char *k;
        json_t *want;
        json_object_foreach(root, k, want)
        {
            assert_int_equal(vg_jscan_member(texts[t], whole, k, &m), 0);
            json_t *got = json_loadb(texts[t] + m.off, m.len, JSON_DECODE_ANY, &jerr);
            if (!got || !json_equal(got, want))
                fail_msg("member %s: span %s is not jansson's value", k, text_of(texts[t], m));
            json_decref(got);
        }
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_are_spanned_exactly_and_malformed_text_refused),
        cmocka_unit_test(test_no_prefix_of_a_text_is_read_past_its_end),
        cmocka_unit_test(test_members_match_by_unescaped_name_the_last_one_winning),
        cmocka_unit_test(test_elements_are_spanned_in_order),
        cmocka_unit_test(test_compact_drops_blanks_between_tokens_only),
        cmocka_unit_test(test_nesting_up_to_janssons_limit_is_scanned),
        cmocka_unit_test(test_every_member_agrees_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
