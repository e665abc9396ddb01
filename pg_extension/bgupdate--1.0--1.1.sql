-- bgupdate 1.0 -> 1.1. Version 1.0 has shipped and its script is frozen:
-- CREATE EXTENSION bgupdate installs 1.0 and then runs this script, and
-- ALTER EXTENSION bgupdate UPDATE brings an existing 1.0 database here.
-- Each section below belongs to one change and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ---------------------------------------------------------------- security: owners by OID, owned rows
-- An owner is a role OID: a role created later under a dropped role's name
-- inherits nothing. Queue rows and the schema-version state are owned too,
-- so no role can delete, change, squat or block another role's updates, or
-- mark a schema delta applied, beyond what it could do directly. Every
-- function here runs with a fixed search_path (CVE-2018-1058).

-- The role running the statement (inside a batch: the update's owner).
CREATE FUNCTION bgupdate._current_role() RETURNS oid
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER $$;

-- May role `who` act for `owner` (has its privileges)? A dropped owner: nobody
-- but a superuser (who bypasses row-level security anyway).
CREATE FUNCTION bgupdate._acts_for(who oid, owner oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN who IS NULL OR owner IS NULL THEN false
                WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = owner) THEN false
                ELSE pg_catalog.pg_has_role(who, owner, 'USAGE') END
$$;

-- The owner of an update name: its registration's, else its queue row's.
-- SECURITY DEFINER so that it sees rows the caller may not read.
CREATE FUNCTION bgupdate._owner_of(name text) RETURNS oid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT r.owner FROM bgupdate.update_registry r WHERE r.update_name = name),
                    (SELECT q.owner FROM bgupdate.background_updates q WHERE q.update_name = name))
$$;

-- Does update_name exist at all (registered or queued)?
CREATE FUNCTION bgupdate._name_taken(name text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM bgupdate.update_registry r WHERE r.update_name = name)
        OR EXISTS (SELECT 1 FROM bgupdate.background_updates q WHERE q.update_name = name)
$$;

-- 1.0 policies name the columns changed below; they are replaced further down.
DROP POLICY read_all ON bgupdate.update_registry;
DROP POLICY add_own ON bgupdate.update_registry;
DROP POLICY change_own ON bgupdate.update_registry;
DROP POLICY remove_own ON bgupdate.update_registry;
DROP POLICY read_all ON bgupdate.background_updates;
DROP POLICY add_own ON bgupdate.background_updates;
DROP POLICY change_own ON bgupdate.background_updates;
DROP POLICY remove_own ON bgupdate.background_updates;
DROP POLICY read_all ON bgupdate.update_state;
DROP POLICY add_own ON bgupdate.update_state;
DROP POLICY change_own ON bgupdate.update_state;
DROP POLICY remove_own ON bgupdate.update_state;
DROP POLICY read_all ON bgupdate.update_history;
DROP POLICY add_own ON bgupdate.update_history;
DROP FUNCTION bgupdate._may_manage(text);

-- Registry owners: names become OIDs (NULL for a role dropped since).
CREATE FUNCTION bgupdate._role_named(name text) RETURNS oid
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = name $$;
ALTER TABLE bgupdate.update_registry ALTER COLUMN owner DROP DEFAULT;
ALTER TABLE bgupdate.update_registry ALTER COLUMN owner DROP NOT NULL;
ALTER TABLE bgupdate.update_registry ALTER COLUMN owner TYPE oid USING bgupdate._role_named(owner);
DROP FUNCTION bgupdate._role_named(text);

-- Queue rows: owned by the role that inserted them (a Synapse delta's plain
-- INSERT names four columns; the owner comes from the default).
ALTER TABLE bgupdate.background_updates ADD COLUMN owner oid;
UPDATE bgupdate.background_updates q SET owner = r.owner
  FROM bgupdate.update_registry r WHERE r.update_name = q.update_name;
ALTER TABLE bgupdate.background_updates ALTER COLUMN owner SET DEFAULT bgupdate._current_role();

-- Whoever owns a name: its registration, queue row, state and history go with it.
CREATE FUNCTION bgupdate._may_manage(name text, who oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN NOT bgupdate._name_taken(name) THEN true
                ELSE bgupdate._acts_for(who, bgupdate._owner_of(name)) END
$$;

-- State and history of a name nobody holds can be written by any role (the
-- policies below allow it, so that ending a queue-only update still records
-- it): when a role takes such a name, whatever was left under it goes, so that
-- nobody can pause, fail or back off another role's update in advance
-- (callable by anyone: it removes only what anyone may already remove).
CREATE FUNCTION bgupdate._forget_untaken(name text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM bgupdate.update_state s WHERE s.update_name = name AND NOT bgupdate._name_taken(name);
    DELETE FROM bgupdate.update_history h WHERE h.update_name = name AND NOT bgupdate._name_taken(name);
$$;

-- Clear errors for what the policies below would only call a policy violation.
CREATE FUNCTION bgupdate._check_queue_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who oid := bgupdate._current_role();
    dep_owner oid;
    blocked text;
BEGIN
    IF NEW.owner IS NULL THEN NEW.owner := who; END IF;
    IF NOT bgupdate._acts_for(who, NEW.owner) THEN
        RAISE EXCEPTION 'permission denied: cannot queue background update "%" for another role', NEW.update_name
            USING ERRCODE = '42501';
    END IF;
    -- A row that takes a name (inserted, or renamed: UPDATE ... SET update_name)
    -- must not take another role's, nor one another role's update waits for.
    IF (TG_OP = 'INSERT' OR NEW.update_name IS DISTINCT FROM OLD.update_name)
       AND bgupdate._name_taken(NEW.update_name)
       AND NOT bgupdate._acts_for(NEW.owner, bgupdate._owner_of(NEW.update_name)) THEN
        RAISE EXCEPTION 'permission denied: background update "%" belongs to another role', NEW.update_name
            USING ERRCODE = '42501';
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.update_name IS DISTINCT FROM OLD.update_name)
       AND NOT bgupdate._name_taken(NEW.update_name) THEN
        PERFORM bgupdate._forget_untaken(NEW.update_name);
    END IF;
    -- A dependency is a promise to wait: only on updates of roles the owner
    -- acts for, or of a superuser (so nobody can hold another role's update
    -- back by queueing or pausing the name it waits for).
    IF NEW.depends_on IS NOT NULL THEN
        dep_owner := bgupdate._owner_of(NEW.depends_on);
        IF dep_owner IS NOT NULL AND NOT bgupdate._acts_for(NEW.owner, dep_owner)
           AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = dep_owner), false) THEN
            RAISE EXCEPTION 'permission denied: background update "%" cannot depend on "%", which belongs to a role it does not act for',
                NEW.update_name, NEW.depends_on USING ERRCODE = '42501';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.update_name IS DISTINCT FROM OLD.update_name
       OR NEW.owner IS DISTINCT FROM OLD.owner THEN
        SELECT string_agg(q.update_name, ', ') INTO blocked
          FROM bgupdate.background_updates q
         WHERE q.depends_on = NEW.update_name AND NOT bgupdate._acts_for(q.owner, NEW.owner)
           AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = NEW.owner), false);
        IF blocked IS NOT NULL THEN
            RAISE EXCEPTION 'permission denied: queueing "%" would hold back updates of another role (%)',
                NEW.update_name, blocked USING ERRCODE = '42501';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OF owner, update_name, depends_on
    ON bgupdate.background_updates FOR EACH ROW EXECUTE FUNCTION bgupdate._check_queue_row();

CREATE FUNCTION bgupdate._check_registration() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who oid := bgupdate._current_role();
BEGIN
    IF NEW.owner IS NULL THEN NEW.owner := who; END IF;
    IF NOT bgupdate._acts_for(who, NEW.owner) THEN
        RAISE EXCEPTION 'permission denied: cannot register background update "%" for another role', NEW.update_name
            USING ERRCODE = '42501';
    END IF;
    -- A queued name registers only to the role that queued it (or one acting for it).
    IF NOT bgupdate._may_manage(NEW.update_name, who) THEN
        RAISE EXCEPTION 'permission denied: background update "%" belongs to another role', NEW.update_name
            USING ERRCODE = '42501';
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.update_name IS DISTINCT FROM OLD.update_name)
       AND NOT bgupdate._name_taken(NEW.update_name) THEN
        PERFORM bgupdate._forget_untaken(NEW.update_name);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OF owner, update_name
    ON bgupdate.update_registry FOR EACH ROW EXECUTE FUNCTION bgupdate._check_registration();

-- Row-level security: a role reads and changes only what belongs to a role it
-- acts for. Queue rows (names, order, dependencies, progress) stay readable
-- by all, so that every session's scheduler honours dependencies between
-- roles; definitions (with their SQL fragments and search_path), state and
-- history are private to their owners.
CREATE POLICY read_all ON bgupdate.background_updates FOR SELECT USING (true);
CREATE POLICY add_own ON bgupdate.background_updates FOR INSERT
    WITH CHECK (bgupdate._acts_for(bgupdate._current_role(), owner));
CREATE POLICY change_own ON bgupdate.background_updates FOR UPDATE
    USING (bgupdate._acts_for(bgupdate._current_role(), owner))
    WITH CHECK (bgupdate._acts_for(bgupdate._current_role(), owner));
CREATE POLICY remove_own ON bgupdate.background_updates FOR DELETE
    USING (bgupdate._acts_for(bgupdate._current_role(), owner));

CREATE POLICY read_own ON bgupdate.update_registry FOR SELECT
    USING (bgupdate._acts_for(bgupdate._current_role(), owner));
CREATE POLICY add_own ON bgupdate.update_registry FOR INSERT
    WITH CHECK (bgupdate._acts_for(bgupdate._current_role(), owner)
                AND bgupdate._may_manage(update_name, bgupdate._current_role()));
CREATE POLICY change_own ON bgupdate.update_registry FOR UPDATE
    USING (bgupdate._acts_for(bgupdate._current_role(), owner))
    WITH CHECK (bgupdate._acts_for(bgupdate._current_role(), owner));
CREATE POLICY remove_own ON bgupdate.update_registry FOR DELETE
    USING (bgupdate._acts_for(bgupdate._current_role(), owner));

CREATE POLICY read_own ON bgupdate.update_state FOR SELECT
    USING (bgupdate._may_manage(update_name, bgupdate._current_role()));
CREATE POLICY add_own ON bgupdate.update_state FOR INSERT
    WITH CHECK (bgupdate._may_manage(update_name, bgupdate._current_role()));
CREATE POLICY change_own ON bgupdate.update_state FOR UPDATE
    USING (bgupdate._may_manage(update_name, bgupdate._current_role()));
CREATE POLICY remove_own ON bgupdate.update_state FOR DELETE
    USING (bgupdate._may_manage(update_name, bgupdate._current_role()));

CREATE POLICY read_own ON bgupdate.update_history FOR SELECT
    USING (bgupdate._may_manage(update_name, bgupdate._current_role()));
CREATE POLICY add_own ON bgupdate.update_history FOR INSERT
    WITH CHECK (bgupdate._may_manage(update_name, bgupdate._current_role()));

-- The schema-version state (Synapse's schema_version, schema_compat_version,
-- applied_schema_deltas) is the database owner's: only a role acting for it
-- (or a superuser) may write it, so nobody can mark a delta applied or raise
-- the compat version under the owner's migrations.
CREATE FUNCTION bgupdate._acts_for_database_owner() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bgupdate._acts_for(bgupdate._current_role(), d.datdba)
      FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
$$;
ALTER TABLE bgupdate.schema_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE bgupdate.schema_compat_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE bgupdate.applied_schema_deltas ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.schema_version FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.schema_version FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());
CREATE POLICY read_all ON bgupdate.schema_compat_version FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.schema_compat_version FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());
CREATE POLICY read_all ON bgupdate.applied_schema_deltas FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.applied_schema_deltas FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());

-- ---------------------------------------------------------------- migrations as Synapse runs them
-- A full-schema snapshot file for an empty database; .py deltas recorded as
-- skipped (their own table: applied_schema_deltas must keep meaning "ran",
-- as Synapse reads it); the queue adopted under the unqualified name
-- `background_updates` (see README "Existing Synapse databases"); and a
-- measured estimate of a queued update.
CREATE TABLE bgupdate.skipped_schema_deltas (
    version int NOT NULL,
    file text NOT NULL,
    reason text NOT NULL,
    skipped_at text NOT NULL,
    UNIQUE (version, file)
);
SELECT pg_catalog.pg_extension_config_dump('bgupdate.skipped_schema_deltas', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON bgupdate.skipped_schema_deltas TO PUBLIC;
-- Schema-version state like applied_schema_deltas: the database owner's.
ALTER TABLE bgupdate.skipped_schema_deltas ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.skipped_schema_deltas FOR SELECT USING (true);
CREATE POLICY owner_writes ON bgupdate.skipped_schema_deltas FOR ALL
    USING (bgupdate._acts_for_database_owner()) WITH CHECK (bgupdate._acts_for_database_owner());

CREATE FUNCTION bgupdate.apply_schema_snapshot(version bigint, file_name text, sql text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_apply_schema_snapshot';
CREATE FUNCTION bgupdate.skip_schema_delta(version bigint, file_name text, reason text) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_skip_schema_delta';
CREATE FUNCTION bgupdate.adopt_queue() RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_adopt_queue';
CREATE FUNCTION bgupdate.estimate(update_name text) RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_estimate';

-- ================================================================ health checks, pacing, visibility
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
    OUT updated_at timestamptz, OUT completed_at timestamptz, OUT hold_reason text, OUT hold_until timestamptz,
    OUT estimate_is_rough boolean)
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
       s.started_at, s.updated_at, s.completed_at, s.hold_reason, s.hold_until, ib.phase AS index_phase,
       -- a table never analyzed: total_estimate, percent and ETA guessed from its size
       s.estimate_is_rough
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

-- ---------------------------------------------------------------- queue rows without an owner
-- (status.estimate_is_rough is declared with the status view above: a table
-- never analyzed has total_estimate, percent and ETA guessed from its size.)
-- Queue rows from 1.0 that no registration owned yet (a schema delta queued
-- them before the application registered the handler) would otherwise have
-- no owner, and nobody - not even a superuser - could register or run them:
-- they belong to the database owner, who applies the schema deltas.
UPDATE bgupdate.background_updates SET owner = d.datdba
  FROM pg_catalog.pg_database d
 WHERE owner IS NULL AND d.datname = pg_catalog.current_database();

-- The history table, documented where psql's \d+ shows it. Since 1.1 the
-- library also writes one 'batch' row per committed batch (bounded to the
-- newest 1,000 per update); no column changes, so a 1.0 schema keeps working
-- with the new library until this update runs.
COMMENT ON TABLE bgupdate.update_history IS
    'What happened to each background update, newest last by id: one row per committed batch (event batch, '
    'only the newest 1,000 per update kept) and per lifecycle event (failure, failed, complete)';
COMMENT ON COLUMN bgupdate.update_history.event IS 'batch, failure, failed or complete';
COMMENT ON COLUMN bgupdate.update_history.batches IS 'batch: this batch''s number; otherwise the update''s batches so far';
COMMENT ON COLUMN bgupdate.update_history.items IS 'batch: items of this batch; otherwise the update''s items so far';
COMMENT ON COLUMN bgupdate.update_history.duration_ms IS 'batch: duration of this batch; otherwise the total batch time';
COMMENT ON COLUMN bgupdate.update_history.detail IS
    'batch: {"from": progress before, "to": progress after or null when it completed, "batch_size"}; '
    'failure/failed: {"error", "sqlstate", "from": progress the failing batch started at}';
-- Keeping batch rows bounded deletes old ones: a role may delete the batch
-- rows of updates it may manage, never a lifecycle record. (Before this
-- update the library prunes only where the role already may delete.)
GRANT DELETE ON bgupdate.update_history TO PUBLIC;
CREATE POLICY prune_own_batches ON bgupdate.update_history FOR DELETE
    USING (event = 'batch' AND bgupdate._may_manage(update_name, bgupdate._current_role()));

-- The application-run batch protocol (any language, any driver, no callback):
-- inside the application's transaction, batch_begin() claims the next update
-- registered with register_application_update() and returns {update_name,
-- progress, batch_size}; the application runs its own statements;
-- batch_end(items, progress, done) records the batch; COMMIT makes it durable.
-- batch_fail(message) raises, so the application rolls back; the failure is
-- recorded by the next batch_begin() in the session.
CREATE FUNCTION bgupdate.register_application_update(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_application_update';

CREATE FUNCTION bgupdate.batch_begin() RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_batch_begin';

CREATE FUNCTION bgupdate.batch_end(items bigint, progress jsonb DEFAULT NULL, done boolean DEFAULT false) RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_batch_end';

CREATE FUNCTION bgupdate.batch_fail(message text DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_batch_fail';
