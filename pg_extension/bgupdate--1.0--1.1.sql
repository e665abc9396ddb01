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

-- ---------------------------------------------------------------- issue 7: migrations as Synapse runs them
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
