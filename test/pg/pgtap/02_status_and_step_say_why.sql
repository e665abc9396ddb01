-- pgTAP: SQLSTATEs a driver can branch on, step() saying why
-- nothing ran, status never 'running' for an update that cannot run,
-- finish() of an unknown name failing, a completed update carrying no
-- current error, and a handler calling finish() on its own update refused.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(16);

-- SQLSTATEs.
SELECT throws_ok($$SELECT bgupdate.finish('no_such_update')$$, '42704',
                 'bgupdate: unknown background update ''no_such_update''', 'finish() of an unknown name: 42704');
SELECT throws_ok($$SELECT bgupdate.pause('no_such_update')$$, '42704', NULL, 'pause() of an unknown name: 42704');
SELECT throws_ok($$SELECT bgupdate.enqueue('x', 0, NULL, '[1]')$$, '22023', NULL, 'bad argument: 22023');

-- Why nothing runs.
CREATE TABLE tw_rows (id int PRIMARY KEY, v int);
INSERT INTO tw_rows SELECT g, NULL FROM generate_series(1, 20) g;
SELECT bgupdate.enqueue('tw_orphan', -10);
SELECT bgupdate.register_batched_update('tw_held', 'tw_rows', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('tw_held', -9);
SELECT bgupdate.pause('tw_held');
SELECT bgupdate.register_batched_update('tw_after', 'tw_rows', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('tw_after', -8, 'tw_held');
CREATE TEMP TABLE tw_step AS SELECT bgupdate.step() AS r;
SELECT is((SELECT r->>'update_name' FROM tw_step), NULL, 'nothing ran');
SELECT is((SELECT w->>'why' FROM tw_step, jsonb_array_elements(r->'waiting') w WHERE w->>'update_name' = 'tw_orphan'),
          'no_handler', 'step() says the orphan waits for a handler');
SELECT is((SELECT w->>'why' FROM tw_step, jsonb_array_elements(r->'waiting') w WHERE w->>'update_name' = 'tw_held'),
          'paused', 'step() says tw_held is paused');
SELECT is((SELECT w->>'why' FROM tw_step, jsonb_array_elements(r->'waiting') w WHERE w->>'update_name' = 'tw_after'),
          'waiting_for_dependency', 'step() says tw_after waits for its dependency');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'tw_after'), 'waiting', 'status: waiting');
DELETE FROM bgupdate.background_updates WHERE update_name IN ('tw_orphan', 'tw_held', 'tw_after');

-- A failure backs off: status says so, never 'running'.
CREATE FUNCTION tw_flaky(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF progress->>'broken' = 'yes' THEN
        RAISE EXCEPTION 'tw_flaky broke' USING DETAIL = 'row 7 is bad', HINT = 'fix row 7', ERRCODE = '22012';
    END IF;
    PERFORM bgupdate.end_update('tw_flaky');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('tw_flaky', 'tw_flaky');
SELECT bgupdate.enqueue('tw_flaky', -5, NULL, '{"broken": "yes"}');
CREATE TEMP TABLE tw_fail AS SELECT bgupdate.step() AS r;
SELECT is((SELECT r->>'sqlstate' FROM tw_fail), '22012', 'a failed batch reports the SQLSTATE of its error');
SELECT is((SELECT r->>'detail' FROM tw_fail), 'row 7 is bad', '... its DETAIL as a separate field');
SELECT is((SELECT r->>'hint' FROM tw_fail), 'fix row 7', '... and its HINT');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'tw_flaky'), 'backing_off', 'status: backing_off');
-- finish() still runs it (asked for by name) once the data is fixed; the old
-- error is history, not the completed update's current error.
SELECT bgupdate.update_progress('tw_flaky', '{}');
SELECT lives_ok($$SELECT bgupdate.finish('tw_flaky')$$, 'finish() runs an update that is backing off');
SELECT is((SELECT last_error FROM bgupdate.status WHERE update_name = 'tw_flaky'), NULL,
          'a completed update shows no current error');
SELECT is((SELECT count(*) FROM bgupdate.update_history WHERE update_name = 'tw_flaky' AND event = 'failure'), 1::bigint,
          '... the failure stays in the history');

-- A handler calling finish() on its own update is refused (it used to recurse).
CREATE FUNCTION tw_selfish(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bgupdate.finish('tw_selfish');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('tw_selfish', 'tw_selfish');
SELECT bgupdate.enqueue('tw_selfish', -4);
SELECT matches((SELECT bgupdate.step()->>'error'), 'cannot run inside a batch \(it is running inside the batch of background update ''tw_selfish''',
               'finish() from its own handler fails the batch with a clear error');

SELECT * FROM finish();
ROLLBACK;
