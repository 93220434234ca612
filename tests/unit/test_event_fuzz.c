/*
 * Property test of the producer's parsers under ASan/UBSan: random bytes,
 * mutated and truncated valid bodies, deep nesting and huge inputs thrown at
 * the event, session and token parsers. Deterministic (fixed seed, bounded
 * iterations). Properties: no crash or leak; a refusal leaves nothing in the
 * outbox and names a 400/401/413; an acceptance yields one JSON envelope
 * per event with the required fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "event.h"
#include "policy.h"
#include "session.h"
#include "token.h"

#define ITERATIONS 20000
#define RECEIVED_US 1795398847000000LL

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next() % n) : 0;
}

static const char *const corpus[] = {
    "{\"type\":\"page.view\",\"session_id\":\"s1\",\"visitor_id\":\"v\",\"user_id\":\"u\","
    "\"occurred_at\":\"2026-11-23T01:00:00.123+02:00\",\"url\":\"https://x/y\","
    "\"properties\":{\"a\":[1,2.5,\"x\",null,true,{\"b\":{}}]}}",
    "[{\"type\":\"a\"},{\"type\":\"b\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\"}]",
    "{\"sent_at\":\"2026-11-23T00:00:00Z\",\"events\":[{\"type\":\"a\",\"occurred_at\":"
    "\"2026-11-22T23:59:00Z\"}]}",
    "{\"type\":\"a\"}\n{\"type\":\"b\",\"visitor_id\":\"\\u00e9\\ud83d\\ude00\"}\n",
    "{\"session_id\":\"x\",\"kind\":\"lesson\",\"status\":\"draft\",\"started_at\":"
    "\"2026-11-23T01:00:00Z\",\"expires_at\":\"2026-11-23T02:00:00Z\",\"attributes\":{\"k\":1}}",
    "{\"at\":\"2026-11-23T01:00:00Z\",\"reason\":\"done\"}",
};

static const char tokens_alphabet[] = "{}[]\":,\\ \n\tnull true false 0-9.eE+ abc\x00\xff\xc3\xa9";

static struct vg_ingest ingest(void)
{
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 2048,
        .max_batch_events = 50,
    };
    if (next() & 1) {
        in.has_sent_at = 1;
        in.sent_at_us = (int64_t)(next() % 253402300799000000ULL); /* up to year 9999 */
    }
    if ((next() & 3) == 0)
        in.scope_session = "s1";
    return in;
}

static void check_outcome(const char *what, long n, int rc_fail, const struct vg_outbox *out,
                          const struct vg_reject *rej)
{
    if (rc_fail) {
        if (out->n != 0)
            fail_msg("%s: refused but %zu messages in the outbox", what, out->n);
        if (rej->status != 400 && rej->status != 401 && rej->status != 413)
            fail_msg("%s: refused with status %d", what, rej->status);
        if (!rej->code || !rej->code[0] || !rej->message[0])
            fail_msg("%s: refusal without code or message", what);
        return;
    }
    if (n >= 0 && out->n != (size_t)n)
        fail_msg("%s: %ld events but %zu messages", what, n, out->n);
    for (size_t i = 0; i < out->n; i++) {
        json_t *env =
            json_loadb(vg_outmsg_value(out, &out->msgs[i]), out->msgs[i].val_len, 0, NULL);
        if (!env)
            fail_msg("%s: envelope %zu is not JSON", what, i);
        int64_t us;
        json_t *occ = json_object_get(env, "occurred_at");
        if (!json_is_string(occ) || vg_time_parse(json_string_value(occ), &us) ||
            !json_is_string(json_object_get(env, "type")) ||
            !vg_uuid_valid(json_string_value(json_object_get(env, "event_id"))))
            fail_msg("%s: envelope %zu lacks a required field", what, i);
        if (us > RECEIVED_US + VG_FUTURE_LIMIT_US)
            fail_msg("%s: occurred_at more than a day ahead survived", what);
        json_decref(env);
    }
}

static void run_all(const char *buf, size_t len)
{
    struct vg_outbox out = {0};
    struct vg_reject rej;
    for (int fmt = 0; fmt < 2; fmt++) {
        struct vg_ingest in = ingest();
        memset(&rej, 0, sizeof(rej));
        long n = vg_event_parse(&in, fmt ? VG_BODY_NDJSON : VG_BODY_JSON, buf, len, &out, &rej);
        check_outcome("events", n, n < 0, &out, &rej);
        vg_outbox_reset(&out);
    }
    struct vg_ingest in = ingest();
    struct vg_session_new s;
    int rc = vg_session_start(&in, buf, len, 60, &s, &out, &rej);
    check_outcome("start", -1, rc != 0, &out, &rej);
    vg_outbox_reset(&out);
    rc = vg_session_end(&in, "s1", buf, len, &out, &rej);
    check_outcome("end", -1, rc != 0, &out, &rej);
    vg_outbox_reset(&out);

    /* the same bytes as a token and as a redirect target */
    char *z = malloc(len + 1);
    memcpy(z, buf, len);
    z[len] = '\0';
    struct vg_token t;
    if (vg_token_verify("k", 1, z, strlen(z), 0, &t) == 0)
        fail_msg("random bytes verified as a token");
    char *hosts[] = {"example.com"};
    struct vg_tenant tenant = {.id = "demo", .redirect_hosts = hosts, .nredirect_hosts = 1};
    (void)vg_policy_redirect_allowed(&tenant, z);
    free(z);
    vg_outbox_free(&out);
}

static void test_random_bytes(void **state)
{
    char buf[512];
    for (int it = 0; it < ITERATIONS; it++) {
        size_t len = below(sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (next() & 1) ? (char)next()
                                  : tokens_alphabet[below(sizeof(tokens_alphabet) - 1)];
        run_all(buf, len);
    }
}

static void test_mutated_and_truncated_corpus(void **state)
{
    char buf[1024];
    for (int it = 0; it < ITERATIONS; it++) {
        const char *seed = corpus[below(sizeof(corpus) / sizeof(corpus[0]))];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = (int)below(4);
        for (int e = 0; e < edits; e++) {
            size_t at = below(len);
            switch (next() % 4) {
            case 0: /* flip a byte */
                buf[at] = (char)next();
                break;
            case 1: /* a structural character */
                buf[at] = tokens_alphabet[below(10)];
                break;
            case 2: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            default: /* duplicate a span */
                if (len * 2 < sizeof(buf)) {
                    size_t span = below(len - at) + 1;
                    memmove(buf + at + span, buf + at, len - at);
                    len += span;
                }
            }
        }
        run_all(buf, below(len + 1)); /* and truncated anywhere */
    }
}

static void test_deep_nesting(void **state)
{
    /* Up to and past jansson's own limit (2048), as objects and arrays. */
    static const size_t depths[] = {30, 31, 32, 33, 100, 2047, 2048, 2049, 100000};
    struct vg_buf b = {0};
    for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
        for (int arrays = 0; arrays < 2; arrays++) {
            vg_buf_reset(&b);
            vg_buf_puts(&b, "{\"type\":\"a\",\"properties\":");
            for (size_t i = 0; i < depths[d]; i++)
                vg_buf_puts(&b, arrays && i ? "[" : "{\"a\":");
            vg_buf_puts(&b, "1");
            for (size_t i = depths[d]; i > 0; i--)
                vg_buf_puts(&b, arrays && i > 1 ? "]" : "}");
            vg_buf_putc(&b, '}');
            run_all(b.data, b.len);
            run_all(b.data, b.len / 2); /* unterminated */
        }
        /* bare nesting without any event around it */
        vg_buf_reset(&b);
        for (size_t i = 0; i < depths[d]; i++)
            vg_buf_putc(&b, '[');
        run_all(b.data, b.len);
    }
    vg_buf_free(&b);
}

static void test_huge_inputs(void **state)
{
    struct vg_buf b = {0};
    /* a long string, many small events, a huge number, a huge key */
    vg_buf_puts(&b, "{\"type\":\"a\",\"url\":\"");
    for (int i = 0; i < 300000; i++)
        vg_buf_putc(&b, 'u');
    vg_buf_puts(&b, "\"}");
    run_all(b.data, b.len);

    vg_buf_reset(&b);
    vg_buf_putc(&b, '[');
    for (int i = 0; i < 20000; i++)
        vg_buf_puts(&b, i ? ",{\"type\":\"a\"}" : "{\"type\":\"a\"}");
    vg_buf_putc(&b, ']');
    run_all(b.data, b.len);

    vg_buf_reset(&b);
    for (int i = 0; i < 20000; i++)
        vg_buf_puts(&b, "{\"type\":\"a\"}\n");
    run_all(b.data, b.len);

    vg_buf_reset(&b);
    vg_buf_puts(&b, "{\"type\":\"a\",\"properties\":{\"n\":");
    for (int i = 0; i < 5000; i++)
        vg_buf_putc(&b, '9');
    vg_buf_puts(&b, "}}");
    run_all(b.data, b.len);

    vg_buf_reset(&b);
    vg_buf_puts(&b, "{\"");
    for (int i = 0; i < 100000; i++)
        vg_buf_putc(&b, 'k');
    vg_buf_puts(&b, "\":1,\"type\":\"a\"}");
    run_all(b.data, b.len);
    vg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutated_and_truncated_corpus),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
