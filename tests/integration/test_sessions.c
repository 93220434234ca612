/*
 * Sessions on the real stack: one row per session that is right whatever
 * order its signals arrive in, its history in the vault, one summary; and
 * many signals for one session in one batch written as one row update.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "itest_stack.h"
#include "kafka.h"
#include "util.h"

#define TIMEOUT_MS  180000
#define HAS(m, lit) memmem((m)->payload, (m)->len, lit, sizeof(lit) - 1)

/*
 * Times of the signals, relative to a whole minute ten minutes ago: recent
 * enough that the stack's own schedule (timeout-idle every minute, sessions
 * idle for 30 minutes) cannot time a session of these tests out while they
 * run. A timeout is terminal, so a sweep that fell between the first signals
 * landing and the end would leave the session "timeout" for good.
 */
static int64_t base_s;

static void times_init(void)
{
    base_s = vg_now_us() / 1000000 / 60 * 60 - 600;
}

/* The base plus off_s seconds, as the envelope writes it ("...T10:00:05Z"). */
static const char *iso(int64_t off_s, char out[32])
{
    time_t t = (time_t)(base_s + off_s);
    struct tm tm;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    return out;
}

/* The same as PostgreSQL prints a timestamptz in UTC ("... 10:00:05+00"). */
static const char *pgts(int64_t off_s, char out[32])
{
    time_t t = (time_t)(base_s + off_s);
    struct tm tm;
    strftime(out, 32, "%Y-%m-%d %H:%M:%S+00", gmtime_r(&t, &tm));
    return out;
}

struct sig {
    const char *topic; /* "h" heartbeats or "e" events */
    char value[768];
};

static void signal_env(struct itest *t, struct sig *s, const char *type, const char *sid,
                       const char *at, const char *extra)
{
    char id[37], now[VG_TS_LEN];
    itest_uuid(id);
    vg_time_format(vg_now_us(), now);
    s->topic = "h";
    snprintf(s->value, sizeof(s->value),
             "{\"v\":1,\"tenant\":\"%s\",\"event_id\":\"%s\",\"type\":\"%s\",\"session_id\":\"%s\","
             "\"occurred_at\":\"%s\",\"received_at\":\"%s\"%s}",
             t->tenant, id, type, sid, at, now, extra ? extra : "");
}

static void send_sig(struct itest *t, const struct sig *s, const char *sid)
{
    char key[160];
    snprintf(key, sizeof(key), "%s/%s", t->tenant, sid);
    itest_produce(t, s->topic[0] == 'h' ? t->cfg->topic_heartbeats : t->cfg->topic_events, key,
                  s->value);
}

static char *one(struct itest *t, const char *sql, const char *sid)
{
    const char *p[2] = {t->tenant, sid};
    PGresult *r = PQexecParams(t->db, sql, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? vg_xstrdup(PQgetvalue(r, 0, 0))
                                                         : vg_xstrdup("(none)");
    PQclear(r);
    return v;
}

static int status_is(struct itest *t, const char *sid, const char *want, long long hb)
{
    char *v = one(t,
                  "SELECT status || '/' || heartbeat_count || '/' || event_count FROM "
                  "mart.sessions WHERE tenant_id = $1 AND session_id = $2",
                  sid);
    char expect[64];
    snprintf(expect, sizeof(expect), "%s/%lld/1", want, hb);
    int ok = !strcmp(v, expect);
    free(v);
    return ok;
}

static void test_one_session_through_every_transition_in_any_order(void **state)
{
    struct itest t;
    itest_open(&t, "sess");
    const char *sid = "lesson-1";
    struct sig s[7];
    char a[32], b[32], c2[32], d[32], e[32], f[32], start_extra[256];
    times_init();
    snprintf(start_extra, sizeof(start_extra),
             ",\"kind\":\"lesson\",\"status\":\"draft\",\"started_at\":\"%s\","
             "\"expires_at\":\"%s\",\"attributes\":{\"course\":\"c-1\"}",
             iso(0, a), iso(86400, b));
    signal_env(&t, &s[0], "session.start", sid, iso(0, a), start_extra);
    signal_env(&t, &s[1], "session.activate", sid, iso(10, a), NULL);
    signal_env(&t, &s[2], "session.heartbeat", sid, iso(20, a), NULL);
    signal_env(&t, &s[3], "session.heartbeat", sid, iso(30, a), NULL);
    signal_env(&t, &s[4], "page.view", sid, iso(25, a), ",\"url\":\"https://x/1\"");
    s[4].topic = "e";
    signal_env(&t, &s[5], "session.end", sid, iso(60, a), ",\"reason\":\"completed\"");
    signal_env(&t, &s[6], "session.heartbeat", sid, iso(70, a), NULL);

    /* Capture where vigil.summaries ends now, to find this session's summary later. */
    int64_t from[64];
    int nparts = itest_end_offsets(&t, t.cfg->topic_summaries, from, 64);

    /* First the end, a late heartbeat and the event; then, after a worker
     * restart, everything again in another order, with duplicates. */
    send_sig(&t, &s[5], sid);
    send_sig(&t, &s[6], sid);
    send_sig(&t, &s[4], sid);
    itest_flush(&t);
    if (!ITEST_WAIT(status_is(&t, sid, "ended", 1), TIMEOUT_MS))
        fail_msg("first half did not land");
    assert_int_equal(itest_dev("stop worker-2"), 0);
    assert_int_equal(itest_dev("up"), 0);
    const int order[] = {3, 1, 6, 0, 2, 5, 4, 0, 3};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        send_sig(&t, &s[order[i]], sid);
    itest_flush(&t);
    if (!ITEST_WAIT(status_is(&t, sid, "ended", 3), TIMEOUT_MS))
        fail_msg("the session did not reach its final state");

    char *row = one(&t,
                    "SELECT concat_ws('|', kind, status, created_at, started_at, "
                    "first_activity_at, last_activity_at, ended_at, duration_ms, heartbeat_count, "
                    "event_count, end_reason, expires_at, attributes, was_draft) "
                    "FROM mart.sessions WHERE tenant_id = $1 AND session_id = $2",
                    sid);
    char want[512];
    snprintf(want, sizeof(want),
             "lesson|ended|%s|%s|%s|%s|%s|60000|3|1|completed|%s|{\"course\": \"c-1\"}|t",
             pgts(0, a), pgts(0, b), pgts(10, c2), pgts(70, d), pgts(60, e), pgts(86400, f));
    assert_string_equal(row, want);
    free(row);

    /* History: the latest satellite row is the final state; no two rows in a row alike. */
    char *sat = one(&t,
                    "SELECT concat_ws('|', status, ended_at, duration_ms) FROM vault.sat_session "
                    "WHERE hk_session = vault.hash_key($1, $2) ORDER BY load_date DESC LIMIT 1",
                    sid);
    snprintf(want, sizeof(want), "ended|%s|60000", pgts(60, a));
    assert_string_equal(sat, want);
    free(sat);
    char *repeats = one(&t,
                        "SELECT count(*) FROM (SELECT hash_diff, lag(hash_diff) OVER (ORDER BY "
                        "load_date) AS prev FROM vault.sat_session WHERE hk_session = "
                        "vault.hash_key($1, $2)) x WHERE hash_diff = prev",
                        sid);
    assert_string_equal(repeats, "0");
    free(repeats);

    /* One summary: one outbox row, sent, and one message on vigil.summaries. */
    const char *p[2] = {t.tenant, sid};
    if (!ITEST_WAIT(itest_count(&t,
                                "SELECT count(*) FROM ops.summary_outbox WHERE tenant_id = $1 "
                                "AND session_id = $2 AND sent_at IS NOT NULL",
                                2, p) == 1,
                    30000))
        fail_msg("the summary was not sent");

    char err[512], key[160];
    snprintf(key, sizeof(key), "%s/%s", t.tenant, sid);
    rd_kafka_conf_t *conf = vg_kafka_conf(t.cfg, "vigil-itest-summaries", err, sizeof(err));
    assert_int_equal(vg_kafka_set(conf, "group.id", "vigil-itest-summaries", err, sizeof(err)), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(parts, t.cfg->topic_summaries, i)->offset = from[i];
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int found = 0;
    int64_t deadline = vg_mono_ms() + 8000; /* long enough for a duplicate to show up */
    while (vg_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err && m->key_len == strlen(key) && !memcmp(m->key, key, m->key_len)) {
            found++;
            /* Its figures are those known when it was sent: the end and the
             * event came first, the start only after the restart. */
            char ended[64];
            int n = snprintf(ended, sizeof(ended), "\"ended_at\" : \"%.19s", iso(60, a));
            assert_non_null(memmem(m->payload, m->len, ended, (size_t)n));
            assert_non_null(HAS(m, "\"end_reason\" : \"completed\""));
            assert_non_null(HAS(m, "\"page.view\" : 1"));
            assert_non_null(HAS(m, "\"status\" : \"ended\""));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    assert_int_equal(found, 1);
    itest_close(&t);
}

/* A session known only from its events is active from the first, with no
 * end and so no duration; a heartbeat alone activates a draft. */
static void test_an_event_creates_an_active_session_and_a_heartbeat_activates_a_draft(void **state)
{
    struct itest t;
    itest_open(&t, "sess-open");
    struct sig s[3];
    char a[32], b[32], want_event[128], want_draft[128];
    times_init();
    signal_env(&t, &s[0], "page.view", "by-event", iso(5, a), NULL);
    s[0].topic = "e";
    signal_env(&t, &s[1], "session.start", "draft", iso(0, a),
               ",\"kind\":\"chat\",\"status\":\"draft\"");
    signal_env(&t, &s[2], "session.heartbeat", "draft", iso(7, a), NULL);
    send_sig(&t, &s[0], "by-event");
    send_sig(&t, &s[1], "draft");
    itest_flush(&t);
    const char *row_sql =
        "SELECT concat_ws('|', status, first_activity_at, last_activity_at,"
        " coalesce(ended_at::text, '-'), coalesce(duration_ms::text, '-'), event_count,"
        " heartbeat_count) FROM mart.sessions WHERE tenant_id = $1 AND session_id = $2";
    snprintf(want_event, sizeof(want_event), "active|%s|%s|-|-|1|0", pgts(5, a), pgts(5, b));
    char *v = NULL;
    if (!ITEST_WAIT((free(v), v = one(&t, row_sql, "by-event"), !strcmp(v, want_event)),
                    TIMEOUT_MS))
        fail_msg("by-event: got %s, want %s", v, want_event);
    free(v);
    v = NULL;
    if (!ITEST_WAIT((free(v),
                     v = one(&t,
                             "SELECT status FROM mart.sessions WHERE tenant_id = $1"
                             " AND session_id = $2",
                             "draft"),
                     !strcmp(v, "draft")),
                    TIMEOUT_MS))
        fail_msg("draft: got %s", v);
    free(v);
    v = NULL;
    send_sig(&t, &s[2], "draft");
    itest_flush(&t);
    snprintf(want_draft, sizeof(want_draft), "active|%s|%s|-|-|0|1", pgts(7, a), pgts(7, b));
    if (!ITEST_WAIT((free(v), v = one(&t, row_sql, "draft"), !strcmp(v, want_draft)), TIMEOUT_MS))
        fail_msg("draft after a heartbeat: got %s, want %s", v, want_draft);
    free(v);
    itest_close(&t);
}

/* The sum over both workers of one metric series. */
static long long worker_metric(const char *series)
{
    return (long long)itest_workers_metric(series);
}

static long long session_writes(struct itest *t)
{
    (void)t;
    return worker_metric("vigil_worker_session_rows_total");
}

/* Rows of mart.sessions the database itself counts as inserted or updated. */
static long long table_writes(struct itest *t)
{
    PQclear(PQexec(t->db, "SELECT pg_stat_clear_snapshot()"));
    return itest_count(t,
                       "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables"
                       " WHERE schemaname = 'mart' AND relname = 'sessions'",
                       0, NULL);
}

/* Enough for every partition to see batch boundaries cut through sessions;
 * throughput at scale is bench/'s to measure, not this test's. */
#define SESSIONS 2000
#define BEATS    50

static void test_heartbeats_of_a_session_in_one_batch_make_one_row_update(void **state)
{
    struct itest t;
    itest_open(&t, "beats");
    long long before = session_writes(&t), table_before = table_writes(&t);
    long long batches_before = worker_metric("vigil_worker_batch_messages_count");
    struct sig s;
    char sid[32], at[32];
    times_init();
    /* Session after session, as one client's heartbeats arrive. */
    for (int i = 0; i < SESSIONS; i++) {
        snprintf(sid, sizeof(sid), "hb-%d", i);
        for (int k = 0; k < BEATS; k++) {
            iso(k, at);
            signal_env(&t, &s, "session.heartbeat", sid, at, NULL);
            send_sig(&t, &s, sid);
        }
    }
    itest_flush(&t);
    const char *p[1] = {t.tenant};
    if (!ITEST_WAIT(itest_count(&t,
                                "SELECT sum(heartbeat_count) FROM mart.sessions WHERE "
                                "tenant_id = $1",
                                1, p) == SESSIONS * BEATS,
                    600000))
        fail_msg("heartbeats did not all land");
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1", 1, p), SESSIONS);
    long long writes = session_writes(&t) - before;
    long long batches = worker_metric("vigil_worker_batch_messages_count") - batches_before;
    /* One write per session per batch it appears in. A session's heartbeats
     * are contiguous on its partition, so a batch boundary splits at most one
     * session per partition: at most SESSIONS + batches x partitions writes. */
    long long parts = t.cfg->partitions_heartbeats + t.cfg->partitions_events;
    fprintf(stderr, "%d heartbeats became %lld row writes in %lld batches\n", SESSIONS * BEATS,
            writes, batches);
    assert_true(writes >= SESSIONS);
    if (writes > SESSIONS + batches * parts)
        fail_msg("%lld row writes for %d sessions in %lld batches: more than one per session "
                 "per batch",
                 writes, SESSIONS, batches);
    /* The database counts them too (its statistics arrive within a second or so). */
    if (!ITEST_WAIT(table_writes(&t) - table_before >= writes, 30000))
        fail_msg("pg_stat_user_tables counts %lld writes of mart.sessions, the worker %lld",
                 table_writes(&t) - table_before, writes);
    itest_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_session_through_every_transition_in_any_order),
        cmocka_unit_test(test_an_event_creates_an_active_session_and_a_heartbeat_activates_a_draft),
        cmocka_unit_test(test_heartbeats_of_a_session_in_one_batch_make_one_row_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
