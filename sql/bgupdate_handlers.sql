-- Every handler kind on PostgreSQL, Synapse's NOT NULL and foreign-key
-- scenarios, failures, timeouts, controller hooks, and the index update run
-- top-level by the background worker.
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT bgupdate.set_enabled(true);

-- Waits (committing, so CREATE INDEX CONCURRENTLY never waits on us) until
-- the worker has completed an update.
CREATE PROCEDURE wait_for(name text, timeout_s int DEFAULT 60) LANGUAGE plpgsql AS $$
DECLARE i int := 0;
BEGIN
    LOOP
        EXIT WHEN bgupdate.has_completed(name);
        i := i + 1;
        IF i > timeout_s * 20 THEN RAISE EXCEPTION 'timed out waiting for %', name; END IF;
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;

-- ---------------------------------------------------------- generic handler
CREATE TABLE events (id int PRIMARY KEY, body text, body_length int);
INSERT INTO events SELECT g, repeat('x', g % 7), NULL FROM generate_series(1, 250) g;
CREATE FUNCTION fill_lengths(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    last_id int := coalesce((progress->>'last_id')::int, 0);
    upto int;
    n int;
BEGIN
    SELECT max(id) INTO upto FROM (SELECT id FROM events WHERE id > last_id ORDER BY id LIMIT batch_size) s;
    IF upto IS NULL THEN
        PERFORM bgupdate.end_update('fill_lengths');
        RETURN 0;
    END IF;
    UPDATE events SET body_length = length(body) WHERE id > last_id AND id <= upto;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM bgupdate.update_progress('fill_lengths', jsonb_build_object('last_id', upto));
    RETURN n;
END $$;
SELECT bgupdate.register_update_handler('fill_lengths', 'fill_lengths');
SELECT bgupdate.enqueue('fill_lengths');
SELECT s->>'update_name' AS name, s->'items' AS items, s->'batch_size' AS batch_size FROM bgupdate.step() s;
SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'fill_lengths';
SELECT bgupdate.finish('fill_lengths');
SELECT count(*) FILTER (WHERE body_length = length(body)) AS filled FROM events;
SELECT update_name, state, items_done FROM bgupdate.status WHERE update_name = 'fill_lengths';

-- A handler taking json (not jsonb) works too.
CREATE FUNCTION json_handler(progress json, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bgupdate.end_update(progress->>'name');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('json_one', 'json_handler');
SELECT bgupdate.enqueue('json_one', 0, NULL, '{"name": "json_one"}');
SELECT s->>'update_name' AS name, s->'done' AS done FROM bgupdate.step() s;

-- ---------------------------------------------------------- batched update
CREATE TABLE accounts (region text, id int, counter int NOT NULL DEFAULT 0, PRIMARY KEY (region, id));
INSERT INTO accounts SELECT r, g, 0 FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, 150) g;
SELECT bgupdate.register_batched_update('bump', 'accounts', ARRAY['region', 'id'], 'counter = counter + 1');
SELECT bgupdate.enqueue('bump');
SELECT s->'items' AS items FROM bgupdate.step() s;
SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'bump';
SELECT bgupdate.finish('bump');
-- Every row exactly once, composite keyset order.
SELECT counter, count(*) FROM accounts GROUP BY counter;

-- Identifiers are quoted: odd table and column names work.
CREATE TABLE "Odd Table" ("Key" int PRIMARY KEY, "a""b" int);
INSERT INTO "Odd Table" SELECT g, NULL FROM generate_series(1, 10) g;
SELECT bgupdate.register_batched_update('odd', 'public.Odd Table', ARRAY['Key'], '"a""b" = "Key" * 2');
SELECT bgupdate.enqueue('odd');
SELECT bgupdate.finish('odd');
SELECT sum("a""b") FROM "Odd Table";

-- ---------------------------------------------------------- validate constraint
CREATE TABLE orders (id int PRIMARY KEY, amount int);
INSERT INTO orders SELECT g, g FROM generate_series(1, 20) g;
ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;
SELECT convalidated FROM pg_constraint WHERE conname = 'amount_positive';
SELECT bgupdate.register_validate_constraint('validate_amount', 'amount_positive', 'orders');
SELECT bgupdate.enqueue('validate_amount');
SELECT s->>'update_name' AS name, s->'done' AS done FROM bgupdate.step() s;
SELECT convalidated FROM pg_constraint WHERE conname = 'amount_positive';

-- ---------------------------------------------------------- Synapse: NOT NULL
CREATE TABLE test_constraint (a int PRIMARY KEY, b int);
INSERT INTO test_constraint VALUES (1, 1), (2, 1), (3, NULL), (4, NULL), (5, 2);
SELECT bgupdate.add_constraint_and_enqueue(1000, 'test_bg_update', 'test_constraint', 'test_constraint_name',
    '{"not_null": "b"}', 'test_constraint2',
    'CREATE TABLE test_constraint2(a INT PRIMARY KEY, b INT, CONSTRAINT test_constraint_name CHECK (b is NOT NULL))');
SELECT update_name, ordering FROM bgupdate.background_updates WHERE update_name = 'test_bg_update';
-- The NOT VALID constraint already applies to new rows.
INSERT INTO test_constraint VALUES (6, NULL);
SELECT bgupdate.register_validate_constraint_and_delete_rows('test_bg_update', 'test_constraint',
    'test_constraint_name', '{"not_null": "b"}', ARRAY['a']);
SELECT bgupdate.finish('test_bg_update');
SELECT * FROM test_constraint ORDER BY a;
SELECT convalidated FROM pg_constraint WHERE conname = 'test_constraint_name';
INSERT INTO test_constraint VALUES (7, NULL);

-- ---------------------------------------------------------- Synapse: foreign key
CREATE TABLE base_table (b int PRIMARY KEY);
INSERT INTO base_table VALUES (1), (2);
CREATE TABLE test_fk (a int PRIMARY KEY, b int NOT NULL);
INSERT INTO test_fk VALUES (1, 1), (2, 2), (3, 3), (4, 1), (5, 9);
SELECT bgupdate.add_constraint_and_enqueue(1001, 'test_fk_update', 'test_fk', 'test_fk_constraint',
    '{"foreign_key": {"referenced_table": "base_table", "columns": [["b", "b"]], "deferred": false}}', 'x', 'x');
INSERT INTO test_fk VALUES (6, 7);
SELECT bgupdate.register_validate_constraint_and_delete_rows('test_fk_update', 'test_fk', 'test_fk_constraint',
    '{"foreign_key": {"referenced_table": "base_table", "columns": [["b", "b"]], "deferred": false}}', ARRAY['a']);
SELECT bgupdate.finish('test_fk_update');
SELECT * FROM test_fk ORDER BY a;
SELECT convalidated FROM pg_constraint WHERE conname = 'test_fk_constraint';
INSERT INTO test_fk VALUES (7, 8);

-- ---------------------------------------------------------- failures
SET bgupdate.max_failures = 2;
SET bgupdate.retry_backoff_ms = 0;
CREATE FUNCTION always_fails(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events VALUES (1000, 'should be rolled back', 0);
    RAISE EXCEPTION 'handler broke on purpose';
END $$;
SELECT bgupdate.register_update_handler('fails', 'always_fails');
SELECT bgupdate.enqueue('fails');
SELECT s->>'error' AS error FROM bgupdate.step() s;
SELECT s->>'error' AS error FROM bgupdate.step() s;
SELECT update_name, state, attempts, last_error FROM bgupdate.status WHERE update_name = 'fails';
SELECT count(*) AS leaked FROM events WHERE id = 1000;
-- Failed: not picked again (nothing else runnable), until retry().
SELECT s->'update_name' AS name FROM bgupdate.step() s;
SELECT bgupdate.finish('fails');
SELECT event, detail FROM bgupdate.update_history WHERE update_name = 'fails' ORDER BY id;
SELECT bgupdate.retry('fails');
SELECT update_name, state, attempts FROM bgupdate.status WHERE update_name = 'fails';
DELETE FROM bgupdate.background_updates WHERE update_name = 'fails';
RESET bgupdate.max_failures;

-- statement_timeout is armed for each batch.
SET bgupdate.statement_timeout_ms = 200;
CREATE FUNCTION slow_handler(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(5);
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('slow', 'slow_handler');
SELECT bgupdate.enqueue('slow');
-- A timed-out batch is retried at half the size (no attempt spent) ...
SELECT s->>'shrunk_to' AS shrunk_to, s->>'error' AS error FROM bgupdate.step() s;
SELECT attempts, last_error FROM bgupdate.status WHERE update_name = 'slow';
-- ... and at the minimum size it counts toward max_failures.
SET bgupdate.min_batch_size = 100;
SELECT s->>'error' AS error FROM bgupdate.step() s;
RESET bgupdate.min_batch_size;
DELETE FROM bgupdate.background_updates WHERE update_name = 'slow';
RESET bgupdate.statement_timeout_ms;
RESET bgupdate.retry_backoff_ms;

-- ---------------------------------------------------------- controller hooks
CREATE FUNCTION first_batch_of_7(update_name text) RETURNS int LANGUAGE sql AS 'SELECT 7';
SET bgupdate.default_batch_size_hook = 'first_batch_of_7';
SELECT bgupdate.register_batched_update('hooked', 'accounts', ARRAY['region', 'id'], 'counter = counter + 1');
SELECT bgupdate.enqueue('hooked');
SELECT s->'items' AS items, s->'batch_size' AS batch_size FROM bgupdate.step() s;
RESET bgupdate.default_batch_size_hook;
SELECT bgupdate.finish('hooked');
SELECT counter, count(*) FROM accounts GROUP BY counter;

-- ---------------------------------------------------------- CALL run()
SELECT bgupdate.register_batched_update('via_run', 'accounts', ARRAY['region', 'id'], 'counter = counter + 1');
SELECT bgupdate.enqueue('via_run');
SET bgupdate.sleep_enabled = off;
CALL bgupdate.run(60000);
RESET bgupdate.sleep_enabled;
SELECT counter, count(*) FROM accounts GROUP BY counter;
SELECT bgupdate.has_completed_all();

-- ---------------------------------------------------------- index (worker)
CREATE TABLE docs (id int PRIMARY KEY, author text, score int);
INSERT INTO docs SELECT g, 'a' || (g % 10), g FROM generate_series(1, 500) g;
CREATE INDEX docs_old_idx ON docs (author);
-- In a session CREATE INDEX CONCURRENTLY cannot run: step() leaves the
-- update to the worker (no attempt spent), finish() says why.
SELECT bgupdate.register_index_update('docs_idx', 'docs_author_score_idx', 'docs', ARRAY['author', 'score'],
                                      where_clause => 'score > 0', replaces_index => 'docs_old_idx');
SELECT bgupdate.enqueue('docs_idx');
SELECT s->>'update_name' AS ran, s->>'error' AS error FROM bgupdate.step() s;
SELECT state, attempts FROM bgupdate.status WHERE update_name = 'docs_idx';
SELECT bgupdate.finish('docs_idx');
-- The worker builds it top-level.
ALTER SYSTEM SET bgupdate.worker_enabled = on;
SELECT pg_reload_conf();
CALL wait_for('docs_idx');
ALTER SYSTEM RESET bgupdate.worker_enabled;
SELECT pg_reload_conf();
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indrelid = 'docs'::regclass ORDER BY 1;
SELECT update_name, state FROM bgupdate.status WHERE update_name = 'docs_idx';
