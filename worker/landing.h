/*
 * landing.h - the landing SQL: the session-local work tables, and the
 * statements that carry events from one layer to the next. The batch's
 * stages (stages.h) and the reprocess command (cmd_data.c) run these very
 * statements, so an event rebuilt from raw.events gets the staging row, hash
 * keys and vault rows its first landing gave it; the sessions stage and the
 * session commands (cmd_sessions.c) append to the summary outbox and
 * vault.sat_session (the commands with its vault.hub_session row) with the
 * same statements.
 *
 * The statements are SQL text, each run in one round trip (vg_pg_exec()),
 * several separated by semicolons. The work tables are created once per
 * connection and emptied at every commit (ON COMMIT DELETE ROWS). Every
 * statement that writes one names the columns it writes.
 *
 *   vg_in       the batch as copied (stage_raw.c): one row per event or signal
 *   vg_fresh    the events to land: the batch's new ones (raw stage), or
 *               those reprocess rebuilds from raw.events (which fills only
 *               what staging reads: the session fields stay NULL)
 *   vg_staged   the staging.events rows the vault is loaded from
 *   vg_touched  the sessions the sessions stage wrote
 *   vg_cmd_page reprocess: the page of raw.events a step walks
 */
#ifndef VG_LANDING_H
#define VG_LANDING_H

/* Creates the work tables, if this connection has none yet. */
extern const char vg_landing_tables_sql[];

/* Empties the work tables inside the open transaction. */
extern const char vg_landing_clear_sql[];

/* vg_fresh to staging.events: typed rows with the Data Vault hash keys and
 * hash diff, computed by vault.hash_key() and staging.event_hash_diff() (so
 * that any dbt model agrees on every key). An event already staged is left
 * as it is; the rows inserted are also added to vg_staged, with load_date
 * the transaction's now() and record_source the topic. */
extern const char vg_landing_staging_sql[];

/* vg_staged to the vault (Data Vault 2.0, insert-only): hubs for tenants,
 * sessions, visitors and users, the session-visitor and visitor-user links
 * (an event with both ids: identify, alias), and every event as a
 * non-historized link carrying its payload, with vg_staged's load_date. A
 * key already present is left as it is, so replays and concurrent workers
 * add nothing twice; rows go in key order, which keeps the lock order the
 * same between workers. */
extern const char vg_landing_vault_sql[];

/*
 * The summary outbox row of each session of `from` (a FROM clause, with a
 * WHERE if need be, whose rows have tenant_id and session_id) with status
 * `status` (a string literal), once: the key is the session.
 */
#define VG_LANDING_SUMMARY_OUTBOX(status, from)                                                  \
    "INSERT INTO ops.summary_outbox (tenant_id, session_id, status)"                             \
    " SELECT tenant_id, session_id, '" status "' FROM " from                                     \
    " ORDER BY tenant_id, session_id ON CONFLICT DO NOTHING"

/*
 * A vault.sat_session row for each session of `sessions` (a FROM item named
 * s with every column of mart.sessions) for which `cond` holds (a WHERE
 * clause over x, the row with its hash key x.hk and state hash diff x.hd; ""
 * for every row), in key order. load_date is the transaction's now(): a
 * second row for a session in one transaction is left out.
 *
 * `hub` is "" or VG_LANDING_SAT_HUB, which also loads the vault.hub_session
 * row of each such session, with the same hash key, unless there is one.
 * The sessions stage needs none: its sessions come from the batch's events
 * and signals, whose hubs vg_landing_vault_sql loaded earlier in the same
 * transaction, and a probe per session per batch would be work for nothing.
 * The session commands pass it: a session can reach mart.sessions without
 * passing staging (written there directly: tests, the bench), and its
 * satellite rows must still point at a hub.
 *
 * These are items of a WITH list (vg_sat_rows, [vg_sat_hub,] vg_sat),
 * without the WITH and without a trailing comma, so that they can follow
 * other data-modifying items of one statement (a WITH inside an item may
 * not modify data); as a statement of its own: "WITH " ... " SELECT 1".
 */
#define VG_LANDING_SAT_SESSION(sessions, cond, hub)                                              \
    " vg_sat_rows AS (SELECT * FROM"                                                             \
    "   (SELECT vault.hash_key(s.tenant_id, s.session_id) AS hk,"                                \
    "      vault.sat_session_hash_diff(s.status, s.kind, s.started_at, s.first_activity_at,"     \
    "        s.ended_at, s.end_reason, s.expires_at, s.attributes) AS hd, s.*"                   \
    "    FROM " sessions ") x" cond ")," hub                                                     \
    " vg_sat AS (INSERT INTO vault.sat_session (hk_session, load_date, hash_diff, record_source," \
    "   status, kind, started_at, first_activity_at, last_activity_at, ended_at, duration_ms,"   \
    "   end_reason, expires_at, attributes)"                                                     \
    " SELECT x.hk, now(), x.hd, 'mart.sessions', x.status, x.kind, x.started_at,"                \
    "   x.first_activity_at, x.last_activity_at, x.ended_at, x.duration_ms, x.end_reason,"       \
    "   x.expires_at, x.attributes"                                                              \
    " FROM vg_sat_rows x ORDER BY x.hk ON CONFLICT DO NOTHING)"

/* The hub of VG_LANDING_SAT_SESSION(): vg_sat_rows' hub rows, then a comma. */
#define VG_LANDING_SAT_HUB                                                                       \
    " vg_sat_hub AS (INSERT INTO vault.hub_session (hk_session, tenant_id, session_id,"          \
    "   load_date, record_source)"                                                               \
    " SELECT DISTINCT ON (hk) hk, tenant_id, session_id, now(), 'mart.sessions'"                 \
    " FROM vg_sat_rows ORDER BY hk ON CONFLICT DO NOTHING),"

/* The cond of VG_LANDING_SAT_SESSION() that keeps a session whose state
 * differs from its latest satellite row (or that has none). */
#define VG_LANDING_SAT_CHANGED                                                                   \
    " WHERE x.hd IS DISTINCT FROM (SELECT l.hash_diff FROM vault.sat_session l"                  \
    "   WHERE l.hk_session = x.hk ORDER BY l.load_date DESC LIMIT 1)"

#endif
