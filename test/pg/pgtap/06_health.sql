-- pgTAP: health checks at the SQL level: the readings function, the
-- health_hook GUC's validation, a session's step() going on hold and back,
-- shrink settings, the status and metrics views' shape.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(25);

SELECT has_function('bgupdate', '_health_readings', ARRAY['regclass', 'text[]', 'boolean'], 'health readings function');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'bgupdate._health_readings(regclass,text[],boolean)'::regprocedure),
          true, 'health readings run as the extension owner (pg_monitor data)');
SELECT ok((SELECT proconfig @> ARRAY['search_path=pg_catalog, pg_temp'] FROM pg_proc
            WHERE oid = 'bgupdate._health_readings(regclass,text[],boolean)'::regprocedure), 'with a safe search_path');
SELECT has_column('bgupdate', 'status', c, 'status.' || c) FROM unnest(ARRAY['hold_reason', 'hold_until', 'index_phase']) c;
SELECT has_view('bgupdate', 'metrics', 'metrics view');
SELECT columns_are('bgupdate', 'metrics', ARRAY['name', 'labels', 'value'], 'metrics: name, labels, value');
SELECT is(current_setting('bgupdate.health_max_archive_ready'), '42', 'archive backlog limit 42 (GitLab)');
SELECT is(current_setting('bgupdate.health_pacing'), 'off', 'Synapse pacing stays the default');
SELECT is(current_setting('bgupdate.health_max_wal_flush_waiters'), '0',
          'sessions waiting for WAL flushes: not checked unless set');

CREATE TABLE ht (id int PRIMARY KEY, v int);
INSERT INTO ht SELECT g, NULL FROM generate_series(1, 100) g;
-- A non-superuser can read the signals (numbers only).
CREATE ROLE health_reader;
SET LOCAL ROLE health_reader;
SELECT lives_ok($$SELECT * FROM bgupdate._health_readings('ht'::regclass,
                    ARRAY['replica_lag_ms', 'replica_lag_mb', 'slot_retained_mb', 'vacuum', 'archive_ready',
                          'xmin_age_s', 'blocked_sessions'])$$, 'a non-superuser reads every signal');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM bgupdate._health_readings('ht'::regclass, ARRAY['vacuum', 'archive_ready'])),
          2, 'one reading per signal asked for');
SELECT is((SELECT value FROM bgupdate._health_readings('ht'::regclass, ARRAY['vacuum'])), 0::float8,
          'no vacuum on the table');

-- health_hook: superuser-set, checked when set.
CREATE FUNCTION app_health_number(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION app_health(name text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('work_mem', '77MB', false);  -- must not outlive the hook
    RETURN CASE WHEN (SELECT count(*) FROM public.ht WHERE v IS NOT NULL) >= 10 THEN 'enough for now' END;
END $$;
SELECT throws_ok($$SET bgupdate.health_hook = 'app_health_number'$$, '22023', NULL,
                 'a hook returning a number is rejected');
SELECT throws_ok($$SET bgupdate.health_hook = 'no_such_function'$$, '22023', NULL, 'a missing hook is rejected');
SET LOCAL bgupdate.health_hook = 'app_health';
SET LOCAL bgupdate.health_check_interval_ms = 0;
SET LOCAL bgupdate.default_batch_size = 10;
SET LOCAL bgupdate.max_batch_size = 10;
SET LOCAL work_mem = '5MB';

SELECT bgupdate.register_batched_update('fill_ht', 'ht', ARRAY['id'], 'v = id', 'v IS NULL');
SELECT bgupdate.enqueue('fill_ht', 1);
SELECT is((bgupdate.step() ->> 'items')::int, 10, 'first batch runs');
SELECT is(current_setting('work_mem'), '5MB', 'a session setting the health hook changed does not outlive it');
SELECT is(current_setting('bgupdate.health_hook'), 'public.app_health(pg_catalog.text)', 'the hook is kept schema-qualified');
SELECT is(bgupdate.step() ->> 'on_hold', 'health hook public.app_health(pg_catalog.text): enough for now',
          'the hook''s reason holds step()');
SELECT results_eq($$SELECT state, hold_reason, attempts FROM bgupdate.status WHERE update_name = 'fill_ht'$$,
                  $$VALUES ('on_hold', 'health hook public.app_health(pg_catalog.text): enough for now', 0::bigint)$$,
                  'status: on_hold, the reason, no attempt spent');
SELECT is((SELECT value FROM bgupdate.metrics WHERE name = 'bgupdate_on_hold' AND labels = 'update_name="fill_ht"'),
          1::float8, 'metrics: on hold');
SELECT is((SELECT count(*)::int FROM ht WHERE v IS NOT NULL), 10, 'nothing ran on hold');
-- finish() guarantees completion: health does not hold it.
SELECT lives_ok($$SELECT bgupdate.finish('fill_ht')$$, 'finish() runs regardless of health');
SELECT is((SELECT count(*)::int FROM ht WHERE v = id), 100, 'every row once');

SELECT * FROM finish();
ROLLBACK;
