-- bgupdate 1.0 -> 1.1. Version 1.0 has shipped and its script is frozen:
-- CREATE EXTENSION bgupdate installs 1.0 and then runs this script, and
-- ALTER EXTENSION bgupdate UPDATE brings an existing 1.0 database here.
-- Each section below belongs to one change and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ---------------------------------------------------------------- issue 9
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
