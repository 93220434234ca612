/*
 * Data commands: purge_raw, erase_subject, reprocess.
 *
 * purge_raw {older_than_days}
 *   Drops the raw.events partitions of UTC days entirely before today minus
 *   older_than_days (raw.drop_partitions_before(), which also forgets their
 *   raw.event_ids), in one short transaction with a lock timeout: dropping a
 *   partition needs raw.events to itself, and batches must not queue behind
 *   it for long (a timeout is retried). affected is the number of partitions,
 *   sample their names.
 *
 * erase_subject {tenant, visitor_id | user_id}
 *   The right to erasure, in one transaction. The subject's events (those
 *   whose body in raw.events, or whose staging.events row, names the visitor
 *   or user) are deleted from raw.events, staging.events and
 *   vault.link_event; for a visitor also vault.hub_visitor and
 *   vault.link_session_visitor when the hub holds the visitor's id exactly.
 *   The business key is matched exactly: the vault's hash keys fold case,
 *   so "alice" and "ALICE" share a hub, and erasing one never touches the
 *   other's events, links or (if it holds the other's id) the hub. Kept:
 *   raw.event_ids (ids carry no personal data, and
 *   keeping them makes a replay of an erased event a duplicate rather than a
 *   resurrection), mart.sessions and vault.sat_session (session state without
 *   the subject's identity; counts are left as they were). Run it as a dry
 *   run first: affected counts the rows that would go and sample lists them
 *   as "<table>:<key>", which is also what a real run records.
 *
 * reprocess {from, to, batch_size?, tenant?}
 *   Rebuilds, from raw.events received in [from, to), the staging.events and
 *   vault rows that are missing. The range is walked in pages of batch_size
 *   events in (received_at, tenant_id, event_id) order, one page per step,
 *   with the last key done kept in ops.command_runs.cursor; a step holds the
 *   run's row, so one worker at a time walks a given run (a crash loses one
 *   page, which the next step reads again). An event of the page that lacks
 *   its staging row or its vault.link_event row is read from its raw body
 *   into vg_fresh, and the staging and vault stages' own statements
 *   (landing.h) land it: its staging row, then its hubs, links and event
 *   link, all ON CONFLICT DO NOTHING: rows present are left as they are, and
 *   a second reprocess of the same range changes nothing. affected counts
 *   the events for which a row was inserted (dry run: that lack one), sample
 *   their "tenant/event_id".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "landing.h"
#include "pg.h"
#include "util.h"

/* -- purge_raw: $1 older_than_days -------------------------------------- */

/* Midnight UTC today minus $1 days, whatever the session's TimeZone. */
#define PURGE_CUTOFF                                                                               \
    "((date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"                            \
    " - make_interval(days => $1::int))"

/* The partitions raw.drop_partitions_before(cutoff) drops: same bound test. */
static const char purge_count_sql[] =
    "WITH parts AS ("
    " SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'raw.events'::regclass"
    "   AND (regexp_match(pg_get_expr(c.relpartbound, c.oid),"
    "     '^FOR VALUES FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)$'))[2]::timestamptz"
    "     <= " PURGE_CUTOFF ")"
    " SELECT count(*), (SELECT jsonb_agg('raw.' || name ORDER BY name) FROM parts)::text"
    " FROM parts";

int vg__cmd_purge_raw(struct vg_cmd_run *run)
{
    char days[24];
    const char *p[1] = {vg__cmd_param(run, "older_than_days", days, sizeof(days))};
    if (run->dry_run)
        return vg__cmd_once(run, purge_count_sql, 1, p);
    int rc = vg__cmd_begin(run);
    if (rc <= 0)
        return rc;
    /* ACCESS EXCLUSIVE on raw.events: wait briefly, then give way (transient). */
    PGresult *names, *r;
    if ((rc = vg__cmd_exec(run, "SET LOCAL lock_timeout = '2s'")) ||
        (rc = vg__cmd_query(run, &names, purge_count_sql, 1, p)))
        return rc;
    rc = vg__cmd_query(run, &r, "SELECT raw.drop_partitions_before(" PURGE_CUTOFF ")", 1, p);
    if (rc == 0) {
        run->rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        rc = vg__cmd_finish(run, run->rows,
                            PQgetisnull(names, 0, 1) ? NULL : PQgetvalue(names, 0, 1));
        PQclear(r);
    }
    PQclear(names);
    if (rc == 0)
        rc = vg__cmd_exec(run, "COMMIT");
    run->state = VG_CMD_DONE;
    return rc;
}

/* -- erase_subject: $1 tenant, $2 the visitor's or user's id ------------- */

/* The subject's hub keys, by its exact business key. */
#define VISITOR_HK                                                                                 \
    "(SELECT h.hk_visitor FROM vault.hub_visitor h"                                                \
    " WHERE h.tenant_id = $1::text AND h.visitor_id = $2::text)"
#define USER_HK                                                                                    \
    "(SELECT h.hk_user FROM vault.hub_user h WHERE h.tenant_id = $1::text AND h.user_id = $2::text)"

/* The statement for a visitor or a user, erasing or (dry run) only listing.
 * col is "visitor_id" or "user_id", never text from a message. */
static void erase_sql(struct vg_buf *b, const char *col, int visitor, int dry)
{
    vg_buf_printf(b,
                  "WITH ev AS ("
                  " SELECT tenant_id, event_id FROM raw.events"
                  " WHERE tenant_id = $1::text AND body->>'%s' = $2::text"
                  " UNION SELECT tenant_id, event_id FROM staging.events"
                  " WHERE tenant_id = $1::text AND %s = $2::text),",
                  col, col);
    /* Each part: rows of one table as "<table>:<key>", for a visitor (V), a
     * user (U) or both. Exact business keys only: the hash keys fold case,
     * so "alice" and "ALICE" share a hub key; a hub row is the subject's
     * only when it holds the subject's id exactly, and the events are
     * matched by id. */
    enum { V = 1, U = 2 };
    static const struct {
        int who;
        const char *what, *from, *where;
    } part[] = {
        {V | U, "raw.events:' || x.tenant_id || '/' || x.event_id", "raw.events x",
         "(x.tenant_id, x.event_id) IN (SELECT tenant_id, event_id FROM ev)"},
        {V | U, "staging.events:' || x.tenant_id || '/' || x.event_id", "staging.events x",
         "(x.tenant_id, x.event_id) IN (SELECT tenant_id, event_id FROM ev)"},
        {V, "vault.link_event:' || x.hk_event", "vault.link_event x",
         "x.hk_event IN (SELECT vault.hash_key(tenant_id, event_id::text) FROM ev)"
         " OR x.hk_visitor IN " VISITOR_HK},
        {U, "vault.link_event:' || x.hk_event", "vault.link_event x",
         "x.hk_event IN (SELECT vault.hash_key(tenant_id, event_id::text) FROM ev)"},
        {V, "vault.hub_visitor:' || x.hk_visitor", "vault.hub_visitor x",
         "x.tenant_id = $1::text AND x.visitor_id = $2::text"},
        {V, "vault.link_session_visitor:' || x.hk_session_visitor",
         "vault.link_session_visitor x", "x.hk_visitor IN " VISITOR_HK},
        {V, "vault.link_visitor_user:' || x.hk_visitor_user", "vault.link_visitor_user x",
         "x.hk_visitor IN " VISITOR_HK},
        {U, "vault.hub_user:' || x.hk_user", "vault.hub_user x",
         "x.tenant_id = $1::text AND x.user_id = $2::text"},
        {U, "vault.link_visitor_user:' || x.hk_visitor_user", "vault.link_visitor_user x",
         "x.hk_user IN " USER_HK},
    };
    size_t parts = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(part); i++) {
        if (!(part[i].who & (visitor ? V : U)))
            continue;
        if (dry)
            vg_buf_printf(b, " p%zu AS (SELECT '%s AS k FROM %s WHERE %s),", parts, part[i].what,
                          part[i].from, part[i].where);
        else
            vg_buf_printf(b, " p%zu AS (DELETE FROM %s WHERE %s RETURNING '%s AS k),", parts,
                          part[i].from, part[i].where, part[i].what);
        parts++;
    }
    vg_buf_puts(b, " allk AS (");
    for (size_t i = 0; i < parts; i++)
        vg_buf_printf(b, "%sSELECT k FROM p%zu", i ? " UNION ALL " : "", i);
    vg_buf_puts(b, ") SELECT count(*), " VG_CMD_SAMPLE("k", "allk") " FROM allk");
}

int vg__cmd_erase_subject(struct vg_cmd_run *run)
{
    const char *visitor = vg__cmd_param(run, "visitor_id", NULL, 0);
    const char *p[2] = {vg__cmd_param(run, "tenant", NULL, 0),
                        visitor ? visitor : vg__cmd_param(run, "user_id", NULL, 0)};
    struct vg_buf sql = {0};
    erase_sql(&sql, visitor ? "visitor_id" : "user_id", visitor != NULL, run->dry_run);
    int rc = vg__cmd_once(run, sql.data, 2, p);
    vg_buf_free(&sql);
    return rc;
}

/* -- reprocess: $1 from, $2 to, $3 tenant, $4 batch size, and the cursor:
 *    $5 received_at, $6 tenant_id, $7 event_id of the last row done ------- */

/* Where the run stands, under a lock on its row: one worker steps a
 * reprocess at a time, each step reading only the next page. */
static const char cursor_sql[] =
    "SELECT cursor->>'received_at', cursor->>'tenant_id', cursor->>'event_id'"
    " FROM ops.command_runs WHERE command_id = $1 AND status = 'running'"
    " FOR UPDATE SKIP LOCKED";

/* The next page in (received_at, tenant_id, event_id) order; an event is a
 * candidate unless it has both its staging row and its vault.link_event. */
static const char page_sql[] =
    "INSERT INTO vg_cmd_page (tenant_id, event_id, received_at, candidate)"
    " SELECT r.tenant_id, r.event_id, r.received_at,"
    "   NOT EXISTS (SELECT 1 FROM staging.events s JOIN vault.link_event l"
    "     ON l.hk_event = s.hk_event WHERE s.tenant_id = r.tenant_id"
    "     AND s.event_id = r.event_id)"
    " FROM raw.events r"
    " WHERE r.received_at >= $1::timestamptz AND r.received_at < $2::timestamptz"
    "   AND ($3::text IS NULL OR r.tenant_id = $3::text)"
    "   AND r.received_at >= $5::timestamptz"
    "   AND (r.received_at, r.tenant_id, r.event_id) > ($5::timestamptz, $6::text, $7::uuid)"
    " ORDER BY r.received_at, r.tenant_id, r.event_id LIMIT $4";

/* The page's candidates into vg_fresh, read from their raw bodies as
 * worker/decode.c reads the envelope, for the staging stage's statement. */
static const char fresh_sql[] =
    "INSERT INTO vg_fresh (tenant_id, event_id, type, session_id, visitor_id, user_id,"
    "   occurred_at, received_at, url, properties, topic, body)"
    " SELECT r.tenant_id, r.event_id, r.body->>'type', r.body->>'session_id',"
    "   r.body->>'visitor_id', r.body->>'user_id', (r.body->>'occurred_at')::timestamptz,"
    "   r.received_at, r.body->>'url', nullif(r.body->'properties', 'null'::jsonb), r.topic,"
    "   r.body"
    " FROM vg_cmd_page e JOIN raw.events r ON r.tenant_id = e.tenant_id"
    "   AND r.event_id = e.event_id AND r.received_at = e.received_at"
    " WHERE e.candidate";

/* After staging: the events it staged are rebuilt; the other candidates
 * have their staging row already, and join vg_staged (as of now, as the
 * staging stage would have staged them) for the vault stage's statement,
 * which loads whatever of their vault rows is missing. */
static const char restage_sql[] =
    "UPDATE vg_cmd_page e SET rebuilt = true FROM vg_staged v"
    " WHERE e.tenant_id = v.tenant_id AND e.event_id = v.event_id;"
    "INSERT INTO vg_staged (tenant_id, event_id, session_id, visitor_id, user_id, hk_tenant,"
    "   hk_session, hk_visitor, hk_event, type, occurred_at, url, properties, load_date,"
    "   record_source)"
    " SELECT s.tenant_id, s.event_id, s.session_id, s.visitor_id, s.user_id, s.hk_tenant,"
    "   s.hk_session, s.hk_visitor, s.hk_event, s.type, s.occurred_at, s.url, s.properties,"
    "   now(), s.record_source"
    " FROM vg_cmd_page e JOIN staging.events s"
    "   ON s.tenant_id = e.tenant_id AND s.event_id = e.event_id"
    " WHERE e.candidate AND NOT e.rebuilt";

/* After the vault: an event whose link this transaction inserted is rebuilt
 * (its load_date is this transaction's now(); an older row's is earlier). */
static const char relinked_sql[] =
    "UPDATE vg_cmd_page e SET rebuilt = true FROM vg_staged v JOIN vault.link_event l"
    "   ON l.hk_event = v.hk_event"
    " WHERE e.tenant_id = v.tenant_id AND e.event_id = v.event_id AND NOT e.rebuilt"
    "   AND l.load_date = now()";

/* The page's size, what it changed (dry run: would change) and the key of
 * its last row, the next cursor. $1: true for a dry run. */
static const char page_result_sql[] =
    "SELECT count(*),"
    " count(*) FILTER (WHERE CASE WHEN $1::boolean THEN candidate ELSE rebuilt END),"
    " " VG_CMD_SAMPLE("tenant_id || '/' || event_id",
                      "vg_cmd_page WHERE CASE WHEN $1::boolean THEN candidate ELSE rebuilt END") ","
    " (SELECT jsonb_build_object('received_at', received_at, 'tenant_id', tenant_id,"
    "   'event_id', event_id) FROM vg_cmd_page"
    "   ORDER BY received_at DESC, tenant_id DESC, event_id DESC LIMIT 1)::text"
    " FROM vg_cmd_page";

/* The page's landing: its candidates through the staging and vault stages'
 * statements. */
static int land_page(struct vg_cmd_run *run)
{
    int rc;
    if ((rc = vg__cmd_exec(run, fresh_sql)) ||
        (rc = vg__cmd_exec(run, vg_landing_staging_sql)) || (rc = vg__cmd_exec(run, restage_sql)) ||
        (rc = vg__cmd_exec(run, vg_landing_vault_sql)))
        return rc;
    return vg__cmd_exec(run, relinked_sql);
}

int vg__cmd_reprocess(struct vg_cmd_run *run)
{
    char batch[24];
    int rc;
    const char *p[7] = {vg__cmd_param(run, "from", NULL, 0), vg__cmd_param(run, "to", NULL, 0),
                        vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_batch_size(run, batch, sizeof(batch))};
    int64_t limit = strtoll(p[3], NULL, 10);
    if ((rc = vg__cmd_exec(run, vg_landing_tables_sql)) || (rc = vg__cmd_exec(run, "BEGIN")))
        return rc;
    const char *id[1] = {run->command_id};
    PGresult *cur, *r;
    if ((rc = vg__cmd_query(run, &cur, cursor_sql, 1, id)))
        return rc;
    if (PQntuples(cur) == 0) {
        PQclear(cur);
        vg_pg_rollback(run->conn);
        run->state = VG_CMD_BUSY; /* another worker is on it, or it is over */
        return 0;
    }
    /* Before the first step: just before the first key of the range. */
    int fresh = PQgetisnull(cur, 0, 0);
    p[4] = fresh ? p[0] : PQgetvalue(cur, 0, 0);
    p[5] = fresh ? "" : PQgetvalue(cur, 0, 1);
    p[6] = fresh ? "00000000-0000-0000-0000-000000000000" : PQgetvalue(cur, 0, 2);
    rc = vg__cmd_query(run, NULL, page_sql, 7, p);
    PQclear(cur);
    if (rc || (!run->dry_run && (rc = land_page(run))))
        return rc;
    const char *dry[1] = {run->dry_run ? "true" : "false"};
    if ((rc = vg__cmd_query(run, &r, page_result_sql, 1, dry)))
        return rc;
    int64_t page = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    run->rows = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    const char *sample = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2);
    if (page > 0) {
        const char *c[2] = {run->command_id, PQgetvalue(r, 0, 3)};
        rc = vg__cmd_query(run, NULL,
                           "UPDATE ops.command_runs SET cursor = $2::jsonb WHERE command_id = $1",
                           2, c);
    }
    if (rc == 0) {
        /* A short page is the end of the range. */
        run->state = page < limit ? VG_CMD_DONE : VG_CMD_MORE;
        rc = page < limit ? vg__cmd_finish(run, run->rows, sample)
                          : vg__cmd_progress(run, run->rows, sample);
    }
    PQclear(r);
    if (rc == 0)
        rc = vg__cmd_exec(run, "COMMIT");
    return rc;
}
