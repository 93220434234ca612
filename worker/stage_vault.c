/*
 * The vault stage: Data Vault 2.0, insert-only. Hubs for tenants, sessions
 * and visitors, the session-visitor link, and every event as a
 * non-historized link carrying its payload. A key already present is left
 * as it is (ON CONFLICT DO NOTHING), so replays and concurrent workers add
 * nothing twice. Rows are inserted in key order to keep lock order stable
 * between workers.
 */
#include "stages.h"

static const char vault_sql[] =
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
    " FROM vg_staged ORDER BY hk_event ON CONFLICT DO NOTHING;";

int vg_stage_vault(struct vg_stage_ctx *s)
{
    if (s->slice_new == 0)
        return 0;
    return vg__stage_exec(s, vault_sql);
}
