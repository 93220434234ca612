-- The Data Vault hash convention (DESIGN.md section 6), written once so that
-- the worker, `reprocess`, C code and dbt models built on top all agree.
-- schemas/README.md gives the rule with worked examples.
--
-- Hash key  (hubs and links): per business key NULLIF(UPPER(TRIM(key)), ''),
--           NULL written '^^', keys joined by '||', MD5, upper-case hex.
--           One key: NULL or empty gives a NULL hash key. Several keys: if
--           every key is NULL or empty the hash key is NULL (AutomateDV's
--           NULLIF(joined, '^^||^^')); otherwise the missing ones are '^^'.
-- Hash diff (satellites): per value NULLIF(TRIM(value), ''), case kept, NULL
--           written '^^', joined by '||' in the order given, MD5, upper hex.
--           Never NULL.
--
-- TRIM is PostgreSQL's trim(): spaces (U+0020) only. UPPER uses the "C"
-- collation, so only ASCII a-z change case, whatever the database locale;
-- C code reproduces it with an ASCII toupper. MD5 is over the UTF-8 bytes.

CREATE FUNCTION vault.hash_key(VARIADIC keys text[]) RETURNS char(32)
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    k text;
    joined text;
BEGIN
    IF keys IS NULL OR cardinality(keys) = 0 THEN
        RETURN NULL;
    END IF;
    IF cardinality(keys) = 1 THEN
        RETURN upper(md5(nullif(upper(trim(keys[1]) COLLATE "C"), '')));
    END IF;
    FOREACH k IN ARRAY keys LOOP
        k := coalesce(nullif(upper(trim(k) COLLATE "C"), ''), '^^');
        joined := CASE WHEN joined IS NULL THEN k ELSE joined || '||' || k END;
    END LOOP;
    IF joined = repeat('^^||', cardinality(keys) - 1) || '^^' THEN
        RETURN NULL;
    END IF;
    RETURN upper(md5(joined));
END
$$;

COMMENT ON FUNCTION vault.hash_key(text[]) IS
    'Data Vault hash key (AutomateDV convention): each key upper-cased and trimmed, '
    'NULL or empty written ^^, joined by ||, MD5 in upper-case hex. NULL when every key '
    'is NULL or empty. See schemas/README.md.';

CREATE FUNCTION vault.hash_diff(VARIADIC vals text[]) RETURNS char(32)
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v text;
    joined text;
BEGIN
    IF vals IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH v IN ARRAY vals LOOP
        v := coalesce(nullif(trim(v), ''), '^^');
        joined := CASE WHEN joined IS NULL THEN v ELSE joined || '||' || v END;
    END LOOP;
    RETURN upper(md5(coalesce(joined, '')));
END
$$;

COMMENT ON FUNCTION vault.hash_diff(text[]) IS
    'Data Vault hash diff: each value trimmed (case kept), NULL or empty written ^^, '
    'joined by || in the order given, MD5 in upper-case hex. Never NULL.';

-- Timestamps enter hashes in one text form, independent of the session's
-- TimeZone and DateStyle: UTC, microseconds, e.g. 2024-05-01T12:00:00.000000Z.
-- (to_char is only STABLE because of locale-dependent patterns; this one uses none.)
CREATE FUNCTION vault.hash_ts(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

COMMENT ON FUNCTION vault.hash_ts(timestamptz) IS
    'Canonical text of a timestamp inside hash diffs: UTC, YYYY-MM-DD"T"HH24:MI:SS.US"Z".';
