/*
 * libFuzzer target: the producer's parsers take any bytes a client may send
 * (POST /v1/events as JSON and NDJSON, the session bodies, Segment's
 * Tracking API bodies, gzip bodies, tokens, tracking link targets). The first byte chooses the request's context (a sent_at,
 * a session token's scope); the rest is the body. The scanner that finds
 * the client's text of properties (common/jscan.h) must agree with jansson
 * on every body jansson accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest.h"
#include "event.h"
#include "gunzip.h"
#include "jscan.h"
#include "policy.h"
#include "segment.h"
#include "session.h"
#include "token.h"

#define RECEIVED_US 1795398847000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an outcome must be: refused with nothing enqueued, or whole envelopes. */
static void check(int refused, const struct vg_outbox *out, const struct vg_reject *rej)
{
    if (refused) {
        if (out->n || (rej->status != 400 && rej->status != 401 && rej->status != 413) ||
            !rej->code || !rej->message[0])
            __builtin_trap();
        return;
    }
    for (size_t i = 0; i < out->n; i++) {
        json_t *env =
            json_loadb(vg_outmsg_value(out, &out->msgs[i]), out->msgs[i].val_len, 0, NULL);
        int64_t us;
        const char *occ = json_string_value(json_object_get(env, "occurred_at"));
        json_t *props = json_object_get(env, "properties");
        if (!env || !occ || vg_time_parse(occ, &us) || us > RECEIVED_US + VG_FUTURE_LIMIT_US ||
            !vg_uuid_valid(json_string_value(json_object_get(env, "event_id"))) ||
            !json_is_string(json_object_get(env, "type")) || (props && !json_is_object(props)))
            __builtin_trap();
        json_decref(env);
    }
}

/* 1 if text (n bytes) parses, alone, to a value equal to want. */
static int same_value(const char *text, size_t n, json_t *want)
{
    json_t *got = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    int same = got && json_equal(got, want);
    json_decref(got);
    return same;
}

/* Where jansson accepts body, the scanner spans it whole (blanks after it
 * aside), finds each member of an object and each element of an array, and
 * each span's text is jansson's value there. jansson (2.14) skips a raw NUL
 * byte after a number or literal ("[1\0]" loads as [1]); the scanner
 * refuses it and the producer then writes the tree, as before: such bodies
 * are left out here. */
static void check_scanner(const char *body, size_t len)
{
    struct vg_span whole, m;
    int rc = vg_jscan_value(body, len, 0, &whole);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!root || memchr(body, '\0', len)) {
        json_decref(root);
        return;
    }
    if (rc)
        __builtin_trap();
    for (size_t i = whole.off + whole.len; i < len; i++)
        if (!strchr(" \t\r\n", body[i]))
            __builtin_trap();
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v)
        {
            if (vg_jscan_member(body, whole, k, &m) || !same_value(body + m.off, m.len, v))
                __builtin_trap();
        }
    } else if (json_is_array(root)) {
        size_t count = json_array_size(root), n;
        struct vg_span *el = malloc((count + 1) * sizeof(*el));
        if (vg_jscan_elements(body, whole, el, count, &n) || n != count)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (!same_value(body + el[i].off, el[i].len, json_array_get(root, i)))
                __builtin_trap();
        free(el);
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 4096,
        .max_batch_events = 64,
        .scope_session = (flags & 1) ? "s1" : NULL,
        .has_sent_at = (flags & 2) != 0,
        .sent_at_us = (flags & 4) ? 0 : 253402300799000000LL, /* 1970 or 9999 */
    };
    struct vg_outbox out = {0};
    struct vg_reject rej;

    check_scanner(body, len);
    long n = vg_event_parse(&in, (flags & 8) ? VG_BODY_NDJSON : VG_BODY_JSON, body, len, &out,
                            &rej);
    check(n < 0, &out, &rej);
    if (n >= 0 && out.n != (size_t)n)
        __builtin_trap();
    vg_outbox_reset(&out);

    enum vg_segment_call call = (enum vg_segment_call)((flags >> 4) % (VG_SEGMENT_ALIAS + 1));
    n = vg_segment_parse(&in, call, body, len, &out, &rej);
    check(n < 0, &out, &rej);
    if (n >= 0 && out.n != (size_t)n)
        __builtin_trap();
    vg_outbox_reset(&out);

    struct vg_buf plain = {0};
    if (vg_gunzip(body, len, 1 << 16, &plain) == 0 ? plain.len > (1 << 16)
                                                   : plain.cap > (1 << 16) + 2)
        __builtin_trap(); /* past the bound */
    vg_buf_free(&plain);

    struct vg_session_new s;
    check(vg_session_start(&in, body, len, 60, &s, &out, &rej) != 0, &out, &rej);
    vg_outbox_reset(&out);
    check(vg_session_end(&in, "s1", body, len, &out, &rej) != 0, &out, &rej);
    vg_outbox_free(&out);

    char *z = malloc(len + 1);
    memcpy(z, body, len);
    z[len] = '\0';
    struct vg_token t;
    if (vg_token_verify("k", 1, z, strlen(z), 0, &t) == 0)
        __builtin_trap(); /* forging a MAC by chance */
    char *hosts[] = {"example.com", "*.example.org"};
    struct vg_tenant tenant = {.id = "demo", .redirect_hosts = hosts, .nredirect_hosts = 2};
    if (vg_policy_redirect_allowed(&tenant, z)) {
        /* whatever passes is an http(s) URL with no user info or backslash */
        const char *sep = strstr(z, "://");
        if ((strncasecmp(z, "http://", 7) && strncasecmp(z, "https://", 8)) || !sep ||
            memchr(sep + 3, '@', strcspn(sep + 3, "/?#")) || strchr(z, '\\'))
            __builtin_trap();
    }
    free(z);
    return 0;
}
