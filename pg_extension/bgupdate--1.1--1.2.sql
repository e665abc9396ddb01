-- bgupdate 1.1 -> 1.2. Versions 1.0 and 1.1 have shipped and their scripts
-- are frozen: CREATE EXTENSION bgupdate installs 1.0 and runs each upgrade
-- script in turn, and ALTER EXTENSION bgupdate UPDATE brings an existing
-- database here. Each section below belongs to one behaviour and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ================================================================ health readings: details only for pg_monitor
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
                        AND pg_catalog.pg_backend_pid() = ANY (pg_catalog.pg_blocking_pids(a.pid));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION bgupdate._health_readings(regclass, text[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bgupdate._health_readings(regclass, text[], boolean) TO PUBLIC;

-- ================================================================ config(key [, value]) as on SQLite
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
