/*
 * The Data Vault hash convention, as the database computes it for every
 * layer, against the rule applied by hand: per key NULLIF(UPPER(TRIM(k)),''),
 * NULL written ^^, joined by ||, MD5 in upper-case hex (hash diffs keep case).
 * The expected digests are computed here from the hashed strings, so a change
 * to the SQL functions that breaks compatibility with dbt models fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "crypto.h"
#include "itest.h"

static const struct {
    const char *call;   /* SQL expression */
    const char *hashed; /* the string the rule hashes; NULL: the result must be NULL */
} cases[] = {
    {"vault.hash_key('demo')", "DEMO"},
    {"vault.hash_key('  demo  ')", "DEMO"},
    {"vault.hash_key(NULL::text)", NULL},
    {"vault.hash_key('')", NULL},
    {"vault.hash_key('   ')", NULL},
    {"vault.hash_key('demo', 's-1')", "DEMO||S-1"},
    {"vault.hash_key('demo', NULL)", "DEMO||^^"},
    {"vault.hash_key('demo', '')", "DEMO||^^"},
    {"vault.hash_key(NULL, 'x')", "^^||X"},
    {"vault.hash_key(NULL, '')", NULL},
    {"vault.hash_key('demo', 's1', 'v1')", "DEMO||S1||V1"},
    {"vault.hash_key('demo', '0190f1a2-7b3c-7d4e-8f90-a1b2c3d4e5f6')",
     "DEMO||0190F1A2-7B3C-7D4E-8F90-A1B2C3D4E5F6"},
    {"vault.hash_key('caf\xc3\xa9')", "CAF\xc3\xa9"},
    {"vault.hash_diff('a', NULL, ' B ')", "a||^^||B"},
    {"vault.hash_diff(NULL::text)", "^^"},
    {"vault.hash_diff('Active')", "Active"},
    {"staging.event_hash_diff('page.view', 's-1', 'v-1', NULL, '2024-05-01T12:00:00Z', "
     "'https://example.com/', '{\"b\": 1, \"a\": \"x\"}')",
     "page.view||s-1||v-1||^^||2024-05-01T12:00:00.000000Z||https://example.com/||"
     "{\"a\": \"x\", \"b\": 1}"},
};

static void test_hash_keys_and_diffs_follow_the_rule(void **state)
{
    PGconn *db = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[1024], want[33];
        snprintf(sql, sizeof(sql), "SELECT %s", cases[i].call);
        PGresult *r = PQexec(db, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", cases[i].call, PQresultErrorMessage(r));
        if (!cases[i].hashed) {
            if (!PQgetisnull(r, 0, 0))
                fail_msg("%s = %s, want NULL", cases[i].call, PQgetvalue(r, 0, 0));
        } else {
            vg_md5_hex_upper(cases[i].hashed, strlen(cases[i].hashed), want);
            if (PQgetisnull(r, 0, 0) || strcmp(PQgetvalue(r, 0, 0), want))
                fail_msg("%s = %s, want %s = md5('%s')", cases[i].call,
                         PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0), want,
                         cases[i].hashed);
        }
        PQclear(r);
    }
    PQfinish(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_keys_and_diffs_follow_the_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
