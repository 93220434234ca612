-- vigil_sessions is notified only by statements that wrote a row (issue 13).
--
-- 018_query.sql's trigger notified for every statement on mart.sessions,
-- rows or none: the scheduler's sweep each minute, finding no session to
-- time out, still told every vigil-query that sessions had changed, and each
-- dropped its whole cache (a read benchmark's hit rate fell from all to 70 %,
-- bench/README.md). A statement trigger sees its rows only through a
-- transition table, and a trigger with one takes a single event: three
-- triggers, one function. An INSERT ... ON CONFLICT DO UPDATE fires the
-- insert one for the rows it inserted and the update one for those it
-- updated.
CREATE OR REPLACE FUNCTION mart.notify_sessions() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT FROM written) THEN
        PERFORM pg_notify('vigil_sessions', '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER notify_sessions ON mart.sessions;
CREATE TRIGGER notify_sessions_insert AFTER INSERT ON mart.sessions
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION mart.notify_sessions();
CREATE TRIGGER notify_sessions_update AFTER UPDATE ON mart.sessions
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION mart.notify_sessions();
CREATE TRIGGER notify_sessions_delete AFTER DELETE ON mart.sessions
    REFERENCING OLD TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION mart.notify_sessions();
