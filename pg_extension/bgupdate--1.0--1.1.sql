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
    IF TG_OP = 'INSERT' AND bgupdate._name_taken(NEW.update_name)
       AND NOT bgupdate._acts_for(NEW.owner, bgupdate._owner_of(NEW.update_name)) THEN
        RAISE EXCEPTION 'permission denied: background update "%" belongs to another role', NEW.update_name
            USING ERRCODE = '42501';
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
    IF TG_OP = 'INSERT' THEN
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

-- ---------------------------------------------------------------- issue 9
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

-- status.estimate_is_rough: a table never analyzed has no statistics, so
-- total_estimate (and percent, ETA) is guessed from its size on disk and
-- marked as such. The view gains the column at its end; until this update
-- runs, the library fills only the columns a 1.0 view declares.
DROP VIEW bgupdate.status;
DROP FUNCTION bgupdate._status();
CREATE FUNCTION bgupdate._status(OUT update_name text, OUT state text, OUT ordering bigint, OUT depends_on text,
    OUT batches bigint, OUT items_done bigint, OUT total_estimate bigint, OUT percent double precision,
    OUT avg_items_per_ms double precision, OUT total_items_per_ms double precision, OUT batch_size bigint,
    OUT eta_seconds double precision, OUT attempts bigint, OUT last_error text, OUT started_at timestamptz,
    OUT updated_at timestamptz, OUT completed_at timestamptz, OUT estimate_is_rough boolean)
RETURNS SETOF record LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_status';
CREATE VIEW bgupdate.status AS SELECT * FROM bgupdate._status();
GRANT SELECT ON bgupdate.status TO PUBLIC;
