-- bgupdate 1.0: the queue (Synapse's shape), registry, state, history,
-- settings and schema-version tables, and the SQL API over the C++ core.
\echo Use "CREATE EXTENSION bgupdate" to load this file. \quit

-- ---------------------------------------------------------------- tables
CREATE TABLE bgupdate.background_updates (
    update_name text NOT NULL,
    progress_json text NOT NULL,
    depends_on text,
    ordering int NOT NULL DEFAULT 0,
    CONSTRAINT background_updates_uniqueness UNIQUE (update_name)
);

CREATE TABLE bgupdate.update_registry (
    update_name text PRIMARY KEY,
    kind text NOT NULL,
    spec_json text NOT NULL,
    owner text NOT NULL DEFAULT '',
    search_path text NOT NULL DEFAULT '',
    registered_at text NOT NULL
);

CREATE TABLE bgupdate.update_state (
    update_name text PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    failed boolean NOT NULL DEFAULT false,
    attempts bigint NOT NULL DEFAULT 0,
    total_failures bigint NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at_ms bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    items_done bigint NOT NULL DEFAULT 0,
    total_estimate bigint,
    avg_items double precision NOT NULL DEFAULT 0,
    avg_duration_ms double precision NOT NULL DEFAULT 0,
    total_duration_ms double precision NOT NULL DEFAULT 0,
    batch_size bigint,
    ordering bigint,
    depends_on text,
    started_at text,
    updated_at text,
    completed_at text
);

CREATE TABLE bgupdate.update_history (
    id bigserial PRIMARY KEY,
    update_name text NOT NULL,
    event text NOT NULL,
    batches bigint,
    items bigint,
    duration_ms double precision,
    detail text,
    at text NOT NULL
);

CREATE TABLE bgupdate.config (
    key text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE bgupdate.schema_version (
    lock char(1) NOT NULL DEFAULT 'X' UNIQUE,
    version int NOT NULL,
    upgraded boolean NOT NULL,
    CHECK (lock = 'X')
);

CREATE TABLE bgupdate.schema_compat_version (
    lock char(1) NOT NULL DEFAULT 'X' UNIQUE,
    compat_version int NOT NULL,
    CHECK (lock = 'X')
);

CREATE TABLE bgupdate.applied_schema_deltas (
    version int NOT NULL,
    file text NOT NULL,
    UNIQUE (version, file)
);

-- Dumped by pg_dump (the rows are the application's migration state).
SELECT pg_catalog.pg_extension_config_dump('bgupdate.background_updates', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.update_registry', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.update_state', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.update_history', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.update_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.config', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.schema_version', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.schema_compat_version', '');
SELECT pg_catalog.pg_extension_config_dump('bgupdate.applied_schema_deltas', '');

-- ---------------------------------------------------------------- privileges
-- Every role may use the API; row-level security limits what a role may
-- change to updates it could manage (registered by a role it has the
-- privileges of, or not registered at all). Reads stay open: the scheduler of
-- any session must see the whole queue to honour dependencies.
CREATE FUNCTION bgupdate._may_manage(name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT r.owner = '' OR (EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.owner)
                                           AND pg_catalog.pg_has_role(r.owner, 'USAGE'))
                     FROM bgupdate.update_registry r WHERE r.update_name = name), true)
$$;

GRANT USAGE ON SCHEMA bgupdate TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON bgupdate.background_updates, bgupdate.update_registry,
    bgupdate.update_state TO PUBLIC;
GRANT SELECT, INSERT ON bgupdate.update_history TO PUBLIC;
GRANT USAGE ON SEQUENCE bgupdate.update_history_id_seq TO PUBLIC;
GRANT SELECT ON bgupdate.config TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON bgupdate.schema_version, bgupdate.schema_compat_version,
    bgupdate.applied_schema_deltas TO PUBLIC;

ALTER TABLE bgupdate.background_updates ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.background_updates FOR SELECT USING (true);
CREATE POLICY add_own ON bgupdate.background_updates FOR INSERT WITH CHECK (bgupdate._may_manage(update_name));
CREATE POLICY change_own ON bgupdate.background_updates FOR UPDATE USING (bgupdate._may_manage(update_name));
CREATE POLICY remove_own ON bgupdate.background_updates FOR DELETE USING (bgupdate._may_manage(update_name));

ALTER TABLE bgupdate.update_registry ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.update_registry FOR SELECT USING (true);
CREATE POLICY add_own ON bgupdate.update_registry FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE') AND bgupdate._may_manage(update_name));
CREATE POLICY change_own ON bgupdate.update_registry FOR UPDATE USING (bgupdate._may_manage(update_name))
    WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY remove_own ON bgupdate.update_registry FOR DELETE USING (bgupdate._may_manage(update_name));

ALTER TABLE bgupdate.update_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.update_state FOR SELECT USING (true);
CREATE POLICY add_own ON bgupdate.update_state FOR INSERT WITH CHECK (bgupdate._may_manage(update_name));
CREATE POLICY change_own ON bgupdate.update_state FOR UPDATE USING (bgupdate._may_manage(update_name));
CREATE POLICY remove_own ON bgupdate.update_state FOR DELETE USING (bgupdate._may_manage(update_name));

ALTER TABLE bgupdate.update_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON bgupdate.update_history FOR SELECT USING (true);
CREATE POLICY add_own ON bgupdate.update_history FOR INSERT WITH CHECK (bgupdate._may_manage(update_name));

-- A transaction that enqueues work wakes the worker when it commits.
CREATE FUNCTION bgupdate._wake_trigger() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_wake_trigger';
CREATE TRIGGER wake_worker AFTER INSERT ON bgupdate.background_updates
    FOR EACH STATEMENT EXECUTE FUNCTION bgupdate._wake_trigger();

-- ---------------------------------------------------------------- registration
CREATE FUNCTION bgupdate.register_update_handler(update_name text, handler text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_update_handler';
CREATE FUNCTION bgupdate.register_update_handler(update_name text, handler regprocedure) RETURNS void
LANGUAGE sql AS $$ SELECT bgupdate.register_update_handler(update_name, handler::pg_catalog.text) $$;

CREATE FUNCTION bgupdate.register_index_update(update_name text, index_name text, "table" text, columns text[],
    where_clause text DEFAULT NULL, is_unique boolean DEFAULT false, psql_only boolean DEFAULT false,
    replaces_index text DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_index_update';

CREATE FUNCTION bgupdate.register_validate_constraint(update_name text, constraint_name text, "table" text)
RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_validate_constraint';

CREATE FUNCTION bgupdate.register_validate_constraint_and_delete_rows(update_name text, "table" text,
    constraint_name text, "constraint" jsonb, unique_columns text[]) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_validate_constraint_and_delete_rows';

CREATE FUNCTION bgupdate.add_constraint_and_enqueue(ordering bigint, update_name text, "table" text,
    constraint_name text, "constraint" jsonb, sqlite_table_name text DEFAULT NULL,
    sqlite_table_schema text DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_add_constraint_and_enqueue';

CREATE FUNCTION bgupdate.register_batched_update(update_name text, "table" text, key_columns text[],
    set_clause text, where_clause text DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_batched_update';

-- ---------------------------------------------------------------- queue
CREATE FUNCTION bgupdate.enqueue(update_name text, ordering bigint DEFAULT 0, depends_on text DEFAULT NULL,
    progress jsonb DEFAULT '{}') RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_enqueue';

CREATE FUNCTION bgupdate.update_progress(update_name text, progress jsonb) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_update_progress';

CREATE FUNCTION bgupdate.end_update(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_end_update';

-- ---------------------------------------------------------------- running
-- Runner errors (a failed batch, a dependency cycle) come back in the
-- result's "error" field rather than as an ERROR, so that the failure record
-- (attempts, last error, backoff) survives in the caller's transaction.
CREATE FUNCTION bgupdate.step() RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_step';

CREATE PROCEDURE bgupdate.run(max_ms bigint DEFAULT NULL)
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_run';

CREATE FUNCTION bgupdate.finish(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_finish';

CREATE FUNCTION bgupdate.has_completed(update_name text) RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_has_completed';

CREATE FUNCTION bgupdate.has_completed_all() RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_has_completed_all';

-- ---------------------------------------------------------------- control
CREATE FUNCTION bgupdate.set_enabled(enabled boolean) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_set_enabled';
CREATE FUNCTION bgupdate.enabled() RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_enabled';
CREATE FUNCTION bgupdate.pause(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_pause';
CREATE FUNCTION bgupdate.resume(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_resume';
CREATE FUNCTION bgupdate.retry(update_name text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_retry';
-- Only the extension's owner (a superuser) may flip the admin switch.
REVOKE EXECUTE ON FUNCTION bgupdate.set_enabled(boolean) FROM PUBLIC;

-- ---------------------------------------------------------------- status
CREATE FUNCTION bgupdate._status(OUT update_name text, OUT state text, OUT ordering bigint, OUT depends_on text,
    OUT batches bigint, OUT items_done bigint, OUT total_estimate bigint, OUT percent double precision,
    OUT avg_items_per_ms double precision, OUT total_items_per_ms double precision, OUT batch_size bigint,
    OUT eta_seconds double precision, OUT attempts bigint, OUT last_error text, OUT started_at timestamptz,
    OUT updated_at timestamptz, OUT completed_at timestamptz)
RETURNS SETOF record LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bgupdate_status';

CREATE VIEW bgupdate.status AS SELECT * FROM bgupdate._status();
GRANT SELECT ON bgupdate.status TO PUBLIC;

-- ---------------------------------------------------------------- schema versions
CREATE FUNCTION bgupdate.check_schema_compat(code_version bigint) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_check_schema_compat';
CREATE FUNCTION bgupdate.apply_schema_delta(version bigint, file_name text, sql text) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_apply_schema_delta';
CREATE FUNCTION bgupdate.set_schema_version(version bigint, compat_version bigint) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_set_schema_version';

-- Tell the launcher a database now has the extension (at commit).
CREATE FUNCTION bgupdate._wake() RETURNS void LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_wake';
SELECT bgupdate._wake();
