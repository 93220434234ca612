/*
 * Signed commands on the real stack (DESIGN.md section 8): the scheduler's
 * messages are built here with common/command.h, produced to vigil.commands
 * and carried out by the stack's two workers.
 *
 * Sessions are written straight into mart.sessions under this run's own
 * tenant, and every command is scoped to that tenant, so the tests share the
 * stack with others. Their times are minutes old: the stack's own scheduler
 * (config/vigil.conf: timeout-idle at 1800 s, expire, a dry-run cleanup)
 * never matches them.
 *
 * The sweep shared by both workers covers 100,000 sessions (about 10 s on
 * the development machine); VIGIL_ITEST_SWEEP_SESSIONS=N changes the size.
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

#include "command.h"
#include "itest.h"
#include "itest_stack.h"
#include "kafka.h"
#include "util.h"

#define RUN_TIMEOUT_MS 60000

/* -- helpers ----------------------------------------------------------- */

/* Produces one command; secret NULL leaves it unsigned. */
static void send_command(struct itest *t, const char *id, const char *name, const char *params,
                         int dry_run, const char *secret)
{
    json_t *p = json_loads(params, 0, NULL);
    assert_non_null(p);
    json_t *msg = vg_command_new(id, name, p, dry_run, vg_now_us(), t->cfg->worker_group);
    json_decref(p);
    if (secret)
        assert_int_equal(vg_command_sign(msg, secret), 0);
    char *value = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    itest_produce(t, t->cfg->topic_commands, name, value);
    free(value);
    itest_flush(t);
}

static void send_signed(struct itest *t, const char *id, const char *name, const char *params,
                        int dry_run)
{
    send_command(t, id, name, params, dry_run, itest_env("VIGIL_COMMAND_SECRET"));
}

/* One value of a query with text parameters, as a new string ("(none)" if no row). */
static char *value_of(struct itest *t, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(t->db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = vg_xstrdup(PQntuples(r) < 1       ? "(none)"
                         : PQgetisnull(r, 0, 0) ? "(null)"
                                                : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void exec_sql(struct itest *t, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(t->db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static int run_finished(struct itest *t, const char *id)
{
    const char *p[1] = {id};
    return itest_count(t,
                       "SELECT count(*) FROM ops.command_runs WHERE command_id = $1"
                       " AND status IN ('done', 'failed')",
                       1, p) == 1;
}

/* Waits for the run to finish; returns "status|affected|sample", the sample
 * sorted (its order is the order the batches ran in). */
static char *wait_run(struct itest *t, const char *id, int timeout_ms)
{
    if (!ITEST_WAIT(run_finished(t, id), timeout_ms))
        fail_msg("command %s not finished within %d ms", id, timeout_ms);
    const char *p[1] = {id};
    return value_of(
        t,
        "SELECT status || '|' || affected || '|' || coalesce((SELECT jsonb_agg(x ORDER BY x)"
        " FROM jsonb_array_elements(sample) x)::text, sample::text, '-')"
        " || coalesce('|' || error, '') FROM ops.command_runs WHERE command_id = $1",
        1, p);
}

/* The session's status|ended_at|duration_ms|end_reason. */
static char *session(struct itest *t, const char *sid)
{
    const char *p[2] = {t->tenant, sid};
    return value_of(t,
                    "SELECT status || '|' || coalesce(ended_at::text, '-') || '|' ||"
                    " coalesce(duration_ms::text, '-') || '|' || coalesce(end_reason, '-')"
                    " FROM mart.sessions WHERE tenant_id = $1 AND session_id = $2",
                    2, p);
}

static void assert_text(char *got, const char *want)
{
    if (strcmp(got, want))
        fail_msg("got \"%s\", want \"%s\"", got, want);
    free(got);
}

/* Sends a dry-run command of this tenant and waits for it: every command
 * produced before it has been accepted (vigil.commands has one partition,
 * read in order). */
static void barrier(struct itest *t, const char *tag)
{
    char id[128], params[160];
    snprintf(id, sizeof(id), "itest-%s-barrier-%s", t->tenant, tag);
    snprintf(params, sizeof(params), "{\"idle_seconds\":300,\"tenant\":\"%s\"}", t->tenant);
    send_signed(t, id, "timeout_sessions", params, 1);
    free(wait_run(t, id, RUN_TIMEOUT_MS));
}

/* -- tests ------------------------------------------------------------- */

static void test_idle_sessions_time_out_at_their_last_activity_with_summaries(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-idle");
    const char *p[1] = {t.tenant};
    /* idle: last activity 10 minutes after its start and 10 minutes ago;
     * capped: started 30 minutes ago and active until 30 s ago, cut at 20
     * minutes; idle-first: went idle 5 minutes in, before the cap; fresh:
     * active now; a draft: cleanup_drafts' business. None idle for 30
     * minutes: the stack's own schedule (timeout-idle, every minute,
     * idle_seconds 1800) must not take one before this test's command does. */
    exec_sql(&t,
             "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at,"
             " started_at, first_activity_at, last_activity_at) VALUES"
             " ($1, 'idle', 'lesson', 'active', now() - interval '20 min',"
             "  now() - interval '20 min', now() - interval '20 min', now() - interval '10 min'),"
             " ($1, 'capped', 'lesson', 'active', now() - interval '30 min',"
             "  now() - interval '30 min', now() - interval '30 min', now() - interval '30 s'),"
             " ($1, 'idle-first', 'lesson', 'active', now() - interval '28 min',"
             "  now() - interval '28 min', now() - interval '28 min', now() - interval '23 min'),"
             " ($1, 'fresh', 'lesson', 'active', now() - interval '5 min',"
             "  now() - interval '5 min', now() - interval '5 min', now()),"
             " ($1, 'draft', 'lesson', 'draft', now() - interval '3 hours', NULL, NULL, NULL)",
             1, p);
    char id[128], params[256];
    snprintf(id, sizeof(id), "itest-%s-timeout", t.tenant);
    snprintf(params, sizeof(params),
             "{\"idle_seconds\":300,\"max_seconds\":1200,\"batch_size\":2,\"tenant\":\"%s\"}",
             t.tenant);
    send_signed(&t, id, "timeout_sessions", params, 0);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    char want[512];
    snprintf(want, sizeof(want), "done|3|[\"%s/capped\", \"%s/idle\", \"%s/idle-first\"]", t.tenant,
             t.tenant, t.tenant);
    assert_text(run, want);

    /* Each ends at its last activity (or at the cap), measured to that point. */
    const char *q[2] = {t.tenant, "idle"};
    char *last = value_of(&t,
                          "SELECT last_activity_at::text FROM mart.sessions"
                          " WHERE tenant_id = $1 AND session_id = $2",
                          2, q);
    snprintf(want, sizeof(want), "timeout|%s|600000|idle", last);
    free(last);
    assert_text(session(&t, "idle"), want);
    q[1] = "capped";
    char *cap = value_of(&t,
                         "SELECT (started_at + interval '1200 s')::text FROM mart.sessions"
                         " WHERE tenant_id = $1 AND session_id = $2",
                         2, q);
    snprintf(want, sizeof(want), "timeout|%s|1200000|max_duration", cap);
    free(cap);
    assert_text(session(&t, "capped"), want);
    q[1] = "idle-first";
    last = value_of(&t,
                    "SELECT last_activity_at::text FROM mart.sessions"
                    " WHERE tenant_id = $1 AND session_id = $2",
                    2, q);
    snprintf(want, sizeof(want), "timeout|%s|300000|idle", last);
    free(last);
    assert_text(session(&t, "idle-first"), want);
    assert_text(session(&t, "fresh"), "active|-|-|-");
    assert_text(session(&t, "draft"), "draft|-|-|-");

    /* One satellite row with the new state per session; one summary each,
     * sent to vigil.summaries by the workers' outbox sender. */
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM vault.sat_session WHERE status = 'timeout'"
                                 " AND hk_session IN (SELECT vault.hash_key(tenant_id, session_id)"
                                 " FROM mart.sessions WHERE tenant_id = $1)",
                                 1, p),
                     3);
    /* These sessions were written to mart.sessions directly, with no event to
     * load their hubs: the satellite append loads each one's hub_session row,
     * so no satellite row points at a missing hub. */
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM vault.hub_session WHERE tenant_id = $1"
                                 " AND record_source = 'mart.sessions' AND hk_session IN"
                                 " (SELECT hk_session FROM vault.sat_session)",
                                 1, p),
                     3);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM vault.sat_session s WHERE hk_session IN"
                                 " (SELECT vault.hash_key(tenant_id, session_id)"
                                 " FROM mart.sessions WHERE tenant_id = $1) AND NOT EXISTS"
                                 " (SELECT 1 FROM vault.hub_session h"
                                 " WHERE h.hk_session = s.hk_session)",
                                 1, p),
                     0);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM ops.summary_outbox WHERE tenant_id = $1"
                                 " AND status = 'timeout'",
                                 1, p),
                     3);
    assert_true(ITEST_WAIT(itest_count(&t,
                                       "SELECT count(*) FROM ops.summary_outbox WHERE"
                                       " tenant_id = $1 AND sent_at IS NOT NULL",
                                       1, p) == 3,
                           120000)); /* behind any backlog of the outbox */
    itest_close(&t);
}

static void test_dry_run_cleanup_lists_a_draft_and_deletes_nothing(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-drafts");
    const char *p[1] = {t.tenant};
    exec_sql(&t,
             "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at) VALUES"
             " ($1, 'old', 'lesson', 'draft', now() - interval '3 hours'),"
             " ($1, 'new', 'lesson', 'draft', now() - interval '10 min'),"
             " ($1, 'live', 'lesson', 'active', now() - interval '3 hours')",
             1, p);
    char id[128], params[160], want[256];
    snprintf(params, sizeof(params), "{\"older_than_hours\":1,\"tenant\":\"%s\"}", t.tenant);
    snprintf(want, sizeof(want), "done|1|[\"%s/old\"]", t.tenant);

    snprintf(id, sizeof(id), "itest-%s-dry", t.tenant);
    send_signed(&t, id, "cleanup_drafts", params, 1);
    assert_text(wait_run(&t, id, RUN_TIMEOUT_MS), want);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1", 1, p), 3);

    snprintf(id, sizeof(id), "itest-%s-real", t.tenant);
    send_signed(&t, id, "cleanup_drafts", params, 0);
    assert_text(wait_run(&t, id, RUN_TIMEOUT_MS), want);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1"
                                 " AND session_id = 'old'",
                                 1, p),
                     0);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1", 1, p), 2);
    itest_close(&t);
}

static void test_same_command_id_sent_twice_runs_once(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-twice");
    const char *insert = "INSERT INTO mart.sessions (tenant_id, session_id, status, created_at,"
                         " started_at, last_activity_at) VALUES ($1, $2, 'active',"
                         " now() - interval '20 min', now() - interval '20 min',"
                         " now() - interval '10 min')";
    const char *a1[2] = {t.tenant, "first"};
    exec_sql(&t, insert, 2, a1);
    char id[128], params[160], want[256];
    snprintf(id, sizeof(id), "itest-%s-once", t.tenant);
    snprintf(params, sizeof(params), "{\"idle_seconds\":300,\"tenant\":\"%s\"}", t.tenant);
    send_signed(&t, id, "timeout_sessions", params, 0);
    snprintf(want, sizeof(want), "done|1|[\"%s/first\"]", t.tenant);
    assert_text(wait_run(&t, id, RUN_TIMEOUT_MS), want);

    /* A second idle session, then the same command_id again (a new message:
     * issued later, signed anew): it must not run again. */
    const char *a2[2] = {t.tenant, "second"};
    exec_sql(&t, insert, 2, a2);
    send_signed(&t, id, "timeout_sessions", params, 0);
    barrier(&t, "twice");
    assert_text(session(&t, "second"), "active|-|-|-");
    const char *q[1] = {id};
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM ops.command_runs WHERE command_id = $1", 1, q), 1);
    assert_text(wait_run(&t, id, 1000), want);
    itest_close(&t);
}

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 && rd_kafka_header_get_last(h, name, &v, &n) == 0 && v)
        snprintf(buf, size, "%.*s", (int)n, (const char *)v);
    return buf;
}

/* An active session of t's tenant, 'victim', idle for 10 minutes: what a
 * timeout_sessions of 300 s would end, were it run. */
static void insert_victim(struct itest *t)
{
    const char *p[1] = {t->tenant};
    exec_sql(t,
             "INSERT INTO mart.sessions (tenant_id, session_id, status, created_at, started_at,"
             " last_activity_at) VALUES ($1, 'victim', 'active', now() - interval '20 min',"
             " now() - interval '20 min', now() - interval '10 min')",
             1, p);
}

static void test_forged_or_unsigned_commands_go_to_the_dlq_and_change_nothing(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-forged");
    insert_victim(&t);
    int64_t start[16];
    int32_t nparts = itest_end_offsets(&t, t.cfg->topic_dlq, start, 16);
    /* The verdict depends on the message alone: reached when the batch is
     * decoded, not by rolling the batch back and retrying it. */
    static const char *const refused[3] = {
        "vigil_worker_commands_refused_total{reason=\"unsigned_or_forged\"}",
        "vigil_worker_commands_refused_total{reason=\"unknown\"}",
        "vigil_worker_commands_refused_total{reason=\"malformed\"}",
    };
    double retries = itest_workers_metric("vigil_worker_batch_retries_total"), before[3];
    for (int i = 0; i < 3; i++)
        before[i] = itest_workers_metric(refused[i]);

    char params[160], other[160];
    snprintf(params, sizeof(params), "{\"idle_seconds\":300,\"tenant\":\"%s\"}", t.tenant);
    snprintf(other, sizeof(other), "{\"idle_seconds\":300,\"tenant\":\"%s-other\"}", t.tenant);
    char ids[4][128];
    const char *what[4] = {"unsigned", "wrong-secret", "tampered", "unknown"};
    for (int i = 0; i < 4; i++)
        snprintf(ids[i], sizeof(ids[i]), "itest-%s-%s", t.tenant, what[i]);
    send_command(&t, ids[0], "timeout_sessions", params, 0, NULL);
    send_command(&t, ids[1], "timeout_sessions", params, 0, "not-the-secret");
    /* signed for another tenant, then pointed at this one */
    json_t *o = json_loads(other, 0, NULL);
    json_t *msg = vg_command_new(ids[2], "timeout_sessions", o, 0, vg_now_us(), t.cfg->worker_group);
    json_decref(o);
    assert_int_equal(vg_command_sign(msg, itest_env("VIGIL_COMMAND_SECRET")), 0);
    json_object_set_new(json_object_get(msg, "params"), "tenant", json_string(t.tenant));
    char *v = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    itest_produce(&t, t.cfg->topic_commands, "timeout_sessions", v);
    free(v);
    send_signed(&t, ids[3], "drop_all_sessions", params, 0);
    char garbage[160];
    snprintf(garbage, sizeof(garbage), "{\"not a command\": \"itest-%s-garbage\"", t.tenant);
    itest_produce(&t, t.cfg->topic_commands, "timeout_sessions", garbage);
    itest_flush(&t);
    barrier(&t, "forged");

    /* Nothing recorded, nothing changed, no batch retried. */
    assert_text(session(&t, "victim"), "active|-|-|-");
    double retried = itest_workers_metric("vigil_worker_batch_retries_total") - retries;
    if (retried != 0)
        fail_msg("%.0f batch retries while refusing commands, want 0", retried);
    const double want[3] = {3, 1, 1}; /* unsigned, wrong secret, tampered; unknown; garbage */
    for (int i = 0; i < 3; i++) {
        double got = itest_workers_metric(refused[i]) - before[i];
        if (got != want[i])
            fail_msg("%s moved by %.0f, want %.0f", refused[i], got, want[i]);
    }
    for (int i = 0; i < 4; i++) {
        const char *q[1] = {ids[i]};
        assert_int_equal(
            itest_count(&t, "SELECT count(*) FROM ops.command_runs WHERE command_id = $1", 1, q),
            0);
    }

    /* All five on the DLQ, refused by the command stage (their dead letters
     * are acknowledged before the batch that read them commits, so before
     * the barrier's). */
    char err[512];
    rd_kafka_conf_t *conf = vg_kafka_conf(t.cfg, "itest-dlq", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(vg_kafka_set(conf, "group.id", t.tenant, err, sizeof(err)), 0);
    assert_int_equal(vg_kafka_set(conf, "enable.auto.commit", "false", err, sizeof(err)), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int32_t i = 0; i < nparts && i < 16; i++)
        rd_kafka_topic_partition_list_add(parts, t.cfg->topic_dlq, i)->offset = start[i];
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int found[5] = {0};
    int64_t deadline = vg_mono_ms() + 30000;
    int total = 0;
    while (total < 5 && vg_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err && m->payload) {
            char stage[64], error[256], hay[1024];
            snprintf(hay, sizeof(hay), "%.*s", (int)VG_MIN(m->len, sizeof(hay) - 1),
                     (const char *)m->payload);
            header(m, "vigil-stage", stage, sizeof(stage));
            header(m, "vigil-error", error, sizeof(error));
            for (int i = 0; i < 5; i++) {
                int hit = i < 4 ? strstr(hay, ids[i]) != NULL : strstr(hay, garbage) != NULL;
                if (hit && !found[i]) {
                    if (strcmp(stage, "command"))
                        fail_msg("%s on the DLQ with stage \"%s\", want \"command\"",
                                 i < 4 ? what[i] : "garbage", stage);
                    found[i] = 1;
                    total++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    for (int i = 0; i < 5; i++)
        if (!found[i])
            fail_msg("%s command not found on %s", i < 4 ? what[i] : "garbage", t.cfg->topic_dlq);
    itest_close(&t);
}

static void test_replayed_or_misaddressed_commands_are_refused_and_change_nothing(void **state)
{
    /* Signed with the stack's own secret, so only the audience and the
     * issue time can refuse them: a command of another deployment sharing
     * the secret, one captured and replayed a day later, and one from a
     * clock far ahead. */
    struct itest t;
    itest_open(&t, "cmd-replay");
    insert_victim(&t);
    const char *forged = "vigil_worker_commands_refused_total{reason=\"unsigned_or_forged\"}";
    double before = itest_workers_metric(forged);
    char params[160];
    snprintf(params, sizeof(params), "{\"idle_seconds\":300,\"tenant\":\"%s\"}", t.tenant);
    json_t *pj = json_loads(params, 0, NULL);
    const int64_t hour_us = 3600000000LL;
    const struct {
        const char *what, *aud;
        int64_t issued_us;
    } cases[] = {
        {"other-group", "vigil-workers-staging", vg_now_us()},
        {"a-day-old", t.cfg->worker_group, vg_now_us() - 25 * hour_us},
        {"from-the-future", t.cfg->worker_group, vg_now_us() + hour_us},
    };
    char ids[3][128];
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof(ids[i]), "itest-%s-%s", t.tenant, cases[i].what);
        json_t *msg = vg_command_new(ids[i], "timeout_sessions", pj, 0, cases[i].issued_us,
                                     cases[i].aud);
        assert_int_equal(vg_command_sign(msg, itest_env("VIGIL_COMMAND_SECRET")), 0);
        char *v = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        itest_produce(&t, t.cfg->topic_commands, "timeout_sessions", v);
        free(v);
    }
    json_decref(pj);
    itest_flush(&t);
    barrier(&t, "replay");

    assert_text(session(&t, "victim"), "active|-|-|-");
    for (int i = 0; i < 3; i++) {
        const char *q[1] = {ids[i]};
        if (itest_count(&t, "SELECT count(*) FROM ops.command_runs WHERE command_id = $1", 1, q))
            fail_msg("the %s command ran", cases[i].what);
    }
    double got = itest_workers_metric(forged) - before;
    if (got != 3)
        fail_msg("%s moved by %.0f, want 3", forged, got);
    itest_close(&t);
}

static void test_sweep_shared_by_two_workers_times_each_session_out_once(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-sweep");
    const char *env = getenv("VIGIL_ITEST_SWEEP_SESSIONS");
    long n = env && *env ? strtol(env, NULL, 10) : 100000;
    char ns[24];
    snprintf(ns, sizeof(ns), "%ld", n);
    const char *p[2] = {t.tenant, ns};
    exec_sql(&t,
             "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at,"
             " started_at, first_activity_at, last_activity_at)"
             " SELECT $1, 'sweep-' || g, 'lesson', 'active', now() - interval '30 min',"
             "  now() - interval '30 min', now() - interval '30 min',"
             "  now() - interval '10 min' - g * interval '1 ms'"
             " FROM generate_series(1, $2::int) g",
             2, p);

    char *urls = vg_xstrdup(itest_env("VIGIL_WORKER_HTTP"));
    char *w1 = strtok(urls, " "), *w2 = strtok(NULL, " ");
    assert_non_null(w1);
    assert_non_null(w2);
    const char *series = "vigil_worker_command_rows_total{command=\"timeout_sessions\"}";
    double before1 = itest_metric(w1, series), before2 = itest_metric(w2, series);

    char id[128], params[160];
    snprintf(id, sizeof(id), "itest-%s-sweep", t.tenant);
    snprintf(params, sizeof(params), "{\"idle_seconds\":300,\"batch_size\":500,\"tenant\":\"%s\"}",
             t.tenant);
    int64_t t0 = vg_mono_ms();
    send_signed(&t, id, "timeout_sessions", params, 0);
    char *run = wait_run(&t, id, 150000);
    print_message("sweep of %ld sessions done in %.1f s\n", n, (double)(vg_mono_ms() - t0) / 1e3);
    char want[64];
    snprintf(want, sizeof(want), "done|%ld|", n);
    if (strncmp(run, want, strlen(want)))
        fail_msg("run %s, want it to start with %s", run, want);
    free(run);

    /* Every session timed out once: one status, one outbox row, one
     * satellite row each, and affected counted each once. */
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1"
                                 " AND status = 'timeout' AND end_reason = 'idle'"
                                 " AND ended_at = last_activity_at",
                                 1, p),
                     n);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM ops.summary_outbox WHERE tenant_id = $1"
                                 " AND status = 'timeout'",
                                 1, p),
                     n);
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM vault.sat_session WHERE status = 'timeout'"
                                 " AND hk_session IN (SELECT vault.hash_key(tenant_id, session_id)"
                                 " FROM mart.sessions WHERE tenant_id = $1)",
                                 1, p),
                     n);
    /* Both workers took part. (Their counters also count whatever else
     * timed out meanwhile, so only the database's counts above are exact.) */
    double d1 = itest_metric(w1, series) - before1, d2 = itest_metric(w2, series) - before2;
    print_message("rows per worker: %.0f and %.0f\n", d1, d2);
    if (d1 <= 0 || d2 <= 0 || d1 + d2 < (double)n)
        fail_msg("the sweep was not shared: %.0f and %.0f rows of %ld", d1, d2, n);
    free(urls);
    itest_close(&t);
}

/* Runs vigilctl command ARGS... --wait; returns its exit status, its output in out. */
static int vigilctl_command(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/vigilctl command %s --wait --timeout 60 2>&1",
             itest_env("VIGIL_BIN_DIR"), args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Waits, if need be, until the stack's own expire schedule ("expire", every
 * five minutes on the clock) cannot fire within the next 60 s nor still be
 * running from its last firing: its sweep would take this test's sessions
 * first. At most about a minute. */
static void clear_of_the_expire_schedule(void)
{
    const int64_t period = 300;
    while (vg_now_us() / 1000000 % period < 15 || vg_now_us() / 1000000 % period > period - 60)
        vg_sleep_ms(500, NULL);
}

/* Sessions past their expires_at end as expired, at the earlier of their
 * expiry and their last activity; a dry run first lists them and changes
 * nothing. Sent by hand with vigilctl, which waits and prints the run. */
static void test_expire_sessions_by_hand_with_vigilctl_dry_run_first(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-expire");
    const char *p[1] = {t.tenant};
    /* 'gone' expired 20 minutes ago, idle for 10 (not the 30 of the stack's
     * timeout-idle schedule, which would take it first). */
    clear_of_the_expire_schedule();
    exec_sql(&t,
             "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at,"
             " started_at, first_activity_at, last_activity_at, expires_at) VALUES"
             " ($1, 'gone', 'lesson', 'active', now() - interval '50 min',"
             "  now() - interval '50 min', now() - interval '50 min',"
             "  now() - interval '10 min', now() - interval '20 min'),"
             " ($1, 'later', 'lesson', 'active', now() - interval '2 hours',"
             "  now() - interval '2 hours', now() - interval '2 hours', now(),"
             "  now() + interval '1 hour'),"
             " ($1, 'never', 'lesson', 'draft', now() - interval '2 hours', NULL, NULL, NULL,"
             "  NULL)",
             1, p);
    char args[256], out[4096], want[128];
    snprintf(args, sizeof(args), "expire_sessions --param tenant=%s --param batch_size=1 --dry-run",
             t.tenant);
    if (vigilctl_command(args, out, sizeof(out)) != 0)
        fail_msg("vigilctl command (dry run): %s", out);
    snprintf(want, sizeof(want), "[\"%s/gone\"]", t.tenant);
    if (!strstr(out, "status       done") || !strstr(out, "affected     1") || !strstr(out, want))
        fail_msg("dry run printed:\n%s", out);
    assert_text(session(&t, "gone"), "active|-|-|-");

    snprintf(args, sizeof(args), "expire_sessions --param tenant=%s --param batch_size=1",
             t.tenant);
    if (vigilctl_command(args, out, sizeof(out)) != 0)
        fail_msg("vigilctl command: %s", out);
    if (!strstr(out, "affected     1"))
        fail_msg("run printed:\n%s", out);
    const char *q[2] = {t.tenant, "gone"};
    char *at = value_of(&t,
                        "SELECT least(expires_at, last_activity_at)::text FROM mart.sessions"
                        " WHERE tenant_id = $1 AND session_id = $2",
                        2, q);
    snprintf(want, sizeof(want), "expired|%s|1800000|expired", at);
    free(at);
    assert_text(session(&t, "gone"), want);
    assert_text(session(&t, "later"), "active|-|-|-");
    assert_text(session(&t, "never"), "draft|-|-|-");
    itest_close(&t);
}

/* Produces an event of this tenant for visitor (session "s-<visitor>"). */
static void send_event(struct itest *t, const char *event_id, const char *visitor)
{
    char value[1024], sid[64], key[160];
    snprintf(sid, sizeof(sid), "s-%s", visitor);
    itest_event(t, value, sizeof(value), event_id, "page.view", sid, visitor, NULL,
                "{\"path\":\"/a\"}");
    snprintf(key, sizeof(key), "%s/%s", t->tenant, sid);
    itest_produce(t, t->cfg->topic_events, key, value);
}

static void test_erase_subject_dry_run_then_erase_removes_the_visitor(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-erase");
    const char *p[1] = {t.tenant};
    char ids[4][37];
    for (int i = 0; i < 4; i++) {
        itest_uuid(ids[i]);
        send_event(&t, ids[i], i < 3 ? "v-gone" : "v-kept");
    }
    itest_flush(&t);
    assert_true(ITEST_WAIT(
        itest_count(&t,
                    "SELECT count(*) FROM vault.link_event WHERE hk_tenant = vault.hash_key($1)", 1,
                    p) == 4,
        60000));
    /* The visitor's rows: 3 raw, 3 staging, 3 event links, its hub, its
     * session link. */
    const char *count_sql =
        "SELECT (SELECT count(*) FROM raw.events WHERE tenant_id = $1"
        "          AND body->>'visitor_id' = 'v-gone')"
        " + (SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND visitor_id = 'v-gone')"
        " + (SELECT count(*) FROM vault.link_event WHERE hk_visitor = vault.hash_key($1, 'v-gone'))"
        " + (SELECT count(*) FROM vault.hub_visitor WHERE hk_visitor = vault.hash_key($1, "
        "'v-gone'))"
        " + (SELECT count(*) FROM vault.link_session_visitor"
        "      WHERE hk_visitor = vault.hash_key($1, 'v-gone'))";
    assert_int_equal(itest_count(&t, count_sql, 1, p), 11);

    char id[128], params[160], want[64];
    snprintf(params, sizeof(params), "{\"tenant\":\"%s\",\"visitor_id\":\"v-gone\"}", t.tenant);
    snprintf(id, sizeof(id), "itest-%s-erase-dry", t.tenant);
    send_signed(&t, id, "erase_subject", params, 1);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    char listed[128];
    snprintf(listed, sizeof(listed), "\"raw.events:%s/%s\"", t.tenant, ids[0]);
    if (strncmp(run, "done|11|", 8) || !strstr(run, listed) || !strstr(run, "vault.hub_visitor:"))
        fail_msg("dry run: %s; want done|11| listing %s and the hub", run, listed);
    free(run);
    assert_int_equal(itest_count(&t, count_sql, 1, p), 11);

    snprintf(id, sizeof(id), "itest-%s-erase", t.tenant);
    send_signed(&t, id, "erase_subject", params, 0);
    run = wait_run(&t, id, RUN_TIMEOUT_MS);
    snprintf(want, sizeof(want), "done|11|");
    if (strncmp(run, want, strlen(want)) || !strstr(run, listed))
        fail_msg("erase: %s; want %s listing %s", run, want, listed);
    free(run);
    assert_int_equal(itest_count(&t, count_sql, 1, p), 0);
    /* The other visitor, the sessions and the event ids stay. */
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1", 1, p), 1);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1", 1, p), 2);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM raw.event_ids WHERE tenant_id = $1", 1, p), 4);
    itest_close(&t);
}

/* Produces an identify of this tenant: visitor is user (no session). */
static void send_identify(struct itest *t, const char *event_id, const char *visitor,
                          const char *user)
{
    char value[1024], key[160];
    itest_event(t, value, sizeof(value), event_id, "identify", NULL, visitor, NULL, NULL);
    size_t n = strlen(value);
    snprintf(value + n - 1, sizeof(value) - n + 1, ",\"user_id\":\"%s\"}", user);
    snprintf(key, sizeof(key), "%s/%s", t->tenant, visitor);
    itest_produce(t, t->cfg->topic_events, key, value);
}

static void test_erase_subject_of_a_user_removes_its_identity_links(void **state)
{
    /* Segment's identify and alias link visitors to users in the vault
     * (docs/segment.md): erasing a user takes its hub and links with it. */
    struct itest t;
    itest_open(&t, "cmd-erase-user");
    const char *p[1] = {t.tenant};
    char gone[37], kept[37];
    itest_uuid(gone);
    itest_uuid(kept);
    send_identify(&t, gone, "v-1", "u-gone");
    send_identify(&t, kept, "v-2", "u-kept");
    itest_flush(&t);
    const char *links = "SELECT count(*) FROM vault.link_visitor_user l JOIN vault.hub_user u"
                        " USING (hk_user) WHERE u.tenant_id = $1";
    assert_true(ITEST_WAIT(itest_count(&t, links, 1, p) == 2, 60000));

    char id[128], params[160];
    snprintf(params, sizeof(params), "{\"tenant\":\"%s\",\"user_id\":\"u-gone\"}", t.tenant);
    snprintf(id, sizeof(id), "itest-%s-erase-user", t.tenant);
    send_signed(&t, id, "erase_subject", params, 0);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    /* 1 raw, 1 staging, 1 event link, the user's hub, its visitor link */
    if (strncmp(run, "done|5|", 7))
        fail_msg("erase u-gone: %s; want done|5|", run);
    free(run);
    assert_int_equal(itest_count(&t, links, 1, p), 1);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM vault.hub_user WHERE tenant_id = $1", 1, p), 1);
    const char *q[2] = {t.tenant, "u-kept"};
    assert_int_equal(itest_count(&t,
                                 "SELECT count(*) FROM vault.link_visitor_user l"
                                 " JOIN vault.hub_user u USING (hk_user)"
                                 " WHERE u.tenant_id = $1 AND u.user_id = $2",
                                 2, q),
                     1);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1", 1, p), 1);
    itest_close(&t);
}

static void test_erase_subject_erases_the_exact_visitor_id_not_its_case_variant(void **state)
{
    /* The vault's hash keys fold case: "v-case" and "V-CASE" share one
     * hub (holding the id seen first, "v-case"). Erasing "V-CASE" must
     * leave every row of "v-case": its events, their links and the hub. */
    struct itest t;
    itest_open(&t, "cmd-erase-case");
    const char *p[1] = {t.tenant};
    char kept[37], gone[2][37];
    itest_uuid(kept);
    send_event(&t, kept, "v-case");
    itest_flush(&t);
    assert_true(ITEST_WAIT(
        itest_count(&t, "SELECT count(*) FROM vault.hub_visitor WHERE tenant_id = $1", 1, p) == 1,
        60000));
    for (int i = 0; i < 2; i++) {
        itest_uuid(gone[i]);
        send_event(&t, gone[i], "V-CASE");
    }
    itest_flush(&t);
    assert_true(ITEST_WAIT(
        itest_count(&t,
                    "SELECT count(*) FROM vault.link_event WHERE hk_tenant = vault.hash_key($1)", 1,
                    p) == 3,
        60000));

    char id[128], params[160];
    snprintf(params, sizeof(params), "{\"tenant\":\"%s\",\"visitor_id\":\"V-CASE\"}", t.tenant);
    snprintf(id, sizeof(id), "itest-%s-erase-case", t.tenant);
    send_signed(&t, id, "erase_subject", params, 0);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    if (strncmp(run, "done|6|", 7)) /* 2 raw, 2 staging, 2 event links */
        fail_msg("erase V-CASE: %s; want done|6| (its own events only)", run);
    free(run);
    const char *q[2] = {t.tenant, kept};
    const struct {
        const char *what, *sql;
        long long want;
    } left[] = {
        {"raw.events of v-case", "SELECT count(*) FROM raw.events WHERE tenant_id = $1"
                                 " AND event_id = $2::uuid", 1},
        {"staging.events of v-case", "SELECT count(*) FROM staging.events WHERE tenant_id = $1"
                                     " AND event_id = $2::uuid", 1},
        {"vault.link_event of v-case", "SELECT count(*) FROM vault.link_event"
                                       " WHERE hk_event = vault.hash_key($1, $2)", 1},
        {"the hub of v-case", "SELECT count(*) FROM vault.hub_visitor WHERE tenant_id = $1"
                              " AND visitor_id = 'v-case' AND $2 <> ''", 1},
        {"events of V-CASE", "SELECT count(*) FROM staging.events WHERE tenant_id = $1"
                             " AND visitor_id = 'V-CASE' AND $2 <> ''", 0},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(left); i++) {
        long long n = itest_count(&t, left[i].sql, 2, q);
        if (n != left[i].want)
            fail_msg("%s: %lld rows, want %lld", left[i].what, n, left[i].want);
    }
    itest_close(&t);
}

static void test_reprocess_rebuilds_missing_staging_and_vault_rows_once(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-reproc");
    const char *p[1] = {t.tenant};
    for (int i = 0; i < 5; i++) {
        char eid[37], visitor[16];
        itest_uuid(eid);
        snprintf(visitor, sizeof(visitor), "v-%d", i);
        send_event(&t, eid, visitor);
    }
    itest_flush(&t);
    const char *digest_sql =
        "SELECT md5(string_agg(s.event_id::text || s.hash_diff || s.hk_event || l.type"
        "   || l.occurred_at::text, ',' ORDER BY s.event_id))"
        " FROM staging.events s JOIN vault.link_event l USING (hk_event) WHERE s.tenant_id = $1";
    assert_true(ITEST_WAIT(
        itest_count(&t,
                    "SELECT count(*) FROM vault.link_event WHERE hk_tenant = vault.hash_key($1)", 1,
                    p) == 5,
        60000));
    char *before = value_of(&t, digest_sql, 1, p);
    /* Lose two staging rows and a third event's vault link. */
    exec_sql(&t,
             "WITH e AS (SELECT event_id, hk_event FROM staging.events WHERE tenant_id = $1"
             "  ORDER BY event_id LIMIT 3),"
             " s AS (DELETE FROM staging.events WHERE tenant_id = $1 AND event_id IN"
             "  (SELECT event_id FROM e ORDER BY event_id LIMIT 2))"
             " DELETE FROM vault.link_event WHERE hk_event IN"
             "  (SELECT hk_event FROM e ORDER BY event_id OFFSET 2)",
             1, p);

    char id[128], params[256];
    snprintf(params, sizeof(params),
             "{\"from\":\"2000-01-01T00:00:00Z\",\"to\":\"2100-01-01T00:00:00Z\","
             "\"batch_size\":2,\"tenant\":\"%s\"}",
             t.tenant);
    snprintf(id, sizeof(id), "itest-%s-reprocess-dry", t.tenant);
    send_signed(&t, id, "reprocess", params, 1);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    if (strncmp(run, "done|3|", 7))
        fail_msg("dry run: %s; want done|3|", run);
    free(run);
    assert_int_equal(
        itest_count(&t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1", 1, p), 3);

    snprintf(id, sizeof(id), "itest-%s-reprocess", t.tenant);
    send_signed(&t, id, "reprocess", params, 0);
    run = wait_run(&t, id, RUN_TIMEOUT_MS);
    if (strncmp(run, "done|3|", 7))
        fail_msg("reprocess: %s; want done|3|", run);
    free(run);
    /* The same rows as the pipeline wrote, hash keys and hash diffs included. */
    char *after = value_of(&t, digest_sql, 1, p);
    assert_string_equal(after, before);
    free(after);
    free(before);

    /* Again: nothing left to rebuild. */
    snprintf(id, sizeof(id), "itest-%s-reprocess-again", t.tenant);
    send_signed(&t, id, "reprocess", params, 0);
    assert_text(wait_run(&t, id, RUN_TIMEOUT_MS), "done|0|[]");
    itest_close(&t);
}

static void test_purge_raw_drops_partitions_of_old_days_only(void **state)
{
    struct itest t;
    itest_open(&t, "cmd-purge");
    /* A day 40 days back, empty; today's partition must stay. An earlier
     * run's purge left its horizon, which refuses that day: forget it. */
    exec_sql(&t, "DELETE FROM raw.purge_horizon", 0, NULL);
    exec_sql(&t, "SELECT raw.ensure_partition(now() - interval '40 days')", 0, NULL);
    char *old = value_of(&t,
                         "SELECT 'raw.events_' || to_char((now() - interval '40 days')"
                         " AT TIME ZONE 'UTC', 'YYYYMMDD')",
                         0, NULL);
    const char *q[1] = {old + 4};
    const char *exists = "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                         " ON n.oid = c.relnamespace WHERE n.nspname = 'raw' AND c.relname = $1";
    assert_int_equal(itest_count(&t, exists, 1, q), 1);
    char id[128], quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", old);
    snprintf(id, sizeof(id), "itest-%s-purge-dry", t.tenant);
    send_signed(&t, id, "purge_raw", "{\"older_than_days\":30}", 1);
    char *run = wait_run(&t, id, RUN_TIMEOUT_MS);
    if (strncmp(run, "done|", 5) || !strstr(run, quoted))
        fail_msg("dry run: %s; want it to list %s", run, quoted);
    free(run);
    assert_int_equal(itest_count(&t, exists, 1, q), 1);

    snprintf(id, sizeof(id), "itest-%s-purge", t.tenant);
    send_signed(&t, id, "purge_raw", "{\"older_than_days\":30}", 0);
    run = wait_run(&t, id, RUN_TIMEOUT_MS);
    if (strncmp(run, "done|", 5) || !strncmp(run, "done|0|", 7) || !strstr(run, quoted))
        fail_msg("purge: %s; want at least 1 partition, %s among them", run, quoted);
    free(run);
    assert_int_equal(itest_count(&t, exists, 1, q), 0);

    /* Its event ids went with it: a replay of an event received that day
     * (a consumer reset, a DLQ replay) must not land a second time in a
     * recreated partition. It is refused (dead-lettered); the barrier, an
     * event of the same key received now, lands. */
    char ev[1024], late[37], now_id[37], at40[VG_TS_LEN];
    vg_time_format(vg_now_us() - 40LL * 86400 * 1000000, at40);
    itest_uuid(late);
    itest_event(&t, ev, sizeof(ev), late, "page.view", "s-purged", NULL, at40, NULL);
    char *rcv = strstr(ev, "\"received_at\":\"");
    assert_non_null(rcv);
    memcpy(rcv + 15, at40, strlen(at40)); /* same length: received 40 days ago */
    char key[160];
    snprintf(key, sizeof(key), "%s/s-purged", t.tenant);
    itest_produce(&t, t.cfg->topic_events, key, ev);
    itest_uuid(now_id);
    itest_event(&t, ev, sizeof(ev), now_id, "page.view", "s-purged", NULL, NULL, NULL);
    itest_produce(&t, t.cfg->topic_events, key, ev);
    itest_flush(&t);
    const char *e[2] = {t.tenant, now_id};
    const char *landed_sql = "SELECT count(*) FROM raw.events WHERE tenant_id = $1"
                             " AND event_id = $2::uuid";
    if (!ITEST_WAIT(itest_count(&t, landed_sql, 2, e) == 1, 60000))
        fail_msg("the barrier event did not land");
    e[1] = late;
    if (itest_count(&t, landed_sql, 2, e) != 0)
        fail_msg("an event received before the purge horizon landed again");
    assert_int_equal(itest_count(&t, exists, 1, q), 0);
    char *today =
        value_of(&t, "SELECT 'events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')", 0, NULL);
    q[0] = today;
    assert_int_equal(itest_count(&t, exists, 1, q), 1);
    free(today);
    free(old);
    itest_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_sessions_time_out_at_their_last_activity_with_summaries),
        cmocka_unit_test(test_dry_run_cleanup_lists_a_draft_and_deletes_nothing),
        cmocka_unit_test(test_expire_sessions_by_hand_with_vigilctl_dry_run_first),
        cmocka_unit_test(test_same_command_id_sent_twice_runs_once),
        cmocka_unit_test(test_forged_or_unsigned_commands_go_to_the_dlq_and_change_nothing),
        cmocka_unit_test(test_replayed_or_misaddressed_commands_are_refused_and_change_nothing),
        cmocka_unit_test(test_sweep_shared_by_two_workers_times_each_session_out_once),
        cmocka_unit_test(test_erase_subject_dry_run_then_erase_removes_the_visitor),
        cmocka_unit_test(test_erase_subject_erases_the_exact_visitor_id_not_its_case_variant),
        cmocka_unit_test(test_erase_subject_of_a_user_removes_its_identity_links),
        cmocka_unit_test(test_reprocess_rebuilds_missing_staging_and_vault_rows_once),
        cmocka_unit_test(test_purge_raw_drops_partitions_of_old_days_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
