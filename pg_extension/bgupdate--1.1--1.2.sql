-- bgupdate 1.1 -> 1.2. Versions 1.0 and 1.1 have shipped and their scripts
-- are frozen: CREATE EXTENSION bgupdate installs 1.0 and runs each upgrade
-- script in turn, and ALTER EXTENSION bgupdate UPDATE brings an existing
-- database here. Each section below belongs to one behaviour and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ---------------------------------------------------------------- who runs a batch, and when
-- finish() waits for another runner instead of failing (for another role's
-- update: the worker, since a session runs only its own role's updates),
-- with NOTICEs, and gives up after timeout_ms when given.
DROP FUNCTION bgupdate.finish(text);
CREATE FUNCTION bgupdate.finish(update_name text, timeout_ms bigint DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_finish';

-- run() without an argument runs until the queue is empty; run(NULL) is a
-- mistake and refused (as on SQLite), so the two are separate procedures.
DROP PROCEDURE bgupdate.run(bigint);
CREATE PROCEDURE bgupdate.run(max_ms bigint)
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_run';
CREATE PROCEDURE bgupdate.run()
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_run';

-- The owner of an update (or a role acting for it) stops its running batch,
-- in the worker or a session; the batch counts as a failed attempt.
CREATE FUNCTION bgupdate.cancel(update_name text) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_cancel';

-- Starts an update over: its progress, state and definition are forgotten
-- (the queue row stays; history keeps a "reset" row), so that a changed
-- definition can be registered (a queued update's definition cannot change
-- under it otherwise).
CREATE FUNCTION bgupdate.reset(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_reset';

-- ---------------------------------------------------------------- the library's version
-- The version of the loaded library (one VERSION file gives it, the SQL
-- version and the tools theirs), as SQLite's bgupdate_version() gives the
-- SQLite extension's: `SELECT bgupdate.version(), extversion FROM
-- pg_extension WHERE extname = 'bgupdate'` shows a package upgrade that
-- still needs ALTER EXTENSION bgupdate UPDATE.
CREATE FUNCTION bgupdate.version() RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'bgupdate_library_version';

-- ---------------------------------------------------------------- logical databases
-- Which of an application's logical databases (Synapse: main, state; common
-- goes to every one) this physical database holds, as recorded by
-- `bgupdate migrate`: a later migrate that would apply a logical database to
-- the wrong physical one is refused. '*' means every logical database (one
-- database for all, migrated with a single --db).
CREATE TABLE bgupdate.logical_databases (
    name text PRIMARY KEY,
    recorded_at text NOT NULL
);
-- Part of the application's migration state: dumped with the database.
SELECT pg_catalog.pg_extension_config_dump('bgupdate.logical_databases', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON bgupdate.logical_databases TO PUBLIC;
-- Schema-version state like applied_schema_deltas: the database owner's.
ALTER TABLE bgupdate.logical_databases ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.logical_databases FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.logical_databases FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());

-- ---------------------------------------------------------------- port progress
-- Progress of `bgupdate port` (an application's SQLite database copied into
-- this one), one row per table: each batch's rows and its row here commit in
-- one transaction, so a port killed at any moment resumes after the last key
-- copied, with no row lost or repeated.
CREATE TABLE bgupdate.port_progress (
    table_name text PRIMARY KEY,
    source text NOT NULL,
    key_columns text NOT NULL,
    last_key text,
    rows_copied bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    updated_at text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('bgupdate.port_progress', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON bgupdate.port_progress TO PUBLIC;
-- Like the schema-version state: the database owner's.
ALTER TABLE bgupdate.port_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.port_progress FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.port_progress FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());

-- ---------------------------------------------------------------- fixed key ranges
-- A batched update or a validate-and-delete update may fix its key range
-- (GitLab's batch_min_value / batch_max_value): fixed_range ends the scan at
-- the largest key the table holds when the update starts, max_key at a key
-- given here, min_key starts it at one; without them the scan follows the
-- table to its last row, new rows included. CREATE OR REPLACE cannot add
-- arguments, and an overload with more defaulted arguments would make every
-- existing call ambiguous, so the functions are dropped and created again
-- with the new trailing arguments (existing calls keep working unchanged).
DROP FUNCTION bgupdate.register_batched_update(text, text, text[], text, text);
CREATE FUNCTION bgupdate.register_batched_update(update_name text, "table" text, key_columns text[],
    set_clause text, where_clause text DEFAULT NULL, fixed_range boolean DEFAULT false,
    min_key jsonb DEFAULT NULL, max_key jsonb DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_batched_update';

DROP FUNCTION bgupdate.register_validate_constraint_and_delete_rows(text, text, text, jsonb, text[]);
CREATE FUNCTION bgupdate.register_validate_constraint_and_delete_rows(update_name text, "table" text,
    constraint_name text, "constraint" jsonb, unique_columns text[], fixed_range boolean DEFAULT false,
    min_key jsonb DEFAULT NULL, max_key jsonb DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_validate_constraint_and_delete_rows';

-- ---------------------------------------------------------------- health readings: details only for pg_monitor, workers not counted as blocked
-- _health_readings is SECURITY DEFINER (most signals need pg_monitor) and
-- callable by every role, so it must not show what the caller could not see
-- itself: which standby or slot lags, which session (pid, application name,
-- state) holds the xmin horizon or waits on a batch, which WAL file fails to
-- archive. Numbers go to everyone; the detail column only when the session's
-- role has pg_monitor and the caller asks for it (the runner asks only when
-- the update's owner has pg_monitor too, as the reason lands in that owner's
-- status row). session_user, not current_user: inside a SECURITY DEFINER
-- function current_user is the definer, and a session can always RESET ROLE
-- back to session_user.
-- Workers on different partitions of one update merge their progress into
-- the update's queue row one after the other, so one may wait a moment on
-- another's row lock. The blocked-sessions signal is there for the
-- application's sessions: a bgupdate worker waiting is not counted (it
-- would halve and pause the batches of every partition for nothing).
DROP FUNCTION bgupdate._health_readings(regclass, text[]);
CREATE FUNCTION bgupdate._health_readings(rel regclass, signals text[], with_details boolean DEFAULT true)
RETURNS TABLE (signal text, value double precision, detail text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    show boolean := with_details AND pg_catalog.pg_has_role(session_user, 'pg_monitor', 'USAGE');
BEGIN
    -- Activity views are a snapshot per transaction: the batch's own
    -- transaction read them before its work, and must see sessions now.
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    IF 'replica_lag_ms' = ANY (signals) THEN
        RETURN QUERY SELECT 'replica_lag_ms'::text,
                            (EXTRACT(epoch FROM r.replay_lag) * 1000)::double precision,
                            CASE WHEN show THEN ('standby ' || COALESCE(NULLIF(r.application_name, ''), r.pid::text)) END::text
                       FROM pg_catalog.pg_stat_replication r WHERE r.replay_lag IS NOT NULL
                      ORDER BY r.replay_lag DESC LIMIT 1;
    END IF;
    IF 'replica_lag_mb' = ANY (signals) THEN
        RETURN QUERY SELECT 'replica_lag_mb'::text,
                            (pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn) / 1048576)::double precision,
                            CASE WHEN show THEN ('standby ' || COALESCE(NULLIF(r.application_name, ''), r.pid::text)) END::text
                       FROM pg_catalog.pg_stat_replication r WHERE r.replay_lsn IS NOT NULL
                      ORDER BY 2 DESC LIMIT 1;
    END IF;
    IF 'slot_retained_mb' = ANY (signals) THEN
        RETURN QUERY SELECT 'slot_retained_mb'::text,
                            (pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn) / 1048576)::double precision,
                            CASE WHEN show THEN ('slot ' || s.slot_name) END::text
                       FROM pg_catalog.pg_replication_slots s WHERE s.active AND s.restart_lsn IS NOT NULL
                      ORDER BY 2 DESC LIMIT 1;
    END IF;
    IF 'vacuum' = ANY (signals) AND rel IS NOT NULL THEN
        RETURN QUERY SELECT 'vacuum'::text, count(*)::double precision,
                            CASE WHEN show THEN
                                pg_catalog.string_agg(CASE WHEN a.backend_type = 'autovacuum worker' THEN 'autovacuum'
                                                           ELSE 'VACUUM' END || ' pid ' || p.pid, ', ') END::text
                       FROM pg_catalog.pg_stat_progress_vacuum p
                       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
                      WHERE p.relid = rel;
    END IF;
    IF 'archive_ready' = ANY (signals) THEN
        RETURN QUERY SELECT 'archive_ready'::text, count(*)::double precision,
                            (SELECT CASE WHEN s.failed_count > 0 AND s.last_failed_time >= COALESCE(s.last_archived_time, '-infinity')
                                         THEN 'archive_command failing since ' || s.last_failed_time ||
                                              CASE WHEN show THEN ' on ' || s.last_failed_wal ELSE '' END
                                    END FROM pg_catalog.pg_stat_archiver s)::text
                       FROM pg_catalog.pg_ls_archive_statusdir() f WHERE f.name LIKE '%.ready';
    END IF;
    IF 'xmin_age_s' = ANY (signals) THEN
        RETURN QUERY SELECT 'xmin_age_s'::text, x.age, CASE WHEN show THEN x.who END FROM (
            SELECT EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.xact_start)::double precision AS age,
                   ('pid ' || a.pid || COALESCE(' ' || NULLIF(a.application_name, ''), '') || ', ' ||
                    COALESCE(a.state, a.backend_type))::text AS who
              FROM pg_catalog.pg_stat_activity a
             WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.xact_start IS NOT NULL
               AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
            UNION ALL
            SELECT EXTRACT(epoch FROM pg_catalog.clock_timestamp() - p.prepared)::double precision,
                   ('prepared transaction ' || p.gid)::text
              FROM pg_catalog.pg_prepared_xacts p) x
         ORDER BY x.age DESC LIMIT 1;
    END IF;
    IF 'blocked_sessions' = ANY (signals) THEN
        RETURN QUERY SELECT 'blocked_sessions'::text, count(*)::double precision,
                            CASE WHEN show THEN pg_catalog.string_agg('pid ' || a.pid, ', ') END::text
                       FROM pg_catalog.pg_stat_activity a
                      WHERE a.wait_event_type = 'Lock'
                        AND a.backend_type OPERATOR(pg_catalog.<>) 'bgupdate worker'
                        AND pg_catalog.pg_backend_pid() = ANY (pg_catalog.pg_blocking_pids(a.pid));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION bgupdate._health_readings(regclass, text[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bgupdate._health_readings(regclass, text[], boolean) TO PUBLIC;

-- ---------------------------------------------------------------- config(key [, value]) as on SQLite
-- The SQL reference lists bgupdate_config(key [, value]) for both engines.
-- On PostgreSQL the settings are GUCs (bgupdate.<key>): config(key) reads the
-- value in effect for this session, config(key, value) validates it exactly
-- as SQLite's does (the one rule set in common/settings.*), sets it for the
-- session (as SET would; ALTER DATABASE / ALTER SYSTEM SET bgupdate.<key>
-- make it stick for the worker) and returns it; 'enabled' is the per-database
-- switch of set_enabled(). Both return the normalised text ('true', '100',
-- a hook's schema-qualified signature). SECURITY INVOKER and no SET clause:
-- a hook name resolves on the caller's search_path, as SET would resolve it,
-- and the GUCs' own rules apply (hooks are for superusers).
CREATE FUNCTION bgupdate._normalise_setting(key text, value text) RETURNS text
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_normalise_setting';

CREATE FUNCTION bgupdate.config(key text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF key OPERATOR(pg_catalog.=) 'enabled' THEN
        RETURN bgupdate._normalise_setting(key, bgupdate.enabled()::pg_catalog.text);
    END IF;
    -- An unknown key is refused by the same rule (and message) as on SQLite.
    RETURN bgupdate._normalise_setting(key, COALESCE(
        pg_catalog.current_setting('bgupdate.' OPERATOR(pg_catalog.||) key, true), ''));
END
$$;

CREATE FUNCTION bgupdate.config(key text, value text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    normalised text := bgupdate._normalise_setting(key, value);
BEGIN
    IF key OPERATOR(pg_catalog.=) 'enabled' THEN
        PERFORM bgupdate.set_enabled(normalised::boolean);
        RETURN normalised;
    END IF;
    PERFORM pg_catalog.set_config('bgupdate.' OPERATOR(pg_catalog.||) key, normalised, false);
    RETURN bgupdate.config(key);
END
$$;
