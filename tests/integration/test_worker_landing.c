/*
 * The worker on the real stack: every distinct event lands exactly once in
 * raw, staging and the vault however often it is sent and however the
 * workers crash or rebalance; poison goes to the DLQ without stopping its
 * partition; values arrive intact.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "itest_stack.h"
#include "kafka.h"

#define LAND_TIMEOUT_MS 180000

static long long tenant_count(struct itest *t, const char *sql)
{
    const char *p[1] = {t->tenant};
    return itest_count(t, sql, 1, p);
}

static const char raw_sql[] = "SELECT count(*) FROM raw.events WHERE tenant_id = $1";

/* Sends `distinct` events over `sessions` sessions and `visitors` visitors,
 * each event once and a third of them twice more; calls midway(t) halfway. */
static void send_load(struct itest *t, int distinct, int sessions, int visitors,
                      void (*midway)(struct itest *))
{
    char(*ids)[37] = calloc((size_t)distinct, 37);
    char value[1024], key[128], sid[64], vid[64];
    for (int i = 0; i < distinct; i++)
        itest_uuid(ids[i]);
    int sent = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < distinct; i++) {
            if (round > 0 && i % 3 != 0)
                continue;
            snprintf(sid, sizeof(sid), "s-%d", i % sessions);
            snprintf(vid, sizeof(vid), "v-%d", i % visitors);
            snprintf(key, sizeof(key), "%s/%s", t->tenant, sid);
            itest_event(t, value, sizeof(value), ids[i], "page.view", sid, vid,
                        "2026-11-20T10:00:00Z", "{\"n\":1}");
            itest_produce(t, t->cfg->topic_events, key, value);
            if (++sent == distinct / 2 && midway) {
                itest_flush(t);
                midway(t);
            }
        }
    }
    itest_flush(t);
    free(ids);
}

static void assert_landed_exactly_once(struct itest *t, int distinct, int sessions, int visitors)
{
    if (!ITEST_WAIT(tenant_count(t, raw_sql) >= distinct, LAND_TIMEOUT_MS))
        fail_msg("only %lld of %d events landed in raw.events", tenant_count(t, raw_sql), distinct);
    /* Give late duplicates a moment to be (not) counted: wait for the lag to drain. */
    assert_int_equal(tenant_count(t, raw_sql), distinct);
    assert_int_equal(tenant_count(t, "SELECT count(DISTINCT event_id) FROM raw.events "
                                     "WHERE tenant_id = $1"),
                     distinct);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1"),
                     distinct);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM vault.link_event l JOIN "
                                     "vault.hub_tenant h USING (hk_tenant) WHERE h.tenant_id = $1"),
                     distinct);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM vault.hub_tenant WHERE tenant_id = $1"),
                     1);
    /* The keys are the dbt convention's, row by row. */
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1 "
                                     "AND (hk_session <> upper(md5(upper(tenant_id) || '||' || "
                                     "upper(session_id))) OR hk_tenant <> upper(md5(upper("
                                     "tenant_id))) OR hk_event <> upper(md5(upper(tenant_id) || "
                                     "'||' || upper(event_id::text))))"),
                     0);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM vault.hub_session WHERE tenant_id = $1"),
                     sessions);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM vault.hub_visitor WHERE tenant_id = $1"),
                     visitors);
    assert_int_equal(tenant_count(t, "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1"),
                     sessions);
    assert_int_equal(
        tenant_count(t, "SELECT sum(event_count) FROM mart.sessions WHERE tenant_id = $1"),
        distinct);
}

static void kill_and_restart_worker(struct itest *t)
{
    if (itest_signal("worker-1", SIGKILL) != 0)
        fail_msg("could not SIGKILL worker-1");
    /* The pid file goes stale; ./dev up starts only what is missing. */
    assert_int_equal(itest_dev("up"), 0);
}

static void test_duplicates_and_a_killed_worker_land_exactly_once(void **state)
{
    struct itest t;
    itest_open(&t, "once");
    send_load(&t, 3000, 60, 45, kill_and_restart_worker);
    assert_landed_exactly_once(&t, 3000, 60, 45);
    itest_close(&t);
}

static int third_worker_pid;

static int third_worker_assigned(void)
{
    return itest_metric("http://127.0.0.1:9219", "vigil_worker_assigned_partitions") > 0;
}

static void start_third_worker(struct itest *t)
{
    third_worker_pid = itest_start_worker("worker-itest-3", "9219");
    if (!ITEST_WAIT(third_worker_assigned(), 60000))
        fail_msg("the third worker was given no partition");
}

static void test_a_third_worker_joining_and_leaving_changes_nothing(void **state)
{
    struct itest t;
    itest_open(&t, "scale");
    send_load(&t, 1000, 40, 30, start_third_worker);
    /* Take it away while the rest of the load flows. */
    assert_int_equal(kill(third_worker_pid, SIGTERM), 0);
    send_load(&t, 1000, 40, 30, NULL);
    int status = 0;
    assert_int_equal(waitpid(third_worker_pid, &status, 0), third_worker_pid);
    third_worker_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_landed_exactly_once(&t, 2000, 40, 30);
    itest_close(&t);
}

/* Every message on the DLQ past the given offsets with this key, as "stage|error". */
static int dlq_reasons(struct itest *t, const char *key, const int64_t *from, int nparts,
                       char reasons[][300], int max)
{
    char err[512];
    rd_kafka_conf_t *conf = vg_kafka_conf(t->cfg, "vigil-itest-dlq", err, sizeof(err));
    assert_int_equal(vg_kafka_set(conf, "group.id", "vigil-itest-dlq-reader", err, sizeof(err)), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, t->cfg->topic_dlq, i)->offset = from[i];
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int found = 0;
    int64_t deadline = vg_mono_ms() + 60000;
    while (found < max && vg_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err && m->key_len == strlen(key) && !memcmp(m->key, key, m->key_len)) {
            rd_kafka_headers_t *h = NULL;
            const void *stage = "", *error = "";
            size_t ls = 0, le = 0;
            if (!rd_kafka_message_headers(m, &h)) {
                rd_kafka_header_get_last(h, "vigil-stage", &stage, &ls);
                rd_kafka_header_get_last(h, "vigil-error", &error, &le);
            }
            snprintf(reasons[found++], 300, "%.*s|%.*s", (int)ls, (const char *)stage, (int)le,
                     (const char *)error);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return found;
}

static void test_poison_goes_to_the_dlq_and_the_partition_moves_on(void **state)
{
    struct itest t;
    itest_open(&t, "poison");
    char key[128], value[1024], id[37];
    snprintf(key, sizeof(key), "%s/s-poison", t.tenant);
    int64_t from[16];
    int nparts = itest_end_offsets(&t, t.cfg->topic_dlq, from, 16);
    /* 1: not JSON; 2: the wrong schema; 3: a value PostgreSQL refuses (NUL in jsonb) */
    itest_produce(&t, t.cfg->topic_events, key, "{this is not json");
    snprintf(value, sizeof(value), "{\"v\":1,\"tenant\":\"%s\",\"type\":\"x\"}", t.tenant);
    itest_produce(&t, t.cfg->topic_events, key, value);
    itest_uuid(id);
    itest_event(&t, value, sizeof(value), id, "page.view", "s-poison", NULL, NULL,
                "{\"bad\":\"a\\u0000b\"}");
    itest_produce(&t, t.cfg->topic_events, key, value);
    /* and good events behind them on the same partition */
    for (int i = 0; i < 5; i++) {
        itest_uuid(id);
        itest_event(&t, value, sizeof(value), id, "page.view", "s-poison", NULL, NULL, NULL);
        itest_produce(&t, t.cfg->topic_events, key, value);
    }
    itest_flush(&t);
    if (!ITEST_WAIT(tenant_count(&t, raw_sql) >= 5, LAND_TIMEOUT_MS))
        fail_msg("the good events behind the poison did not land");
    assert_int_equal(tenant_count(&t, raw_sql), 5);
    char reasons[3][300];
    int n = dlq_reasons(&t, key, from, nparts, reasons, 3);
    if (n != 3)
        fail_msg("%d of 3 poison messages on the DLQ", n);
    int decode = 0, validate = 0, database = 0;
    for (int i = 0; i < 3; i++) {
        decode += !strncmp(reasons[i], "decode|not JSON", 15);
        validate += !strncmp(reasons[i], "validate|", 9);
        database += !strncmp(reasons[i], "database|", 9);
    }
    if (decode != 1 || validate != 1 || database != 1)
        fail_msg("reasons: [%s] [%s] [%s]", reasons[0], reasons[1], reasons[2]);
    itest_close(&t);
}

/* Poison with nothing good beside it: a batch whose every message the
 * database refuses is still the data's fault, dead-lettered, and the
 * partition goes on (it once retried such a batch for ever). */
static void test_a_batch_of_nothing_but_poison_is_dead_lettered(void **state)
{
    struct itest t;
    itest_open(&t, "poison-only");
    char key[128], value[1024], id[37];
    snprintf(key, sizeof(key), "%s/s-poison", t.tenant);
    int64_t from[16];
    int nparts = itest_end_offsets(&t, t.cfg->topic_dlq, from, 16);
    for (int i = 0; i < 3; i++) {
        itest_uuid(id);
        itest_event(&t, value, sizeof(value), id, "page.view", "s-poison", NULL, NULL,
                    "{\"bad\":\"a\\u0000b\"}");
        itest_produce(&t, t.cfg->topic_events, key, value);
    }
    itest_flush(&t);
    char reasons[3][300];
    int n = dlq_reasons(&t, key, from, nparts, reasons, 3);
    if (n != 3)
        fail_msg("%d of 3 poison messages on the DLQ", n);
    for (int i = 0; i < 3; i++)
        if (strncmp(reasons[i], "database|", 9))
            fail_msg("reason [%s], want the database's", reasons[i]);
    /* and the partition moves on */
    itest_uuid(id);
    itest_event(&t, value, sizeof(value), id, "page.view", "s-poison", NULL, NULL, NULL);
    itest_produce(&t, t.cfg->topic_events, key, value);
    itest_flush(&t);
    if (!ITEST_WAIT(tenant_count(&t, raw_sql) == 1, LAND_TIMEOUT_MS))
        fail_msg("the event behind the poison did not land");
    itest_close(&t);
}

/* mart.pipeline_status carries the lag as of the last commits: once
 * everything sent has landed and been committed, it is known and zero. */
static int lag_is_zero(struct itest *t)
{
    return itest_count(t,
                       "SELECT count(*) FROM mart.pipeline_status WHERE layer = 'raw'"
                       " AND consumer_lag = 0",
                       0, NULL) == 1;
}

static void test_pipeline_status_shows_no_lag_once_everything_landed(void **state)
{
    struct itest t;
    itest_open(&t, "lag");
    PGresult *r = PQexec(t.db, "SELECT now()::text");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *started = vg_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    char key[128], value[1024], id[37];
    snprintf(key, sizeof(key), "%s/s-lag", t.tenant);
    for (int i = 0; i < 20; i++) {
        itest_uuid(id);
        itest_event(&t, value, sizeof(value), id, "page.view", "s-lag", NULL, NULL, NULL);
        itest_produce(&t, t.cfg->topic_events, key, value);
    }
    itest_flush(&t);
    if (!ITEST_WAIT(tenant_count(&t, raw_sql) == 20, LAND_TIMEOUT_MS))
        fail_msg("events did not land");
    /* Other tests' traffic may still be in flight: wait for a quiet moment. */
    if (!ITEST_WAIT(lag_is_zero(&t), LAND_TIMEOUT_MS))
        fail_msg("mart.pipeline_status never showed a lag of 0");
    /* Every offset this test moved has its watermark beside it. */
    const char *p[2] = {t.cfg->topic_events, started};
    assert_true(itest_count(&t,
                            "SELECT count(*) FROM ops.consumer_offsets WHERE topic = $1"
                            " AND updated_at >= $2::timestamptz",
                            2, p) >= 1);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM ops.consumer_offsets WHERE topic = $1"
                                 " AND updated_at >= $2::timestamptz AND (high_watermark IS NULL"
                                 " OR high_watermark < next_offset)",
                                 2, p),
                     0);
    free(started);
    itest_close(&t);
}

/* Batches whose COPY is sent in several chunks (VG_COPY_CHUNK, 256 KiB): 600
 * events of about 2.5 KB, sent at once, land once each, with properties
 * whose escapes (a backslash, a tab) may fall on a chunk's edge intact. */
static void test_batches_past_a_copy_chunk_land_whole(void **state)
{
    (void)state;
    enum { EVENTS = 600 };
    struct itest t;
    itest_open(&t, "chunks");
    struct vg_buf props = {0};
    vg_buf_puts(&props, "{\"text\":\"");
    for (int i = 0; i < 2400; i++)
        vg_buf_puts(&props, i % 60 == 0 ? "\\t\\\\" : "x");
    vg_buf_puts(&props, "\"}");
    size_t cap = props.len + 1024;
    char *value = malloc(cap);
    char key[128], sid[16], id[37];
    for (int i = 0; i < EVENTS; i++) {
        itest_uuid(id);
        snprintf(sid, sizeof(sid), "s-%d", i % 7);
        snprintf(key, sizeof(key), "%s/%s", t.tenant, sid);
        itest_event(&t, value, cap, id, "page.view", sid, NULL, NULL, props.data);
        itest_produce(&t, t.cfg->topic_events, key, value);
    }
    itest_flush(&t);
    if (!ITEST_WAIT(tenant_count(&t, raw_sql) >= EVENTS, LAND_TIMEOUT_MS))
        fail_msg("only %lld of %d events landed", tenant_count(&t, raw_sql), EVENTS);
    const char *p[2] = {t.tenant, props.data};
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND "
                                 "properties = $2::jsonb",
                                 2, p),
                     EVENTS);
    assert_int_equal(tenant_count(&t, raw_sql), EVENTS);
    free(value);
    vg_buf_free(&props);
    itest_close(&t);
}

static void test_unicode_escapes_and_large_properties_arrive_intact(void **state)
{
    struct itest t;
    itest_open(&t, "unicode");
    static const char props[] =
        "{\"emoji\":\"\\ud83d\\ude00 \xf0\x9f\x9a\x80\",\"accents\":\"caf\xc3\xa9 \xc3\xbc\","
        "\"cjk\":\"\xe4\xb8\xad\xe6\x96\x87\",\"esc\":\"quote\\\" back\\\\ tab\\t nl\\n\","
        "\"nested\":{\"a\":[1,2.5,true,null,{\"b\":\"\\u00e9\"}]}}";
    char key[128], id[37];
    struct vg_buf big = {0};
    vg_buf_puts(&big, "{\"blob\":\"");
    for (int i = 0; i < 20000; i++)
        vg_buf_putc(&big, (char)('a' + i % 26));
    vg_buf_puts(&big, "\"}");
    char *value = malloc(big.len + 1024);
    snprintf(key, sizeof(key), "%s/s-u", t.tenant);
    itest_uuid(id);
    itest_event(&t, value, big.len + 1024, id, "page.view", "s-u", NULL, NULL, props);
    itest_produce(&t, t.cfg->topic_events, key, value);
    char id2[37];
    itest_uuid(id2);
    itest_event(&t, value, big.len + 1024, id2, "page.view", "s-u", NULL, NULL, big.data);
    itest_produce(&t, t.cfg->topic_events, key, value);
    itest_flush(&t);
    if (!ITEST_WAIT(tenant_count(&t, raw_sql) >= 2, LAND_TIMEOUT_MS))
        fail_msg("events did not land");
    /* jsonb equality: every value exactly as sent */
    const char *p[3] = {t.tenant, id, props};
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND "
                                 "event_id = $2::uuid AND properties = $3::jsonb",
                                 3, p),
                     1);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND "
                                 "event_id = $2::uuid AND properties->>'emoji' = "
                                 "U&'\\+01F600 \\+01F680'",
                                 2, p),
                     1);
    const char *p2[3] = {t.tenant, id2, big.data};
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND "
                                 "event_id = $2::uuid AND properties = $3::jsonb",
                                 3, p2),
                     1);
    free(value);
    vg_buf_free(&big);
    itest_close(&t);
}

/* A failed test leaves no stray worker in the group, and the stack whole. */
static int teardown(void **state)
{
    (void)state;
    if (third_worker_pid > 0) {
        kill(third_worker_pid, SIGKILL);
        waitpid(third_worker_pid, NULL, 0);
        third_worker_pid = 0;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_goes_to_the_dlq_and_the_partition_moves_on),
        cmocka_unit_test(test_a_batch_of_nothing_but_poison_is_dead_lettered),
        cmocka_unit_test(test_pipeline_status_shows_no_lag_once_everything_landed),
        cmocka_unit_test(test_unicode_escapes_and_large_properties_arrive_intact),
        cmocka_unit_test(test_batches_past_a_copy_chunk_land_whole),
        cmocka_unit_test(test_duplicates_and_a_killed_worker_land_exactly_once),
        cmocka_unit_test_teardown(test_a_third_worker_joining_and_leaving_changes_nothing,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
