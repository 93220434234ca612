/*
 * The landing SQL (landing.h): the work tables and the statements shared by
 * the stages and reprocess.
 */
#include "landing.h"

/* NOT NULL where a statement relies on the value: vg_fresh needs only what
 * staging reads, since reprocess fills no more. */
const char vg_landing_tables_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS vg_in ("
    "  ord int NOT NULL, signal boolean NOT NULL, tenant_id text NOT NULL, event_id uuid NOT NULL,"
    "  type text NOT NULL, session_id text, visitor_id text, user_id text,"
    "  occurred_at timestamptz NOT NULL, received_at timestamptz NOT NULL, url text,"
    "  properties jsonb, body jsonb NOT NULL, topic text NOT NULL, partition int NOT NULL,"
    "  \"offset\" bigint NOT NULL, kind text, status text, reason text, started_at timestamptz,"
    "  expires_at timestamptz, attributes jsonb) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS vg_fresh ("
    "  tenant_id text NOT NULL, event_id uuid NOT NULL, type text NOT NULL, session_id text,"
    "  visitor_id text, user_id text, occurred_at timestamptz NOT NULL,"
    "  received_at timestamptz NOT NULL, url text, properties jsonb, topic text NOT NULL,"
    "  signal boolean, body jsonb, partition int, \"offset\" bigint, kind text, status text,"
    "  reason text, started_at timestamptz, expires_at timestamptz, attributes jsonb)"
    "  ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS vg_staged ("
    "  tenant_id text, event_id uuid, session_id text, visitor_id text, user_id text,"
    "  hk_tenant text,"
    "  hk_session text, hk_visitor text, hk_event text, type text, occurred_at timestamptz,"
    "  url text, properties jsonb, load_date timestamptz, record_source text)"
    "  ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS vg_touched (tenant_id text, session_id text)"
    "  ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS vg_cmd_page (tenant_id text NOT NULL,"
    "  event_id uuid NOT NULL, received_at timestamptz NOT NULL, candidate boolean NOT NULL,"
    "  rebuilt boolean NOT NULL DEFAULT false) ON COMMIT DELETE ROWS;";

const char vg_landing_clear_sql[] = "TRUNCATE vg_in, vg_fresh, vg_staged, vg_touched, vg_cmd_page";

#define STAGED_COLUMNS                                                                             \
    "tenant_id, event_id, session_id, visitor_id, user_id, hk_tenant, hk_session, hk_visitor,"     \
    " hk_event,"                                                                                   \
    " type, occurred_at, url, properties, load_date, record_source"

const char vg_landing_staging_sql[] =
    "WITH s AS ("
    " INSERT INTO staging.events (tenant_id, event_id, type, session_id, visitor_id, user_id,"
    "   occurred_at, url, properties, received_at, hk_tenant, hk_session, hk_visitor, hk_event,"
    "   hash_diff, load_date, record_source, context, segment)"
    " SELECT tenant_id, event_id, type, session_id, visitor_id, user_id, occurred_at, url,"
    "   properties, received_at,"
    "   vault.hash_key(tenant_id),"
    "   CASE WHEN session_id IS NOT NULL THEN vault.hash_key(tenant_id, session_id) END,"
    "   CASE WHEN visitor_id IS NOT NULL THEN vault.hash_key(tenant_id, visitor_id) END,"
    "   vault.hash_key(tenant_id, event_id::text),"
    "   staging.event_hash_diff(type, session_id, visitor_id, user_id, occurred_at, url,"
    "     properties),"
    "   now(), topic, nullif(body->'context', 'null'), nullif(body->'segment', 'null')"
    " FROM vg_fresh ORDER BY tenant_id, event_id"
    " ON CONFLICT DO NOTHING"
    " RETURNING " STAGED_COLUMNS ")"
    "INSERT INTO vg_staged (" STAGED_COLUMNS ") SELECT " STAGED_COLUMNS " FROM s;";

const char vg_landing_vault_sql[] =
    "INSERT INTO vault.hub_tenant (hk_tenant, tenant_id, load_date, record_source)"
    " SELECT DISTINCT ON (hk_tenant) hk_tenant, tenant_id, load_date, record_source"
    " FROM vg_staged ORDER BY hk_tenant ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.hub_session (hk_session, tenant_id, session_id, load_date, record_source)"
    " SELECT DISTINCT ON (hk_session) hk_session, tenant_id, session_id, load_date, record_source"
    " FROM vg_staged WHERE hk_session IS NOT NULL ORDER BY hk_session ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.hub_visitor (hk_visitor, tenant_id, visitor_id, load_date, record_source)"
    " SELECT DISTINCT ON (hk_visitor) hk_visitor, tenant_id, visitor_id, load_date, record_source"
    " FROM vg_staged WHERE hk_visitor IS NOT NULL ORDER BY hk_visitor ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.link_session_visitor (hk_session_visitor, hk_session, hk_visitor,"
    "   load_date, record_source)"
    " SELECT DISTINCT ON (1) vault.hash_key(tenant_id, session_id, visitor_id), hk_session,"
    "   hk_visitor, load_date, record_source"
    " FROM vg_staged WHERE hk_session IS NOT NULL AND hk_visitor IS NOT NULL"
    " ORDER BY 1 ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.link_event (hk_event, hk_tenant, hk_session, hk_visitor, event_id, type,"
    "   occurred_at, url, properties, load_date, record_source)"
    " SELECT hk_event, hk_tenant, hk_session, hk_visitor, event_id, type, occurred_at, url,"
    "   properties, load_date, record_source"
    " FROM vg_staged ORDER BY hk_event ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.hub_user (hk_user, tenant_id, user_id, load_date, record_source)"
    " SELECT DISTINCT ON (1) vault.hash_key(tenant_id, user_id), tenant_id, user_id, load_date,"
    "   record_source"
    " FROM vg_staged WHERE user_id IS NOT NULL"
    " ORDER BY 1 ON CONFLICT DO NOTHING;"
    "INSERT INTO vault.link_visitor_user (hk_visitor_user, hk_visitor, hk_user, load_date,"
    "   record_source)"
    " SELECT DISTINCT ON (1) vault.hash_key(tenant_id, visitor_id, user_id), hk_visitor,"
    "   vault.hash_key(tenant_id, user_id), load_date, record_source"
    " FROM vg_staged WHERE hk_visitor IS NOT NULL AND user_id IS NOT NULL"
    " ORDER BY 1 ON CONFLICT DO NOTHING;";
