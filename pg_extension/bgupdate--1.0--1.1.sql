-- bgupdate 1.0 -> 1.1. Version 1.0 has shipped and its script is frozen:
-- CREATE EXTENSION bgupdate installs 1.0 and then runs this script, and
-- ALTER EXTENSION bgupdate UPDATE brings an existing 1.0 database here.
-- Each section below belongs to one change and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

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

CREATE FUNCTION bgupdate.apply_schema_snapshot(version bigint, file_name text, sql text) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_apply_schema_snapshot';
CREATE FUNCTION bgupdate.skip_schema_delta(version bigint, file_name text, reason text) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_skip_schema_delta';
CREATE FUNCTION bgupdate.adopt_queue() RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_adopt_queue';
CREATE FUNCTION bgupdate.estimate(update_name text) RETURNS jsonb
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_estimate';
