-- Row counts without scanning big tables: mart.pipeline_status (and so
-- `vigilctl status`) counted every row of raw.events, staging.events and
-- the vault with count(*), a full scan of the largest tables at every look.
-- Now a relation whose planner estimate (pg_class.reltuples, kept by
-- autovacuum and ANALYZE, summed over partitions) reaches a million rows
-- shows the estimate, marked as such; smaller ones are still counted
-- exactly, where counting is cheap.

-- The planner's row estimate of a table, summed over its partitions; NULL
-- while some partition has never been vacuumed or analyzed (reltuples -1).
CREATE OR REPLACE FUNCTION ops.estimated_rows(rel regclass) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN bool_or(c.reltuples < 0) THEN NULL ELSE sum(c.reltuples)::bigint END
    FROM pg_class c
    WHERE (c.oid = rel AND c.relkind <> 'p')
       OR c.oid IN (SELECT relid FROM pg_partition_tree(rel) WHERE isleaf)
$$;

COMMENT ON FUNCTION ops.estimated_rows(regclass) IS
    'Planner estimate of the rows of a table and its partitions; NULL if never analyzed.';

-- rows and newest load of one relation: exact (count(*) and max(newest),
-- one scan) below exact_below estimated rows, else the estimate, with no
-- newest load (the view supplies the last batch commit instead).
-- newest is an expression over the relation's columns, written by the view
-- below, never by a caller's input.
CREATE OR REPLACE FUNCTION ops.relation_rows(rel regclass, newest text,
                                             exact_below bigint DEFAULT 1000000,
                                             OUT rows bigint, OUT newest_load timestamptz,
                                             OUT estimated boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    est bigint := ops.estimated_rows(rel);
BEGIN
    IF est IS NOT NULL AND est >= exact_below THEN
        rows := est;
        estimated := true;
    ELSE
        EXECUTE format('SELECT count(*), max(%s) FROM %s', newest, rel) INTO rows, newest_load;
        estimated := false;
    END IF;
END
$$;

COMMENT ON FUNCTION ops.relation_rows(regclass, text, bigint) IS
    'Exact count and newest load of a small relation; the planner estimate of a large one.';

CREATE OR REPLACE VIEW mart.pipeline_status AS
WITH lag AS (
    SELECT sum(greatest(high_watermark - next_offset, 0)) FILTER (WHERE high_watermark IS NOT NULL)
           AS lag,
           max(updated_at) AS last_commit
    FROM ops.consumer_offsets)
SELECT p.layer, p.relation, s.rows,
       -- Raw, staging and vault are written in the batch transaction: for an
       -- estimated relation, the last batch commit is its newest load.
       coalesce(s.newest_load, CASE WHEN p.layer IN ('raw', 'staging', 'vault')
                                    THEN (SELECT last_commit FROM lag) END) AS newest_load,
       CASE WHEN p.layer IN ('raw', 'staging', 'vault', 'mart') THEN (SELECT lag FROM lag) END
           AS consumer_lag,
       s.estimated
FROM (VALUES (1, 'raw', 'raw.events', 'loaded_at'),
             (2, 'staging', 'staging.events', 'load_date'),
             (3, 'vault', 'vault.hub_tenant', 'load_date'),
             (4, 'vault', 'vault.hub_session', 'load_date'),
             (5, 'vault', 'vault.hub_visitor', 'load_date'),
             (6, 'vault', 'vault.link_session_visitor', 'load_date'),
             (7, 'vault', 'vault.link_event', 'load_date'),
             (8, 'vault', 'vault.sat_session', 'load_date'),
             (9, 'mart', 'mart.sessions', 'greatest(created_at, last_activity_at, ended_at)'),
             (10, 'ops', 'ops.consumer_offsets', 'updated_at'),
             (11, 'ops', 'ops.command_runs', 'updated_at'),
             (12, 'ops', 'ops.summary_outbox', 'queued_at'))
     AS p(ord, layer, relation, newest)
CROSS JOIN LATERAL ops.relation_rows(p.relation::regclass, p.newest) s
ORDER BY p.ord;

COMMENT ON VIEW mart.pipeline_status IS
    'Per layer and relation: rows (exact below a million, else the planner estimate: '
    'estimated = true), newest load time, and consumer_lag (messages not yet committed, as of '
    'the workers'' last commits; vigilctl status has the live lag).';
