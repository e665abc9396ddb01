-- pgTAP: a database on the shipped 1.0 schema with an update
-- queued and half run (by the 1.0 library: its queue row and progress, and
-- the rows it already did) is brought to 1.1 by ALTER EXTENSION bgupdate
-- UPDATE and finishes with nothing lost or redone. The 1.1 library refuses
-- clearly to work on the 1.0 schema until then.
BEGIN;
SELECT plan(12);

CREATE EXTENSION bgupdate VERSION '1.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'), '1.0', 'installed at 1.0');

CREATE TABLE up_rows (id int PRIMARY KEY, v int);
INSERT INTO up_rows SELECT g, CASE WHEN g <= 400 THEN g END FROM generate_series(1, 1000) g;
-- What the 1.0 library left: the queue row (Synapse's shape) with progress at id 400.
INSERT INTO bgupdate.background_updates (update_name, progress_json) VALUES ('up_fill', '{"lower_bound": [400]}');

SELECT throws_ok($$SELECT bgupdate.register_batched_update('up_fill', 'up_rows', ARRAY['id'], 'v = id')$$, '55000',
                 'bgupdate: this database''s bgupdate schema is version 1.0, the installed library needs 1.2',
                 'the new library refuses the 1.0 schema clearly');
SELECT throws_ok($$SELECT bgupdate.step()$$, '55000', NULL, '... step() too');
SELECT is((SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'up_fill'),
          '{"lower_bound": [400]}', '... and changes nothing');

ALTER EXTENSION bgupdate UPDATE;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'), '1.2', 'updated to the current version');
SELECT is((SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'up_fill'),
          '{"lower_bound": [400]}', 'the queued update and its progress survive the upgrade');
SELECT ok(obj_description('bgupdate.update_history'::regclass, 'pg_class') IS NOT NULL, '1.1 documents the history table');
SELECT has_column('bgupdate', 'status', 'estimate_is_rough', '1.1 status has estimate_is_rough');

SELECT bgupdate.register_batched_update('up_fill', 'up_rows', ARRAY['id'], 'v = id');
SELECT lives_ok($$SELECT bgupdate.finish('up_fill')$$, 'finish() after the upgrade');
SELECT is((SELECT count(*) FROM up_rows WHERE v = id), 1000::bigint, 'every row done: nothing lost');
SELECT is((SELECT sum(items) FROM bgupdate.update_history WHERE update_name = 'up_fill' AND event = 'batch'),
          600::numeric, 'only the rows after the saved progress were processed: nothing redone');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'up_fill'), 'complete', 'status: complete');

SELECT * FROM finish();
ROLLBACK;
