-- bgupdate 1.0 -> 1.1. Version 1.0 has shipped and its script is frozen:
-- CREATE EXTENSION bgupdate installs 1.0 and then runs this script, and
-- ALTER EXTENSION bgupdate UPDATE brings an existing 1.0 database here.
-- Each section below belongs to one change and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ================================================================ issue 6: health checks, pacing, visibility
-- Health checks put an update on hold (a state, not a failure): why and until
-- when are kept with its state. size_cap limits the next batch after a
-- timeout or after sessions waited on a batch's locks (halved, then doubled back).
ALTER TABLE bgupdate.update_state
    ADD COLUMN hold_reason text,
    ADD COLUMN hold_until_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN size_cap bigint;

-- The signals the runner asks for before a batch (and 'blocked_sessions'
-- inside one), worst instance first. SECURITY DEFINER: reading replication,
-- archiver and other sessions' state needs pg_monitor; callers get numbers
-- only. The table is resolved by the caller (rel), in the caller's search_path.
CREATE FUNCTION bgupdate._health_readings(rel regclass, signals text[])
RETURNS TABLE (signal text, value double precision, detail text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Activity views are a snapshot per transaction: the batch's own
    -- transaction read them before its work, and must see sessions now.
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    IF 'replica_lag_ms' = ANY (signals) THEN
        RETURN QUERY SELECT 'replica_lag_ms'::text,
                            (EXTRACT(epoch FROM r.replay_lag) * 1000)::double precision,
                            ('standby ' || COALESCE(NULLIF(r.application_name, ''), r.pid::text))::text
                       FROM pg_catalog.pg_stat_replication r WHERE r.replay_lag IS NOT NULL
                      ORDER BY r.replay_lag DESC LIMIT 1;
    END IF;
    IF 'replica_lag_mb' = ANY (signals) THEN
        RETURN QUERY SELECT 'replica_lag_mb'::text,
                            (pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn) / 1048576)::double precision,
                            ('standby ' || COALESCE(NULLIF(r.application_name, ''), r.pid::text))::text
                       FROM pg_catalog.pg_stat_replication r WHERE r.replay_lsn IS NOT NULL
                      ORDER BY 2 DESC LIMIT 1;
    END IF;
    IF 'slot_retained_mb' = ANY (signals) THEN
        RETURN QUERY SELECT 'slot_retained_mb'::text,
                            (pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn) / 1048576)::double precision,
                            ('slot ' || s.slot_name)::text
                       FROM pg_catalog.pg_replication_slots s WHERE s.active AND s.restart_lsn IS NOT NULL
                      ORDER BY 2 DESC LIMIT 1;
    END IF;
    IF 'vacuum' = ANY (signals) AND rel IS NOT NULL THEN
        RETURN QUERY SELECT 'vacuum'::text, count(*)::double precision,
                            pg_catalog.string_agg(CASE WHEN a.backend_type = 'autovacuum worker' THEN 'autovacuum'
                                                       ELSE 'VACUUM' END || ' pid ' || p.pid, ', ')::text
                       FROM pg_catalog.pg_stat_progress_vacuum p
                       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
                      WHERE p.relid = rel;
    END IF;
    IF 'archive_ready' = ANY (signals) THEN
        RETURN QUERY SELECT 'archive_ready'::text, count(*)::double precision,
                            (SELECT CASE WHEN s.failed_count > 0 AND s.last_failed_time >= COALESCE(s.last_archived_time, '-infinity')
                                         THEN 'archive_command failing since ' || s.last_failed_time || ' on ' || s.last_failed_wal
                                    END FROM pg_catalog.pg_stat_archiver s)::text
                       FROM pg_catalog.pg_ls_archive_statusdir() f WHERE f.name LIKE '%.ready';
    END IF;
    IF 'xmin_age_s' = ANY (signals) THEN
        RETURN QUERY SELECT 'xmin_age_s'::text, x.age, x.who FROM (
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
                            pg_catalog.string_agg('pid ' || a.pid, ', ')::text
                       FROM pg_catalog.pg_stat_activity a
                      WHERE a.wait_event_type = 'Lock'
                        AND pg_catalog.pg_backend_pid() = ANY (pg_catalog.pg_blocking_pids(a.pid));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION bgupdate._health_readings(regclass, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bgupdate._health_readings(regclass, text[]) TO PUBLIC;

-- status gains hold_reason and hold_until, and while the worker builds an
-- index, percent and ETA from pg_stat_progress_create_index (index_phase).
DROP VIEW bgupdate.status;
DROP FUNCTION bgupdate._status();
CREATE FUNCTION bgupdate._status(OUT update_name text, OUT state text, OUT ordering bigint, OUT depends_on text,
    OUT batches bigint, OUT items_done bigint, OUT total_estimate bigint, OUT percent double precision,
    OUT avg_items_per_ms double precision, OUT total_items_per_ms double precision, OUT batch_size bigint,
    OUT eta_seconds double precision, OUT attempts bigint, OUT last_error text, OUT started_at timestamptz,
    OUT updated_at timestamptz, OUT completed_at timestamptz, OUT hold_reason text, OUT hold_until timestamptz)
RETURNS SETOF record LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_status';

-- Index build progress: CREATE INDEX CONCURRENTLY's phases weighted into one
-- percent (build 0-50, validation 50-95, the final waits 95-99); ETA from the
-- time spent so far.
CREATE FUNCTION bgupdate._index_build_percent(phase text, blocks_done bigint, blocks_total bigint,
                                              tuples_done bigint, tuples_total bigint)
RETURNS double precision LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN phase = 'building index: scanning table' THEN 40.0 * blocks_done / NULLIF(blocks_total, 0)
        WHEN phase = 'building index: sorting live tuples' THEN 40.0
        WHEN phase = 'building index: loading tuples in tree' THEN 40 + 10.0 * tuples_done / NULLIF(tuples_total, 0)
        WHEN phase = 'waiting for writers before validation' THEN 50.0
        WHEN phase = 'index validation: scanning index' THEN 50 + 10.0 * blocks_done / NULLIF(blocks_total, 0)
        WHEN phase = 'index validation: sorting tuples' THEN 60.0
        WHEN phase = 'index validation: scanning table' THEN 60 + 35.0 * blocks_done / NULLIF(blocks_total, 0)
        WHEN phase LIKE 'waiting for old snapshots%' THEN 95.0
        WHEN phase LIKE 'waiting for readers%' THEN 98.0
        ELSE 0.0 END
$$;

CREATE VIEW bgupdate.status AS
SELECT s.update_name, s.state, s.ordering, s.depends_on, s.batches, s.items_done, s.total_estimate,
       COALESCE(ib.percent, s.percent) AS percent, s.avg_items_per_ms, s.total_items_per_ms, s.batch_size,
       COALESCE(ib.eta_seconds, s.eta_seconds) AS eta_seconds, s.attempts, s.last_error,
       s.started_at, s.updated_at, s.completed_at, s.hold_reason, s.hold_until, ib.phase AS index_phase
  FROM bgupdate._status() s
  LEFT JOIN LATERAL (
      SELECT p.phase::text AS phase, pct.v AS percent,
             CASE WHEN pct.v > 0 THEN EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.query_start)
                                      * (100 - pct.v) / pct.v END AS eta_seconds
        FROM bgupdate.update_registry r
        JOIN pg_catalog.pg_stat_progress_create_index p
          ON p.relid = pg_catalog.to_regclass(r.spec_json::json ->> 'table')
        JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid AND a.backend_type = 'bgupdate worker'
       CROSS JOIN LATERAL (SELECT bgupdate._index_build_percent(p.phase, p.blocks_done, p.blocks_total,
                                                                p.tuples_done, p.tuples_total) AS v) pct
       WHERE r.update_name = s.update_name AND r.kind = 'index' AND s.state <> 'complete'
         AND a.query LIKE '%' || (r.spec_json::json ->> 'index_name') || '%'
       LIMIT 1) ib ON true;
GRANT SELECT ON bgupdate.status TO PUBLIC;

-- One row per metric for a Prometheus exporter's custom query (e.g.
-- postgres_exporter: name and labels as LABEL, value as GAUGE). Per update:
-- items, batches, batch duration (moving average) and size, failures, hold.
CREATE VIEW bgupdate.metrics AS
SELECT m.name, 'update_name="' || pg_catalog.replace(pg_catalog.replace(s.update_name, '\', '\\'), '"', '\"') || '"'
           AS labels, m.value
  FROM bgupdate.status s
  LEFT JOIN bgupdate.update_state u ON u.update_name = s.update_name
 CROSS JOIN LATERAL (VALUES
       ('bgupdate_items_total', s.items_done::double precision),
       ('bgupdate_batches_total', s.batches::double precision),
       ('bgupdate_batch_duration_ms', u.avg_duration_ms),
       ('bgupdate_batch_size', s.batch_size::double precision),
       ('bgupdate_failures_total', COALESCE(u.total_failures, 0)::double precision),
       ('bgupdate_attempts', s.attempts::double precision),
       ('bgupdate_on_hold', CASE WHEN s.state = 'on_hold' THEN 1.0 ELSE 0.0 END),
       ('bgupdate_failed', CASE WHEN s.state = 'failed' THEN 1.0 ELSE 0.0 END),
       ('bgupdate_complete', CASE WHEN s.state = 'complete' THEN 1.0 ELSE 0.0 END),
       ('bgupdate_percent', s.percent),
       ('bgupdate_eta_seconds', s.eta_seconds),
       ('bgupdate_items_per_second', s.avg_items_per_ms * 1000)) AS m(name, value)
 WHERE m.value IS NOT NULL
UNION ALL
SELECT 'bgupdate_queue_length', '', count(*)::double precision FROM bgupdate.background_updates
UNION ALL
SELECT 'bgupdate_updates_on_hold', '', count(*) FILTER (WHERE state = 'on_hold')::double precision FROM bgupdate.status;
GRANT SELECT ON bgupdate.metrics TO PUBLIC;
