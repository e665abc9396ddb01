-- pgTAP: nothing that runs, finishes or opens batches works inside a running
-- batch, whichever way the batch's code calls it (a generic handler, a
-- controller hook, a SQL fragment), nor while the application's own batch is
-- open in the transaction; and a refused nested call leaves the outer batch's
-- statement timeout armed. Also: what a session's step() and finish() say
-- about the isolation level and another role's update.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(11);

CREATE TABLE nb_rows (id int PRIMARY KEY, b int NOT NULL DEFAULT 0);
INSERT INTO nb_rows (id) SELECT g FROM generate_series(1, 50) g;

-- A generic handler calling step(), finish() and run(); each refusal is
-- caught, so the batch itself ends the update.
CREATE TABLE nb_refusals (fn text, sqlstate text, message text);
CREATE FUNCTION nb_nesting(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    BEGIN PERFORM bgupdate.step();
    EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        INSERT INTO nb_refusals VALUES ('step', st, msg); END;
    BEGIN PERFORM bgupdate.finish('nb_handler');
    EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        INSERT INTO nb_refusals VALUES ('finish', st, msg); END;
    BEGIN PERFORM bgupdate.estimate('nb_handler');
    EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        INSERT INTO nb_refusals VALUES ('estimate', st, msg); END;
    PERFORM bgupdate.end_update('nb_handler');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('nb_handler', 'nb_nesting');
SELECT bgupdate.enqueue('nb_handler', -30);
SELECT is((SELECT bgupdate.step()->>'done'), 'true', 'the outer batch completes');
SELECT is((SELECT count(*) FROM nb_refusals WHERE sqlstate = '55000'
                                              AND message LIKE '%cannot run inside a batch%background update ''nb_handler''%'),
          3::bigint, 'step(), finish() and estimate() from a handler are refused with 55000, naming the batch');

-- A SQL fragment calling step(): the batch fails with the refusal.
SELECT bgupdate.register_batched_update('nb_fragment', 'nb_rows', ARRAY['id'],
                                        'b = b + (bgupdate.step() IS NOT NULL)::int');
SELECT bgupdate.enqueue('nb_fragment', -20);
SELECT matches((SELECT bgupdate.step()->>'error'), 'step\(\) cannot run inside a batch .*nb_fragment',
               'a fragment calling step() fails its batch with the refusal');
SELECT is((SELECT sum(b) FROM nb_rows), 0::bigint, '... and changes nothing');
DELETE FROM bgupdate.background_updates WHERE update_name = 'nb_fragment';

-- A controller hook calling step().
CREATE FUNCTION nb_hook(update_name text) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN PERFORM bgupdate.step(); RETURN 100; END $$;
SELECT bgupdate.register_batched_update('nb_hooked', 'nb_rows', ARRAY['id'], 'b = b + 1');
SELECT bgupdate.enqueue('nb_hooked', -10);
SET bgupdate.duration_hook = 'nb_hook';
SELECT matches((SELECT bgupdate.step()->>'error'), 'step\(\) cannot run inside a batch .*nb_hooked',
               'a controller hook calling step() fails the batch with the refusal');
RESET bgupdate.duration_hook;
DELETE FROM bgupdate.background_updates WHERE update_name = 'nb_hooked';

-- A refused nested call leaves the outer batch bounded: this handler would
-- sleep 5 s after it, but statement_timeout_ms (300) cancels it.
CREATE FUNCTION nb_sleeper(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    BEGIN PERFORM bgupdate.step(); EXCEPTION WHEN others THEN NULL; END;
    PERFORM pg_sleep(5);
    PERFORM bgupdate.end_update('nb_sleeper');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('nb_sleeper', 'nb_sleeper');
SELECT bgupdate.enqueue('nb_sleeper', -5);
SET bgupdate.update_duration_ms = 50;
SET bgupdate.statement_timeout_ms = 300;
SET bgupdate.min_batch_size = 100;
CREATE TEMP TABLE nb_timed AS SELECT clock_timestamp() AS t0, bgupdate.step() AS r, clock_timestamp() AS t1;
SELECT matches((SELECT r->>'error' FROM nb_timed), 'statement timeout', 'the outer batch is still cancelled by its timeout');
SELECT cmp_ok((SELECT extract(epoch FROM t1 - t0) FROM nb_timed), '<', 4.0::numeric, '... long before its 5 s sleep ends');
RESET bgupdate.update_duration_ms;
RESET bgupdate.statement_timeout_ms;
RESET bgupdate.min_batch_size;
DELETE FROM bgupdate.background_updates WHERE update_name = 'nb_sleeper';

-- Inside the application's own open batch, step() and finish() are refused.
SELECT bgupdate.register_application_update('nb_app');
SELECT bgupdate.enqueue('nb_app', -1);
SAVEPOINT before_app;
SELECT is((SELECT bgupdate.batch_begin()->>'update_name'), 'nb_app', 'an application batch opens');
SELECT throws_ok($$SELECT bgupdate.step()$$, '55000', NULL, 'step() inside the application''s open batch is refused');
ROLLBACK TO SAVEPOINT before_app;

-- A session's runner functions need READ COMMITTED (this transaction is; the
-- check is on the transaction's isolation, so a subtransaction cannot show
-- it: 090_runners_side_by_side and the checker run it for real). step()
-- lists another role's update as left to the worker.
CREATE ROLE nb_other;
SET ROLE nb_other;
SELECT bgupdate.register_application_update('nb_others');
SELECT bgupdate.enqueue('nb_others', -40);
RESET ROLE;
SELECT is((SELECT w->>'why' FROM jsonb_array_elements(bgupdate.step()->'waiting') w WHERE w->>'update_name' = 'nb_others'),
          'owned_by_another_role', 'a superuser''s step() lists another role''s update as owned_by_another_role');
SELECT throws_ok($$SELECT bgupdate.finish('nb_others')$$, '55000', NULL,
                 'finish() of another role''s update with no worker to wait for is refused at once');

SELECT * FROM finish();
ROLLBACK;
