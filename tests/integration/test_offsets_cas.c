/*
 * The exactly-once mechanism itself: stored offsets move only by
 * compare-and-set, so a worker that lost its partition cannot commit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "offsets.h"
#include "util.h"

static PGconn *db;
static char group[64];

static int setup(void **state)
{
    db = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    if (PQstatus(db) != CONNECTION_OK)
        return -1;
    snprintf(group, sizeof(group), "itest-cas-%d-%lld", (int)getpid(), (long long)vg_now_ms());
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {group};
    PQclear(PQexecParams(db, "DELETE FROM ops.consumer_offsets WHERE consumer_group = $1", 1,
                         NULL, p, NULL, NULL, 0));
    PQfinish(db);
    return 0;
}

static long long stored(int partition)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    const char *p[2] = {group, part};
    PGresult *r = PQexecParams(db,
                               "SELECT next_offset FROM ops.consumer_offsets WHERE "
                               "consumer_group = $1 AND topic = 'vigil.events' AND partition = $2",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long long v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Runs one advance in its own transaction, committed only if it succeeded. */
static int advance(struct vg_part *parts, size_t n)
{
    struct vg_batch b = {.parts = parts, .nparts = n};
    char err[512] = "";
    PQclear(PQexec(db, "BEGIN"));
    int rc = vg_offsets_advance(db, group, &b, err, sizeof(err));
    PQclear(PQexec(db, rc == 0 ? "COMMIT" : "ROLLBACK"));
    return rc;
}

static void test_first_commit_inserts_and_a_second_first_commit_conflicts(void **state)
{
    struct vg_part p = {.topic = "vigil.events", .partition = 0, .expected = -1, .next = 10};
    assert_int_equal(advance(&p, 1), 0);
    assert_int_equal(stored(0), 10);
    p.next = 15; /* another worker that also saw no row */
    assert_int_equal(advance(&p, 1), VG_ECONFLICT);
    assert_int_equal(stored(0), 10);
}

static void test_stale_worker_commit_is_refused(void **state)
{
    struct vg_part p = {.topic = "vigil.events", .partition = 0, .expected = 10, .next = 20};
    assert_int_equal(advance(&p, 1), 0); /* the new owner moves it on */
    struct vg_part stale = {.topic = "vigil.events", .partition = 0, .expected = 10, .next = 18};
    assert_int_equal(advance(&stale, 1), VG_ECONFLICT);
    assert_int_equal(stored(0), 20);
}

static void test_one_mismatched_partition_refuses_the_whole_batch(void **state)
{
    struct vg_part init = {.topic = "vigil.events", .partition = 1, .expected = -1, .next = 5};
    assert_int_equal(advance(&init, 1), 0);
    struct vg_part both[2] = {
        {.topic = "vigil.events", .partition = 1, .expected = 5, .next = 9},
        {.topic = "vigil.events", .partition = 0, .expected = 11, .next = 30}, /* stale */
    };
    assert_int_equal(advance(both, 2), VG_ECONFLICT);
    assert_int_equal(stored(1), 5);
    assert_int_equal(stored(0), 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_commit_inserts_and_a_second_first_commit_conflicts),
        cmocka_unit_test(test_stale_worker_commit_is_refused),
        cmocka_unit_test(test_one_mismatched_partition_refuses_the_whole_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
