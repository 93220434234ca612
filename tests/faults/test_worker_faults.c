/*
 * Faults on the real stack, each ending with exact counts in every layer:
 * workers killed with SIGKILL again and again under load, PostgreSQL stopped
 * under load, a worker paused past its group session and resumed, paused in
 * the middle of its batch transaction (its stale commit refused), the
 * group scaled from one worker to three and back under load, and Kafka
 * restarted under load, recovered from within a bound.
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
#include "util.h"

#define LAND_TIMEOUT_MS 240000

struct load {
    int sent;           /* distinct events */
    int sessions;       /* distinct session ids used */
    int64_t dlq_before; /* the DLQ's size when the load began */
};

/* Queues n new events (and every fifth one again) for this tenant, without
 * waiting for Kafka to acknowledge them. */
static void queue_events(struct itest *t, struct load *l, int n)
{
    char id[37], key[128], sid[32], value[1024];
    if (l->sent == 0)
        l->dlq_before = itest_dlq_total(t);
    for (int i = 0; i < n; i++) {
        itest_uuid(id);
        int s = (l->sent + i) % 50;
        snprintf(sid, sizeof(sid), "s-%d", s);
        snprintf(key, sizeof(key), "%s/%s", t->tenant, sid);
        itest_event(t, value, sizeof(value), id, "page.view", sid, NULL, NULL, "{\"k\":\"v\"}");
        itest_produce(t, t->cfg->topic_events, key, value);
        if (i % 5 == 0)
            itest_produce(t, t->cfg->topic_events, key, value);
    }
    l->sent += n;
    l->sessions = l->sent < 50 ? l->sent : 50;
}

/* Sends n new events (and every fifth one again) for this tenant. */
static void send_events(struct itest *t, struct load *l, int n)
{
    queue_events(t, l, n);
    itest_flush(t);
}

static long long q(struct itest *t, const char *sql)
{
    const char *p[1] = {t->tenant};
    return itest_count(t, sql, 1, p);
}

static void assert_exact(struct itest *t, const struct load *l)
{
    static const char raw[] = "SELECT count(*) FROM raw.events WHERE tenant_id = $1";
    if (!ITEST_WAIT(q(t, raw) >= l->sent, LAND_TIMEOUT_MS))
        fail_msg("%lld of %d events landed", q(t, raw), l->sent);
    assert_int_equal(q(t, raw), l->sent);
    assert_int_equal(q(t, "SELECT count(*) FROM staging.events WHERE tenant_id = $1"), l->sent);
    assert_int_equal(q(t, "SELECT count(*) FROM vault.link_event l JOIN vault.hub_tenant h "
                          "USING (hk_tenant) WHERE h.tenant_id = $1"),
                     l->sent);
    assert_int_equal(q(t, "SELECT count(*) FROM vault.hub_session WHERE tenant_id = $1"),
                     l->sessions);
    assert_int_equal(q(t, "SELECT sum(event_count) FROM mart.sessions WHERE tenant_id = $1"),
                     l->sent);
    /* Faults are no reason to dead-letter anything: a duplicate or a retried
     * batch is a no-op, never a refused message. */
    int64_t dead = itest_dlq_total(t) - l->dlq_before;
    if (dead != 0)
        fail_msg("%lld messages went to the DLQ during the fault", (long long)dead);
}

static void test_workers_killed_again_and_again_lose_and_double_nothing(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "kill");
    srand((unsigned)getpid());
    for (int round = 0; round < 6; round++) {
        send_events(&t, &l, 1500);
        /* Kill one at a random moment of its work, then bring it back. */
        vg_sleep_ms(rand() % 400, NULL);
        const char *victim = round % 2 ? "worker-1" : "worker-2";
        if (itest_signal(victim, SIGKILL))
            fail_msg("could not kill %s", victim);
        assert_int_equal(itest_dev("up"), 0);
    }
    assert_exact(&t, &l);
    itest_close(&t);
}

/* POSTs n events in batches of 50 through the producer, as tenant demo with
 * visitor_id tag; returns how many were acknowledged with 202. */
static int post_via_producer(const char *tag, int n)
{
    int acked = 0;
    for (int sent = 0; sent < n; sent += 50) {
        char cmd[1024];
        snprintf(
            cmd, sizeof(cmd),
            "for i in $(seq 1 50); do printf '{\"type\":\"pg.down\",\"visitor_id\":\"%s\"}\\n';"
            " done | curl -s -o /dev/null -w '%%{http_code}' --max-time 30"
            " -H \"Authorization: Bearer $VIGIL_DEMO_KEY\""
            " -H 'Content-Type: application/x-ndjson' --data-binary @- $VIGIL_HTTP/v1/events",
            tag);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        char code[8] = "";
        if (!fgets(code, sizeof(code), f))
            code[0] = '\0';
        pclose(f);
        if (!strcmp(code, "202"))
            acked += 50;
    }
    return acked;
}

static long long demo_count(struct itest *t, const char *sql, const char *tag)
{
    const char *p[1] = {tag};
    return itest_count(t, sql, 1, p);
}

static void test_database_outage_under_load_is_waited_out(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "pgdown");
    send_events(&t, &l, 2000);
    assert_int_equal(itest_dev("stop postgres"), 0);
    send_events(&t, &l, 2000); /* Kafka keeps them while the database is away */
    /* The producer has no database: it goes on accepting, durably. */
    char tag[64];
    snprintf(tag, sizeof(tag), "%s-http", t.tenant);
    assert_int_equal(post_via_producer(tag, 500), 500);
    assert_int_equal(itest_dev("up"), 0);
    PQreset(t.db);
    assert_int_equal(PQstatus(t.db), CONNECTION_OK);
    PQclear(PQexec(t.db, "SET TimeZone = 'UTC'"));
    send_events(&t, &l, 1000);
    assert_exact(&t, &l);
    static const char raw_http[] = "SELECT count(*) FROM raw.events WHERE tenant_id = 'demo'"
                                   " AND body->>'visitor_id' = $1";
    if (!ITEST_WAIT(demo_count(&t, raw_http, tag) >= 500, LAND_TIMEOUT_MS))
        fail_msg("%lld of 500 events accepted during the outage landed",
                 demo_count(&t, raw_http, tag));
    assert_int_equal(demo_count(&t, raw_http, tag), 500);
    assert_int_equal(demo_count(&t,
                                "SELECT count(*) FROM staging.events WHERE tenant_id = 'demo'"
                                " AND visitor_id = $1",
                                tag),
                     500);
    itest_close(&t);
}

static void test_worker_paused_past_its_session_commits_nothing_stale(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "pause");
    send_events(&t, &l, 1000);
    assert_int_equal(itest_signal("worker-1", SIGSTOP), 0);
    /* While it sleeps, the group gives its partitions to worker-2. */
    send_events(&t, &l, 3000);
    assert_exact(&t, &l);
    assert_int_equal(itest_signal("worker-1", SIGCONT), 0);
    send_events(&t, &l, 2000);
    assert_exact(&t, &l);
    itest_close(&t);
}

static pid_t extra_worker; /* killed by the teardown if a test failed midway */

static pid_t start_extra_worker(const char *id, const char *port)
{
    return extra_worker = itest_start_worker(id, port);
}

static double assigned_on(const char *port)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
    return itest_metric(base, "vigil_worker_assigned_partitions");
}

static void stop_extra_worker(pid_t pid)
{
    int status = 0;
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    extra_worker = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* finished its batch, left the group */
}

static void test_scaling_from_one_worker_to_three_and_back_under_load(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "scale");
    assert_int_equal(itest_dev("stop worker-2"), 0); /* one worker */
    send_events(&t, &l, 1500);
    /* three: worker-2 back and one more, joining while the load is worked off */
    assert_int_equal(itest_dev("up"), 0);
    pid_t third = start_extra_worker("worker-fault-3", "9229");
    send_events(&t, &l, 1500);
    if (!ITEST_WAIT(assigned_on("9229") > 0, 60000))
        fail_msg("the third worker was given no partition");
    send_events(&t, &l, 1500);
    /* back to one, again under load */
    stop_extra_worker(third);
    assert_int_equal(itest_dev("stop worker-2"), 0);
    send_events(&t, &l, 1500);
    assert_exact(&t, &l);
    assert_int_equal(itest_dev("up"), 0);
    itest_close(&t);
}

/* From `./dev up` starting a stopped broker to the last event landed. The
 * group needs a session timeout (10 s) and a rebalance at most; a worker that
 * stalled after the restart (a rebalance waiting on a member that does not
 * poll, a partition whose fetch never restarts) would take minutes. */
#define KAFKA_RECOVERY_BOUND_MS 90000

static void test_a_kafka_restart_is_recovered_from_within_a_bound(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "kafka-restart");
    send_events(&t, &l, 500);
    assert_int_equal(itest_dev("stop kafka"), 0);
    queue_events(&t, &l, 500); /* held by the client until the broker is back */
    int64_t t0 = vg_mono_ms();
    assert_int_equal(itest_dev("up"), 0);
    int64_t up_ms = vg_mono_ms() - t0;
    itest_flush(&t);
    assert_exact(&t, &l);
    int64_t recovered_ms = vg_mono_ms() - t0;
    fprintf(stderr, "kafka restart: stack ready after %lld ms, every event landed after %lld ms\n",
            (long long)up_ms, (long long)recovered_ms);
    if (recovered_ms > KAFKA_RECOVERY_BOUND_MS)
        fail_msg("the pipeline took %lld ms to recover from a Kafka restart (bound %d ms)",
                 (long long)recovered_ms, KAFKA_RECOVERY_BOUND_MS);
    itest_close(&t);
}

/* worker-1's backend waits on a lock: it is inside its batch transaction. */
static int worker_1_waits_on_a_lock(struct itest *t)
{
    return itest_count(t,
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'worker-1'"
                       " AND wait_event_type = 'Lock'",
                       0, NULL) > 0;
}

static double worker_1_conflicts(void)
{
    char *urls = vg_xstrdup(itest_env("VIGIL_WORKER_HTTP"));
    char *w1 = strtok(urls, " ");
    assert_non_null(w1);
    double v = itest_metric(w1, "vigil_worker_offset_conflicts_total");
    free(urls);
    return v;
}

/*
 * The case the compare-and-set exists for. The test holds the offset rows,
 * so worker-1 stops inside its batch transaction, at the compare-and-set;
 * there it is paused with SIGSTOP. The group hands its partitions to
 * worker-2 after the session timeout, the database ends worker-1's idle
 * transaction (worker.idle_tx_timeout_ms) so its locks go, and worker-2
 * lands the same messages. Resumed, worker-1 retries its batch and must be
 * refused: the offsets it expected are gone.
 */
static void test_worker_paused_inside_its_batch_has_its_stale_commit_refused(void **state)
{
    struct itest t;
    struct load l = {0};
    itest_open(&t, "midbatch");
    send_events(&t, &l, 500); /* every partition has its offsets row */
    assert_exact(&t, &l);
    double conflicts_before = worker_1_conflicts();

    const char *g[1] = {t.cfg->worker_group};
    PGconn *holder = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN"));
    PGresult *r = PQexecParams(holder,
                               "SELECT 1 FROM ops.consumer_offsets WHERE consumer_group = $1"
                               " FOR UPDATE",
                               1, NULL, g, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    send_events(&t, &l, 1000); /* 50 sessions: both workers get some */
    if (!ITEST_WAIT(worker_1_waits_on_a_lock(&t), 60000)) {
        PQfinish(holder);
        fail_msg("worker-1 never reached its compare-and-set");
    }
    assert_int_equal(itest_signal("worker-1", SIGSTOP), 0);
    PQclear(PQexec(holder, "ROLLBACK"));
    PQfinish(holder);

    /* worker-2 takes over and lands everything while worker-1 sleeps. */
    assert_exact(&t, &l);
    assert_int_equal(itest_signal("worker-1", SIGCONT), 0);
    if (!ITEST_WAIT(worker_1_conflicts() > conflicts_before, 60000))
        fail_msg("worker-1's stale batch was not refused (conflicts %.0f, before %.0f)",
                 worker_1_conflicts(), conflicts_before);
    send_events(&t, &l, 1000);
    assert_exact(&t, &l);
    itest_close(&t);
}

/* Whatever a failed test left behind: no stray worker in the group, every
 * part of the stack running again. */
static int teardown(void **state)
{
    (void)state;
    if (extra_worker > 0) {
        kill(extra_worker, SIGKILL);
        waitpid(extra_worker, NULL, 0);
        extra_worker = 0;
    }
    itest_signal("worker-1", SIGCONT);
    return itest_dev("up");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_workers_killed_again_and_again_lose_and_double_nothing,
                                  teardown),
        cmocka_unit_test_teardown(test_database_outage_under_load_is_waited_out, teardown),
        cmocka_unit_test_teardown(test_worker_paused_past_its_session_commits_nothing_stale,
                                  teardown),
        cmocka_unit_test_teardown(test_worker_paused_inside_its_batch_has_its_stale_commit_refused,
                                  teardown),
        cmocka_unit_test_teardown(test_scaling_from_one_worker_to_three_and_back_under_load,
                                  teardown),
        cmocka_unit_test_teardown(test_a_kafka_restart_is_recovered_from_within_a_bound,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
