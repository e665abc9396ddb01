-- pgTAP: limits that hold on PostgreSQL as on SQLite: an update whose
-- batches do nothing is held saying so (run() ends instead of spinning),
-- settings that contradict each other are refused together, and the same
-- argument checks as SQLite (run(NULL), a negative finish() timeout).
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(8);

SET bgupdate.sleep_enabled = off;
CREATE TABLE lh_calls (n int);
CREATE FUNCTION lh_idle(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN INSERT INTO lh_calls VALUES (1); RETURN 0; END $$;  -- never ends the update, never moves its progress
SELECT bgupdate.register_update_handler('lh_stuck', 'lh_idle');
SELECT bgupdate.enqueue('lh_stuck', -100);
CALL bgupdate.run(1500);
SELECT is((SELECT count(*) FROM lh_calls), 10::bigint, 'run() stops after 10 batches that did nothing');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'lh_stuck'), 'on_hold', '... the update is on hold');
SELECT matches((SELECT hold_reason FROM bgupdate.status WHERE update_name = 'lh_stuck'),
               'made no progress in its last 10 batches', '... saying why');
DELETE FROM bgupdate.background_updates WHERE update_name = 'lh_stuck';

SELECT is(current_setting('bgupdate.statement_timeout_ms'), '60000', 'every batch statement is bounded by default');
SET bgupdate.max_batch_size = 10;
SET bgupdate.min_batch_size = 1000;
SELECT throws_ok($$SELECT bgupdate.step()$$, '22023',
                 'bgupdate: setting min_batch_size (1000) is larger than max_batch_size (10): no batch size satisfies both; lower one or raise the other',
                 'min_batch_size above max_batch_size is refused, naming both');
RESET bgupdate.max_batch_size;
RESET bgupdate.min_batch_size;
SET bgupdate.statement_timeout_ms = 50;
SELECT throws_ok($$SELECT bgupdate.step()$$, '22023', NULL, 'a statement timeout below the target duration is refused');
RESET bgupdate.statement_timeout_ms;
SELECT throws_ok($$CALL bgupdate.run(NULL)$$, '22023', NULL, 'run(NULL) is refused, as on SQLite');
SELECT throws_ok($$SELECT bgupdate.finish('lh_stuck', -1)$$, '22023', NULL, 'a negative finish() timeout is refused');

SELECT * FROM finish();
ROLLBACK;
