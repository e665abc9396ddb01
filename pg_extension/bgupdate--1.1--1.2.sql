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
