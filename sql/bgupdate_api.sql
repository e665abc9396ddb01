-- The SQL API in a session: registration, queue, step, status, control,
-- settings, schema versions, and the errors for bad input.
CREATE EXTENSION bgupdate;
-- (The test server runs with bgupdate.worker_enabled = off, so no worker
-- races the manual steps below.)
SELECT bgupdate.enabled();

-- GUCs with Synapse's defaults.
SHOW bgupdate.update_duration_ms;
SHOW bgupdate.sleep_enabled;
SHOW bgupdate.sleep_duration_ms;
SHOW bgupdate.min_batch_size;
SHOW bgupdate.default_batch_size;
SHOW bgupdate.max_failures;
SHOW bgupdate.lock_timeout_ms;
SHOW bgupdate.statement_timeout_ms;

CREATE TABLE seed (id bigint PRIMARY KEY, old_column int, new_column int);
INSERT INTO seed SELECT g, g, NULL FROM generate_series(1, 1000) g;

SELECT bgupdate.register_batched_update('fill_new_column', 'seed', ARRAY['id'],
                                        'new_column = old_column * 100', 'new_column IS NULL');
-- Synapse's delta shape works unchanged with bgupdate on the search_path.
SET search_path = public, bgupdate;
INSERT INTO background_updates (ordering, update_name, depends_on, progress_json)
VALUES (7706, 'fill_new_column', NULL, '{}');
RESET search_path;

SELECT update_name, state, ordering, batches FROM bgupdate.status;
SELECT bgupdate.has_completed('fill_new_column'), bgupdate.has_completed_all();

-- step() runs one batch of default_batch_size (100) rows and reports it.
SELECT s->>'update_name' AS name, s->'items' AS items, s->'batch_size' AS batch_size, s->'done' AS done,
       s->'all_done' AS all_done
FROM bgupdate.step() s;
SELECT count(*) FILTER (WHERE new_column = old_column * 100) AS filled FROM seed;
SELECT progress_json FROM bgupdate.background_updates;
SELECT update_name, state, batches, items_done, batch_size FROM bgupdate.status;

-- Disabled: step() does nothing and says so; finish() runs anyway.
SELECT bgupdate.set_enabled(false);
SELECT bgupdate.enabled();
SELECT s->'enabled' AS enabled, s->'update_name' AS name FROM bgupdate.step() s;
SELECT bgupdate.finish('fill_new_column');
SELECT count(*) FILTER (WHERE new_column = old_column * 100) AS filled, count(*) FROM seed;
SELECT bgupdate.has_completed('fill_new_column'), bgupdate.has_completed_all();
SELECT update_name, state, items_done, percent, attempts, last_error, completed_at IS NOT NULL AS completed
FROM bgupdate.status;
SELECT update_name, event, items FROM bgupdate.update_history WHERE event <> 'batch' ORDER BY id;
-- One 'batch' row per committed batch; their items add up (how many batches depends on speed).
SELECT count(*) >= 2 AS several_batches, sum(items) AS items FROM bgupdate.update_history WHERE event = 'batch';
SELECT count(*) AS queued FROM bgupdate.background_updates;
-- Nothing left: step() says all done.
SELECT bgupdate.set_enabled(true);
SELECT s->'update_name' AS name, s->'all_done' AS all_done FROM bgupdate.step() s;

-- Pause, resume, retry.
SELECT bgupdate.enqueue('fill_new_column', 1);
SELECT bgupdate.pause('fill_new_column');
SELECT update_name, state FROM bgupdate.status WHERE state <> 'complete';
SELECT bgupdate.resume('fill_new_column');
SELECT bgupdate.retry('fill_new_column');
SELECT update_name, state FROM bgupdate.status WHERE update_name = 'fill_new_column';
SELECT bgupdate.finish('fill_new_column');

-- Ordering and dependencies: b waits for a although b's ordering is lower.
CREATE FUNCTION noop_handler(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE name text := progress->>'name';
BEGIN
    PERFORM bgupdate.end_update(name);
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('a', 'noop_handler');
SELECT bgupdate.register_update_handler('b', 'noop_handler(jsonb,integer)'::regprocedure);
SELECT bgupdate.enqueue('b', 1, 'a', '{"name": "b"}');
SELECT bgupdate.enqueue('a', 2, NULL, '{"name": "a"}');
SELECT update_name, state, depends_on FROM bgupdate.status WHERE state <> 'complete' ORDER BY 1;
SELECT s->>'update_name' AS ran FROM bgupdate.step() s;
SELECT s->>'update_name' AS ran FROM bgupdate.step() s;
SELECT s->'all_done' AS all_done FROM bgupdate.step() s;

-- A dependency cycle is an error naming it (as on SQLite).
SELECT bgupdate.register_update_handler('c1', 'noop_handler');
SELECT bgupdate.register_update_handler('c2', 'noop_handler');
SELECT bgupdate.enqueue('c1', 0, 'c2', '{"name": "c1"}');
SELECT bgupdate.enqueue('c2', 0, 'c1', '{"name": "c2"}');
SELECT update_name, state, last_error FROM bgupdate.status WHERE update_name LIKE 'c_';
SELECT bgupdate.step();
SELECT bgupdate.finish('c1');
DELETE FROM bgupdate.background_updates WHERE update_name IN ('c1', 'c2');

-- Bad input: clear errors, nothing lost.
SELECT bgupdate.register_batched_update(NULL, 'seed', ARRAY['id'], 'new_column = 1');
SELECT bgupdate.register_batched_update('x', 'no_such_table', ARRAY['id'], 'new_column = 1');
SELECT bgupdate.register_batched_update('x', 'seed', ARRAY['nope'], 'new_column = 1');
SELECT bgupdate.register_batched_update('x', 'seed', ARRAY[]::text[], 'new_column = 1');
SELECT bgupdate.register_batched_update('x', 'seed', ARRAY['id', NULL], 'new_column = 1');
SELECT bgupdate.register_batched_update('x', 'seed', ARRAY['id'], 'no_column = 1');
SELECT bgupdate.register_batched_update('x', 'seed', ARRAY['id'], '   ');
SELECT bgupdate.register_batched_update('', 'seed', ARRAY['id'], 'new_column = 1');
SELECT bgupdate.register_update_handler('x', 'no_such_function');
CREATE FUNCTION wrong_signature(a int) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT bgupdate.register_update_handler('x', 'wrong_signature');
SELECT bgupdate.register_index_update('x', 'ix', 'seed', ARRAY['missing_column']);
SELECT bgupdate.register_validate_constraint('x', 'c', 'no_such_table');
SELECT bgupdate.register_validate_constraint_and_delete_rows('x', 'seed', 'c', '{"nonsense": 1}', ARRAY['id']);
SELECT bgupdate.register_validate_constraint_and_delete_rows('x', 'seed', 'c', '{"not_null": "nope"}', ARRAY['id']);
SELECT bgupdate.enqueue('x', 0, NULL, '[1, 2]');
SELECT bgupdate.enqueue('x', 0, 'x', '{}');
SELECT bgupdate.enqueue('dup');
SELECT bgupdate.enqueue('dup');
SELECT bgupdate.update_progress('not_queued', '{}');
SELECT bgupdate.update_progress('not_queued', NULL);
SELECT bgupdate.end_update('not_queued');
SELECT bgupdate.pause('never_heard_of');
SELECT bgupdate.finish(NULL);
SELECT bgupdate.set_enabled(NULL);
SET bgupdate.default_batch_size = -5;
SET bgupdate.duration_hook = 'x';
SET bgupdate.duration_hook = 'wrong_signature';
-- A queued update with malformed progress fails with a clear error and is recorded.
SELECT bgupdate.register_update_handler('dup', 'noop_handler');
UPDATE bgupdate.background_updates SET progress_json = 'not json' WHERE update_name = 'dup';
SELECT s->>'error' AS error FROM bgupdate.step() s;
SELECT update_name, state, attempts, last_error IS NOT NULL AS has_error FROM bgupdate.status WHERE update_name = 'dup';
DELETE FROM bgupdate.background_updates WHERE update_name = 'dup';
SELECT count(*) FILTER (WHERE new_column = old_column * 100) AS still_filled FROM seed;

-- Schema versions and deltas (Synapse's schema management).
SELECT bgupdate.set_schema_version(10, 8);
SELECT * FROM bgupdate.schema_version;
SELECT bgupdate.check_schema_compat(9);
SELECT bgupdate.check_schema_compat(7);
SELECT bgupdate.apply_schema_delta(10, '01_create.sql', $sql$
    -- a comment; with a semicolon
    CREATE TABLE delta_t (id int PRIMARY KEY, body text DEFAULT 'a;b');
    CREATE FUNCTION delta_f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN 1; END $f$;
    /* block ; comment */ INSERT INTO delta_t (id) VALUES (1);
$sql$);
SELECT bgupdate.apply_schema_delta(10, '01_create.sql', 'SELECT 1/0');
SELECT * FROM delta_t;
SELECT * FROM bgupdate.applied_schema_deltas;
SELECT bgupdate.apply_schema_delta(10, '02_bad.sql', 'INSERT INTO delta_t VALUES (2); SELECT 1/0');
SELECT count(*) FROM delta_t;
SELECT bgupdate.apply_schema_delta(10, '03_unterminated.sql', 'SELECT ''oops');
