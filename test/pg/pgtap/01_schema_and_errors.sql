-- pgTAP: the extension's objects, Synapse's queue shape, GUC defaults, and
-- SQLSTATEs of bad input, where assertions read better than expected output.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(59);

SELECT has_schema('bgupdate');
SELECT has_table('bgupdate', t, 'table bgupdate.' || t) FROM unnest(ARRAY['background_updates', 'update_registry',
    'update_state', 'update_history', 'config', 'schema_version', 'schema_compat_version',
    'applied_schema_deltas', 'skipped_schema_deltas', 'logical_databases', 'port_progress']) t;
SELECT has_view('bgupdate', 'status', 'status view');

-- Synapse's queue shape, so its deltas insert unchanged.
SELECT col_type_is('bgupdate', 'background_updates', 'update_name', 'text', 'update_name text');
SELECT col_not_null('bgupdate', 'background_updates', 'update_name', 'update_name NOT NULL');
SELECT col_type_is('bgupdate', 'background_updates', 'progress_json', 'text', 'progress_json text');
SELECT col_is_null('bgupdate', 'background_updates', 'depends_on', 'depends_on nullable');
SELECT col_default_is('bgupdate', 'background_updates', 'ordering', '0', 'ordering defaults to 0');
SELECT has_index('bgupdate', 'background_updates', 'background_updates_uniqueness', 'unique update_name');

-- The SQL API.
SELECT has_function('bgupdate', f, 'function bgupdate.' || f) FROM unnest(ARRAY['register_update_handler',
    'register_index_update', 'register_validate_constraint', 'register_validate_constraint_and_delete_rows',
    'add_constraint_and_enqueue', 'register_batched_update', 'step', 'finish', 'has_completed',
    'has_completed_all', 'set_enabled', 'enabled', 'pause', 'resume', 'retry', 'check_schema_compat',
    'apply_schema_delta', 'set_schema_version', 'apply_schema_snapshot', 'skip_schema_delta', 'adopt_queue',
    'estimate']) f;
SELECT ok((SELECT prokind = 'p' FROM pg_proc WHERE oid = 'bgupdate.run(bigint)'::regprocedure), 'run is a procedure');

-- Configuration tables are dumped by pg_dump.
SELECT is((SELECT cardinality(extconfig) FROM pg_extension WHERE extname = 'bgupdate'), 12,
          'queue, registry, state, history (+ sequence), config, schema, skipped-delta, logical-database and port-progress tables are dumped');

-- GUCs with Synapse's defaults.
SELECT is(current_setting('bgupdate.update_duration_ms'), '100', 'update_duration_ms 100');
SELECT is(current_setting('bgupdate.sleep_duration_ms'), '1000', 'sleep_duration_ms 1000');

-- Bad input raises invalid_parameter_value (22023) with a message naming the problem.
SELECT throws_ok($$SELECT bgupdate.register_batched_update('x', 'missing_table', ARRAY['id'], 'a = 1')$$,
                 '22023', 'bgupdate: table ''missing_table'' does not exist', 'missing table');
SELECT throws_ok($$SELECT bgupdate.enqueue('x', 0, NULL, '"text"')$$, '22023', NULL, 'progress must be an object');
SELECT throws_ok($$SELECT bgupdate.pause(NULL)$$, '22023', 'bgupdate: update_name must not be NULL', 'NULL argument');
SELECT lives_ok($$SELECT bgupdate.has_completed('never_queued')$$, 'has_completed of an unknown update');
SELECT ok(bgupdate.has_completed('never_queued'), 'unknown updates count as completed (as in Synapse)');

-- An update enqueued before its handler is registered waits for it: no
-- attempts are burnt, status says why, finish() raises naming the problem.
SELECT bgupdate.enqueue('orphan', -100);
SELECT is((bgupdate.step())->>'update_name', NULL, 'an update without a handler is not run');
SELECT is((SELECT attempts FROM bgupdate.status WHERE update_name = 'orphan'), 0::bigint, '... and costs no attempt');
SELECT is((SELECT state FROM bgupdate.status WHERE update_name = 'orphan'), 'pending', '... it stays pending');
SELECT matches((SELECT last_error FROM bgupdate.status WHERE update_name = 'orphan'), 'no handler is registered',
               '... and status says why');
SELECT throws_ok($$SELECT bgupdate.finish('orphan')$$, '22023',
                 'bgupdate: no handler is registered for background update ''orphan'' (register one with register_update_handler or another register_ function)',
                 'finish() of an update without a handler names the problem');

-- A table never analyzed has no statistics yet (reltuples -1): status shows a
-- rough estimate from the table's size and says so; ANALYZE makes it exact.
SELECT bgupdate.pause('orphan');
CREATE TABLE fresh (id int PRIMARY KEY, v int);
INSERT INTO fresh SELECT g, NULL FROM generate_series(1, 5000) g;
SELECT bgupdate.register_batched_update('fresh_fill', 'fresh', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('fresh_fill', -50);
SELECT is((bgupdate.step())->>'update_name', 'fresh_fill', 'a batch of the fresh table runs');
SELECT ok((SELECT estimate_is_rough AND total_estimate BETWEEN 2500 AND 10000 AND percent > 0
           FROM bgupdate.status WHERE update_name = 'fresh_fill'),
          'before ANALYZE: a rough estimate from the relation size, marked as such');
ANALYZE fresh;
SELECT is((bgupdate.step())->>'update_name', 'fresh_fill', 'the next batch runs');
SELECT ok((SELECT total_estimate = 5000 AND percent > 0 AND NOT estimate_is_rough
           FROM bgupdate.status WHERE update_name = 'fresh_fill'),
          'after ANALYZE the estimate comes from the statistics');

SELECT * FROM finish();
ROLLBACK;
