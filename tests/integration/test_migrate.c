/* Migrations on the real PostgreSQL: idempotent, complete, tamper-evident,
 * and serialized when several run at once (a Kubernetes Job and the init
 * containers of every worker and scheduler). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "itest.h"
#include "migrate.h"
#include "util.h"

static PGconn *conn;
static char sqldir[512];

static int setup(void **state)
{
    (void)state;
    conn = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect: %s", PQerrorMessage(conn));
        return -1;
    }
    snprintf(sqldir, sizeof(sqldir), "%s/schemas/sql", itest_env("VIGIL_SOURCE_DIR"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(conn);
    return 0;
}

static void test_migrating_twice_applies_nothing_the_second_time(void **state)
{
    int applied = -1;
    char err[1024] = "";
    if (vg_migrate_run(conn, sqldir, &applied, err, sizeof(err)))
        fail_msg("first run: %s", err);
    if (vg_migrate_run(conn, sqldir, &applied, err, sizeof(err)))
        fail_msg("second run: %s", err);
    assert_int_equal(applied, 0);

    PGresult *r = PQexec(conn, "SELECT count(*) FROM ops.schema_migrations");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 1);
    PQclear(r);
}

/* Every relation DESIGN.md section 6 names. */
static const char *const relations[] = {
    "raw.events",           "staging.events",     "vault.hub_tenant",
    "vault.hub_session",    "vault.hub_visitor",  "vault.link_session_visitor",
    "vault.link_event",     "vault.sat_session",  "mart.sessions",
    "mart.session_stats",   "mart.draft_conversion", "mart.pipeline_status",
    "ops.consumer_offsets", "ops.command_runs",   "ops.schema_migrations",
};

static void test_every_table_and_view_of_the_design_exists(void **state)
{
    for (size_t i = 0; i < sizeof(relations) / sizeof(relations[0]); i++) {
        const char *p[1] = {relations[i]};
        PGresult *r = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, p, NULL,
                                   NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
            fail_msg("%s does not exist", relations[i]);
        PQclear(r);
    }
}

/* Column lists the design fixes (a sample of the contract, checked by name). */
static void test_design_columns_exist(void **state)
{
    static const char *const cols[][2] = {
        {"raw.events", "tenant_id"},        {"raw.events", "event_id"},
        {"raw.events", "body"},             {"raw.events", "received_at"},
        {"raw.events", "loaded_at"},        {"staging.events", "hash_diff"},
        {"staging.events", "record_source"}, {"staging.events", "load_date"},
        {"vault.hub_session", "hk_session"}, {"vault.link_event", "hk_event"},
        {"vault.sat_session", "hash_diff"}, {"mart.sessions", "duration_ms"},
        {"mart.sessions", "heartbeat_count"}, {"mart.sessions", "first_activity_at"},
        {"ops.consumer_offsets", "next_offset"}, {"ops.command_runs", "sample"},
    };
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        const char *p[2] = {cols[i][0], cols[i][1]};
        PGresult *r = PQexecParams(conn,
                                   "SELECT count(*) FROM pg_attribute WHERE attrelid = "
                                   "$1::regclass AND attname = $2 AND NOT attisdropped",
                                   2, NULL, p, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        if (strcmp(PQgetvalue(r, 0, 0), "1") != 0)
            fail_msg("%s.%s is missing", cols[i][0], cols[i][1]);
        PQclear(r);
    }
}

static void test_changed_applied_migration_is_refused(void **state)
{
    char tmp[] = "/tmp/vigil-migrate-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cp %s/*.sql %s/ && f=$(ls %s/*.sql | head -n 1) && echo '-- changed' >> \"$f\"",
             sqldir, tmp, tmp);
    assert_int_equal(system(cmd), 0);
    int applied = -1;
    char err[1024] = "";
    int rc = vg_migrate_run(conn, tmp, &applied, err, sizeof(err));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(rc, 0);
    if (!strstr(err, "001_"))
        fail_msg("error does not name the changed file: %s", err);
    if (!strstr(err, "changed"))
        fail_msg("error does not say it changed: %s", err);
}

static void exec_ok(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%.80s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Migration 020 once more, in a transaction rolled back: a satellite row
 * whose hub is missing (a session written to mart.sessions directly, before
 * the worker loaded hubs with satellites) gets its hub_session row, with the
 * vault's hash key and the session's own business key. */
static void test_migration_020_loads_the_hub_of_an_orphan_satellite(void **state)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/020_hub_session_of_satellites.sql", sqldir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char sql[1 << 16];
    size_t n = fread(sql, 1, sizeof(sql) - 1, f);
    fclose(f);
    sql[n] = '\0';
    exec_ok("BEGIN");
    exec_ok("INSERT INTO mart.sessions (tenant_id, session_id, status)"
            " VALUES ('itest-mig020', 'Orphan-1', 'active')");
    exec_ok("INSERT INTO vault.sat_session (hk_session, hash_diff, record_source, status)"
            " VALUES (vault.hash_key('itest-mig020', 'Orphan-1'), vault.hash_diff('x'),"
            " 'itest', 'active')");
    exec_ok(sql);
    PGresult *r = PQexec(conn, "SELECT concat_ws('|', tenant_id, session_id, record_source)"
                               " FROM vault.hub_session"
                               " WHERE hk_session = vault.hash_key('itest-mig020', 'orphan-1')");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    char got[256];
    snprintf(got, sizeof(got), "%s", ok ? PQgetvalue(r, 0, 0) : PQresultErrorMessage(r));
    PQclear(r);
    exec_ok("ROLLBACK");
    if (!ok)
        fail_msg("no hub_session row for the orphan satellite: %s", got);
    assert_string_equal(got, "itest-mig020|Orphan-1|mart.sessions");
}

/* One vg_migrate_run() on a connection of its own, in a thread. */
struct run {
    PGconn *conn;
    pthread_t thread;
    int rc, applied;
    char err[1024];
    int done; /* set (atomically) when the run has returned */
};

static void *run_migrate(void *arg)
{
    struct run *r = arg;
    r->rc = vg_migrate_run(r->conn, sqldir, &r->applied, r->err, sizeof(r->err));
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Advisory locks of the backends pid1 and pid2 that are granted (1) or
 * waited for (0). */
static long long advisory_locks(int pid1, int pid2, int granted)
{
    char a[16], b[16];
    snprintf(a, sizeof(a), "%d", pid1);
    snprintf(b, sizeof(b), "%d", pid2);
    const char *p[3] = {a, b, granted ? "true" : "false"};
    PGresult *r = PQexecParams(conn,
                               "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                               " AND granted = $3::bool AND pid IN ($1::int, $2::int)",
                               3, NULL, p, NULL, NULL, 0);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

static void test_concurrent_runs_wait_for_the_lock_and_apply_nothing_twice(void **state)
{
    char err[1024] = "";
    if (vg_migrate_run(conn, sqldir, NULL, err, sizeof(err)))
        fail_msg("first run: %s", err);
    /* Another run (the Job) holds the migration lock: two more (init
     * containers) wait for it, both, rather than migrate beside it. */
    PGresult *r = PQexec(conn, "SELECT pg_advisory_lock(" VG_MIGRATE_LOCK_KEY ")");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    struct run runs[2];
    memset(runs, 0, sizeof(runs));
    for (int i = 0; i < 2; i++) {
        runs[i].conn = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
        assert_int_equal(PQstatus(runs[i].conn), CONNECTION_OK);
        runs[i].applied = -1;
    }
    int pid0 = PQbackendPID(runs[0].conn), pid1 = PQbackendPID(runs[1].conn);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&runs[i].thread, NULL, run_migrate, &runs[i]), 0);
    int both_wait = ITEST_WAIT(advisory_locks(pid0, pid1, 0) == 2, 30000);
    int finished = __atomic_load_n(&runs[0].done, __ATOMIC_ACQUIRE) ||
                   __atomic_load_n(&runs[1].done, __ATOMIC_ACQUIRE);
    r = PQexec(conn, "SELECT pg_advisory_unlock(" VG_MIGRATE_LOCK_KEY ")");
    int unlocked = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    for (int i = 0; i < 2; i++)
        pthread_join(runs[i].thread, NULL);
    /* Neither left the lock behind on its connection. */
    long long held = advisory_locks(pid0, pid1, 1);
    for (int i = 0; i < 2; i++)
        PQfinish(runs[i].conn);
    assert_true(unlocked);
    if (!both_wait || finished)
        fail_msg("while the lock was held: 2 runs did not both wait on it (one finished: %d)",
                 finished);
    if (held)
        fail_msg("%lld advisory locks still held after the runs", held);
    for (int i = 0; i < 2; i++) {
        if (runs[i].rc)
            fail_msg("run %d after the lock was released: %s", i, runs[i].err);
        assert_int_equal(runs[i].applied, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrating_twice_applies_nothing_the_second_time),
        cmocka_unit_test(test_every_table_and_view_of_the_design_exists),
        cmocka_unit_test(test_design_columns_exist),
        cmocka_unit_test(test_changed_applied_migration_is_refused),
        cmocka_unit_test(test_concurrent_runs_wait_for_the_lock_and_apply_nothing_twice),
        cmocka_unit_test(test_migration_020_loads_the_hub_of_an_orphan_satellite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
