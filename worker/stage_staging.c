/*
 * The staging stage: typed, normalized rows with the Data Vault hash keys
 * and hash diff, computed in SQL by vault.hash_key()/vault.hash_diff() so
 * that the worker, `reprocess` and any dbt model agree on every key. What it
 * inserts is kept in vg_staged for the vault stage.
 */
#include "stages.h"

static const char staging_sql[] =
    "WITH s AS ("
    " INSERT INTO staging.events (tenant_id, event_id, type, session_id, visitor_id, user_id,"
    "   occurred_at, url, properties, received_at, hk_tenant, hk_session, hk_visitor, hk_event,"
    "   hash_diff, load_date, record_source)"
    " SELECT tenant_id, event_id, type, session_id, visitor_id, user_id, occurred_at, url,"
    "   properties, received_at,"
    "   vault.hash_key(tenant_id),"
    "   CASE WHEN session_id IS NOT NULL THEN vault.hash_key(tenant_id, session_id) END,"
    "   CASE WHEN visitor_id IS NOT NULL THEN vault.hash_key(tenant_id, visitor_id) END,"
    "   vault.hash_key(tenant_id, event_id::text),"
    "   staging.event_hash_diff(type, session_id, visitor_id, user_id, occurred_at, url,"
    "     properties),"
    "   now(), topic"
    " FROM vg_fresh ORDER BY tenant_id, event_id"
    " ON CONFLICT DO NOTHING"
    " RETURNING tenant_id, event_id, session_id, visitor_id, hk_tenant, hk_session, hk_visitor,"
    "   hk_event, type, occurred_at, url, properties, load_date, record_source)"
    "INSERT INTO vg_staged SELECT * FROM s;";

int vg_stage_staging(struct vg_stage_ctx *s)
{
    if (s->slice_new == 0)
        return 0;
    return vg__stage_exec(s, staging_sql);
}
