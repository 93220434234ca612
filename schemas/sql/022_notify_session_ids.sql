-- vigil_sessions names the sessions a statement wrote (issue 13).
--
-- 021's trigger notified with an empty payload, which tells every
-- vigil-query that any session may have changed: each then stopped serving
-- its cached sessions past query.cache.max_staleness_ms, changed or not, so
-- under a steady trickle of writes the in-process cache was a 500 ms cache.
-- The payload now lists the written rows as "tenant_id/session_id", one a
-- line, and a replica stops vouching for those sessions only. A NOTIFY
-- payload must be shorter than 8000 bytes: a statement that wrote more rows
-- than fit (a sweep timing out thousands) sends the empty payload, which
-- still means "any session". Tenant and session ids hold no '/' or line
-- break (the producer checks both).
CREATE OR REPLACE FUNCTION mart.notify_sessions() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids text;
    n   bigint;
BEGIN
    SELECT string_agg(w.tenant_id || '/' || w.session_id, E'\n'), count(*)
      INTO ids, n
      FROM (SELECT tenant_id, session_id FROM written LIMIT 257) w;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n > 256 OR octet_length(ids) >= 8000 THEN
        ids := '';
    END IF;
    PERFORM pg_notify('vigil_sessions', ids);
    RETURN NULL;
END
$$;
