-- pgTAP (issue 9): a database on the shipped 1.0 schema, with an update
-- queued and half run by the new library, is brought to 1.1 by ALTER
-- EXTENSION bgupdate UPDATE and the update finishes with nothing lost.
BEGIN;
SELECT plan(12);

CREATE EXTENSION bgupdate VERSION '1.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'), '1.0', 'installed at 1.0');

CREATE TABLE up_rows (id int PRIMARY KEY, v int);
INSERT INTO up_rows SELECT g, NULL FROM generate_series(1, 1000) g;
SET bgupdate.default_batch_size = 100;
SET bgupdate.update_duration_ms = 1;
SELECT bgupdate.register_batched_update('up_fill', 'up_rows', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('up_fill', 0);
SELECT is((SELECT bgupdate.step()->>'update_name'), 'up_fill', 'the new library runs a batch on the 1.0 schema');
SELECT ok((SELECT count(*) FROM up_rows WHERE v = id) BETWEEN 1 AND 999, 'half run before the upgrade');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'up_fill'), 'running',
          'the new library serves the 1.0 status view (fewer columns)');
CREATE TEMP TABLE up_before AS SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'up_fill';

ALTER EXTENSION bgupdate UPDATE;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'), '1.1', 'updated to 1.1');
SELECT is((SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'up_fill'),
          (SELECT progress_json FROM up_before), 'the queued update and its progress survive the upgrade');
SELECT ok(obj_description('bgupdate.update_history'::regclass, 'pg_class') IS NOT NULL, '1.1 documents the history table');
SELECT has_column('bgupdate', 'status', 'estimate_is_rough', '1.1 status has estimate_is_rough');

SELECT lives_ok($$SELECT bgupdate.finish('up_fill')$$, 'finish() after the upgrade');
SELECT is((SELECT count(*) FROM up_rows WHERE v = id), 1000::bigint, 'every row updated: nothing lost or skipped');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'up_fill'), 'complete', 'status: complete');
SELECT is((SELECT sum(items) FROM bgupdate.update_history WHERE update_name = 'up_fill' AND event = 'batch'),
          1000::numeric, 'batch records before and after the upgrade add up to every row');

SELECT * FROM finish();
ROLLBACK;
