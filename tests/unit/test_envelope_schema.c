/*
 * The producer's envelopes validate against schemas/json/event.json and
 * signal.json (JSON Schema 2020-12), checked by python3-jsonschema: every
 * shape event.c and session.c write must pass, and mutated envelopes must
 * fail, so the schemas are neither looser nor stricter than the producer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Debian's interpreter, where ./dev installs python3-jsonschema. */
#define PYTHON "/usr/bin/python3"

#include <cmocka.h>

#include "ingest.h"
#include "event.h"
#include "segment.h"
#include "session.h"

#define RECEIVED_US 1795398847000000LL

static const char validator[] =
    "import json, sys\n"
    "import jsonschema\n"
    "d = sys.argv[1]\n"
    "v = {k: jsonschema.Draft202012Validator(json.load(open(d + '/' + k + '.json')),\n"
    "      format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)\n"
    "     for k in ('event', 'signal')}\n"
    "for k, s in v.items(): jsonschema.Draft202012Validator.check_schema(s.schema)\n"
    "bad = 0\n"
    "for n, line in enumerate(open(sys.argv[2]), 1):\n"
    "    kind, want, doc = line.rstrip('\\n').split('\\t', 2)\n"
    "    errs = [e.message for e in v[kind].iter_errors(json.loads(doc))]\n"
    "    if (want == 'valid') != (not errs):\n"
    "        bad += 1\n"
    "        print('line %d: %s expected %s: %s %s' % (n, kind, want, errs[:2], doc[:300]))\n"
    "print('%d envelopes checked, %d unexpected' % (n, bad))\n"
    "sys.exit(1 if bad else 0)\n";

static FILE *out_file;
static size_t written;

static struct vg_ingest ingest(int skew)
{
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 65536,
        .max_batch_events = 100,
    };
    if (skew) {
        in.has_sent_at = 1;
        in.sent_at_us = RECEIVED_US - 3600 * 1000000LL;
    }
    return in;
}

static void emit(const char *kind, const char *want, const char *json)
{
    fprintf(out_file, "%s\t%s\t%s\n", kind, want, json);
    written++;
}

/* Writes every envelope of out, and mutated copies of the first one. */
static void emit_outbox(const char *kind, const struct vg_outbox *out)
{
    for (size_t i = 0; i < out->n; i++)
        emit(kind, "valid", vg_outmsg_value(out, &out->msgs[i]));
    if (out->n == 0)
        return;
    static const struct {
        const char *field;
        const char *json; /* NULL: remove the field */
    } mutations[] = {
        {"type", NULL},
        {"tenant", NULL},
        {"occurred_at", NULL},
        {"bogus", "1"},
        {"v", "2"},
        {"occurred_at", "\"2026-11-23T01:54:07+00:00\""},
        {"event_id", "\"01A20643-891A-70DA-BA53-B5AAB0CA5B92\""},
        {"session_id", "\"a/b\""},
        {"tenant", "\"Demo\""},
    };
    for (size_t m = 0; m < sizeof(mutations) / sizeof(mutations[0]); m++) {
        json_t *env = json_loads(vg_outmsg_value(out, &out->msgs[0]), 0, NULL);
        assert_non_null(env);
        if (mutations[m].json)
            json_object_set_new(env, mutations[m].field, json_loads(mutations[m].json,
                                                                    JSON_DECODE_ANY, NULL));
        else
            json_object_del(env, mutations[m].field);
        char *s = json_dumps(env, JSON_COMPACT);
        emit(kind, "invalid", s);
        free(s);
        json_decref(env);
    }
}

static void events(const char *body, int skew)
{
    struct vg_ingest in = ingest(skew);
    struct vg_outbox out = {0};
    struct vg_reject rej;
    if (vg_event_parse(&in, VG_BODY_JSON, body, strlen(body), &out, &rej) < 0)
        fail_msg("refused %s: %s", body, rej.message);
    emit_outbox("event", &out);
    vg_outbox_free(&out);
}

static void test_envelopes_validate_against_schemas(void **state)
{
    char path[] = "/tmp/vigil-envelopes-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    out_file = fdopen(fd, "w");

    events("{\"type\":\"a\"}", 0);
    events("{\"type\":\"page.view\",\"event_id\":\"01A20643-891A-70DA-BA53-B5AAB0CA5B92\","
           "\"session_id\":\"S.1:x-y_z\",\"visitor_id\":\"v \\u00e9\",\"user_id\":\"u\","
           "\"occurred_at\":\"2026-11-23T02:00:00.5+01:00\",\"url\":\"https://x/?a=b\","
           "\"properties\":{\"a\":[1,{\"b\":null}]}}",
           0);
    events("[{\"type\":\"a\",\"visitor_id\":\"v\",\"occurred_at\":\"2026-11-23T00:00:00Z\"},"
           "{\"type\":\"b\",\"occurred_at\":\"2030-01-01T00:00:00Z\"}]",
           1);
    events("{\"sent_at\":\"2026-11-24T01:54:07Z\",\"events\":[{\"type\":\"a\",\"occurred_at\":"
           "\"2026-11-24T01:00:00Z\"}]}",
           0);
    events("{\"type\":\"a\",\"context\":{\"locale\":\"fr\",\"page\":{\"path\":\"/\"}}}", 0);

    /* Segment's calls: context and the fields kept as sent (segment). */
    {
        struct vg_ingest in = ingest(0);
        struct vg_outbox out = {0};
        struct vg_reject rej;
        in.client_ip = "203.0.113.9";
        in.user_agent = "sdk/1";
        const char *batch =
            "{\"batch\":[{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
            "\"anonymousId\":\"a\",\"messageId\":\"node-next-1\",\"timestamp\":"
            "\"2026-11-23T01:00:00Z\",\"properties\":{\"session_id\":\"s-1\"},"
            "\"integrations\":{\"All\":true}},{\"type\":\"alias\",\"previousId\":\"p\","
            "\"userId\":\"u\"}],\"sentAt\":\"2026-11-23T01:00:01Z\"}";
        if (vg_segment_parse(&in, VG_SEGMENT_BATCH, batch, strlen(batch), &out, &rej) != 2)
            fail_msg("refused %s: %s", batch, rej.message);
        emit_outbox("event", &out);
        vg_outbox_free(&out);
    }

    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    struct vg_ingest in = ingest(0);
    assert_int_equal(vg_session_start(&in, "", 0, 60, &s, &out, &rej), 0);
    const char *full = "{\"session_id\":\"L-1\",\"kind\":\"lesson\",\"status\":\"active\","
                       "\"started_at\":\"2026-11-23T01:00:00Z\",\"expires_at\":"
                       "\"2026-11-23T03:00:00Z\",\"attributes\":{\"room\":[1]}}";
    assert_int_equal(vg_session_start(&in, full, strlen(full), 60, &s, &out, &rej), 0);
    assert_int_equal(vg_session_start(&in, "{\"status\":\"draft\"}", 18, 60, &s, &out, &rej), 0);
    in = ingest(1);
    assert_int_equal(vg_session_heartbeat(&in, "L-1", "{\"at\":\"2026-11-23T00:30:00Z\"}", 29,
                                          &out, &rej),
                     0);
    assert_int_equal(vg_session_heartbeat(&in, "L-1", "{\"at\":\"2027-11-23T00:30:00Z\"}", 29,
                                          &out, &rej),
                     0);
    assert_int_equal(vg_session_end(&in, "L-1", "{\"reason\":\"closed\"}", 19, &out, &rej), 0);
    assert_int_equal(vg_session_end(&in, "L-1", "", 0, &out, &rej), 0);
    vg_session_activate(&in, "L-1", "https://example.com/x", &out);
    emit_outbox("signal", &out);

    /* The rules that tie fields to a signal's type. */
    emit("signal", "invalid",
         "{\"v\":1,\"tenant\":\"demo\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\","
         "\"type\":\"session.heartbeat\",\"session_id\":\"s\",\"occurred_at\":"
         "\"2026-11-23T01:54:07.000000Z\",\"received_at\":\"2026-11-23T01:54:07.000000Z\","
         "\"kind\":\"x\"}");
    emit("signal", "invalid",
         "{\"v\":1,\"tenant\":\"demo\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\","
         "\"type\":\"session.activate\",\"session_id\":\"s\",\"occurred_at\":"
         "\"2026-11-23T01:54:07.000000Z\",\"received_at\":\"2026-11-23T01:54:07.000000Z\"}");
    emit("signal", "invalid",
         "{\"v\":1,\"tenant\":\"demo\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\","
         "\"type\":\"session.start\",\"session_id\":\"s\",\"occurred_at\":"
         "\"2026-11-23T01:54:07.000000Z\",\"received_at\":\"2026-11-23T01:54:07.000000Z\","
         "\"kind\":\"session\"}");
    emit("signal", "invalid",
         "{\"v\":1,\"tenant\":\"demo\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\","
         "\"type\":\"session.heartbeat\",\"session_id\":\"s\",\"occurred_at\":"
         "\"2026-11-23T01:54:07.000000Z\",\"received_at\":\"2026-11-23T01:54:07.000000Z\","
         "\"reason\":\"x\"}");
    emit("event", "invalid", "{\"v\":1}");
    vg_outbox_free(&out);
    fclose(out_file);
    assert_true(written > 40);

    char script[] = "/tmp/vigil-validate-XXXXXX";
    int sfd = mkstemp(script);
    assert_true(sfd >= 0);
    assert_int_equal(write(sfd, validator, sizeof(validator) - 1), (ssize_t)sizeof(validator) - 1);
    close(sfd);
    const char *src = getenv("VIGIL_SOURCE_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s -c 'import jsonschema' 2>/dev/null", PYTHON);
    if (system(cmd) != 0)
        fail_msg("python3 with the jsonschema module is needed (Debian: python3-jsonschema)");
    snprintf(cmd, sizeof(cmd), "%s %s %s/schemas/json %s", PYTHON, script,
             src && *src ? src : VG_SOURCE_DIR, path);
    int rc = system(cmd);
    unlink(script);
    unlink(path);
    if (rc != 0)
        fail_msg("envelopes do not match the schemas (see above)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelopes_validate_against_schemas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
