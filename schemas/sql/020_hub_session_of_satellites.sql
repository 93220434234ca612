-- Every vault.sat_session row has its vault.hub_session row (issue 19).
--
-- The hubs were loaded from staged events and signals only, so a session
-- written to mart.sessions directly (tests, the bench) got satellite rows,
-- from the session commands' sweeps, pointing at no hub. The satellite
-- append now loads the
-- hub too (worker/landing.h, VG_LANDING_SAT_SESSION); this loads the hubs
-- missing from before, from mart.sessions, with the same hash key
-- (vault.hash_key(tenant_id, session_id)) and record source. It hashes every
-- session only when an orphan satellite row exists. A satellite row whose
-- session left mart.sessions has no business key to load and stays as it is.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM vault.sat_session s
               WHERE NOT EXISTS (SELECT 1 FROM vault.hub_session h
                                 WHERE h.hk_session = s.hk_session)) THEN
        INSERT INTO vault.hub_session (hk_session, tenant_id, session_id, load_date,
                                       record_source)
        SELECT DISTINCT ON (m.hk) m.hk, m.tenant_id, m.session_id, now(), 'mart.sessions'
        FROM (SELECT vault.hash_key(tenant_id, session_id) AS hk, tenant_id, session_id
              FROM mart.sessions) m
        WHERE EXISTS (SELECT 1 FROM vault.sat_session s WHERE s.hk_session = m.hk)
          AND NOT EXISTS (SELECT 1 FROM vault.hub_session h WHERE h.hk_session = m.hk)
        ORDER BY m.hk
        ON CONFLICT DO NOTHING;
    END IF;
END
$$;
