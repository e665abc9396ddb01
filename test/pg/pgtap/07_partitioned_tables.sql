-- pgTAP: updates on partitioned tables, run by this session's step() and
-- finish() (the worker is off here; test/pg/tap/t/080_partitioned_tables.pl
-- runs them side by side in workers, and builds indexes):
-- a batched update lists the leaf partitions, works partition by partition
-- with its bound within each, covers partitions pg_partman creates while it
-- runs, reports a detached or dropped partition and leaves its rows, and
-- changes every row once; validate-and-delete and constraint validation work
-- leaf by leaf; what PostgreSQL 15 refuses on partitioned tables is refused
-- with its own error; a fixed key range on a partitioned table stops at the
-- largest key of the whole table when the update starts.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(40);
SET LOCAL bgupdate.sleep_enabled = off;
SET LOCAL bgupdate.default_batch_size = 40;
SET LOCAL bgupdate.max_batch_size = 40;

-- ---- a pg_partman-managed table ------------------------------------------
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
CREATE TABLE ev (id bigint NOT NULL, b int NOT NULL DEFAULT 0, PRIMARY KEY (id)) PARTITION BY RANGE (id);
SELECT partman.create_parent('public.ev', 'id', 'native', '100', p_premake := 2, p_start_partition := '0');
INSERT INTO ev (id) SELECT g FROM generate_series(0, 249) g;
SELECT bgupdate.register_batched_update('ev_bump', 'ev', ARRAY['id'], 'b = b + 1');
SELECT bgupdate.enqueue('ev_bump');

SELECT is((bgupdate.step())->>'items', '0', 'the first batch of a partitioned table lists its partitions');
SELECT is((SELECT array_agg(k ORDER BY k) FROM bgupdate.background_updates,
                  jsonb_object_keys(progress_json::jsonb->'partitions') k WHERE update_name = 'ev_bump'),
          ARRAY['public.ev_default', 'public.ev_p0', 'public.ev_p100', 'public.ev_p200'],
          '... every leaf partition, schema-qualified, in the progress');
SELECT is((SELECT count(*)::int FROM ev WHERE b <> 0), 0, '... and changes no row');
SELECT is((bgupdate.step())->>'items', '0', 'the next batch works on one partition: the (empty) default one first');
SELECT is((bgupdate.step())->>'items', '40', '... then the next one, 40 rows of it');
SELECT ok((SELECT count(*) = 1 FROM bgupdate.background_updates, jsonb_each(progress_json::jsonb->'partitions') e
            WHERE update_name = 'ev_bump' AND e.value ? 'lower_bound'),
          'the progress records which partition and the key bound within it');
SELECT is((SELECT count(*)::int FROM ev WHERE b = 1), 40, '... 40 rows of it done');

-- pg_partman creates partitions while the update runs; rows go into them.
INSERT INTO ev (id) SELECT g FROM generate_series(250, 299) g;
SELECT partman.run_maintenance('public.ev');
INSERT INTO ev (id) SELECT g FROM generate_series(300, 449) g;
SELECT ok((SELECT count(*) = 2 FROM pg_partition_tree('ev') WHERE relid::text IN ('ev_p300', 'ev_p400')),
          'pg_partman made two partitions meanwhile');
SELECT lives_ok($$SELECT bgupdate.finish('ev_bump')$$, 'finish() works through the partitions');
SELECT is((SELECT count(*)::int FROM ev WHERE b <> 1), 0, 'every row of every partition changed exactly once');
SELECT is((SELECT count(*)::int FROM ev), 450, '... 450 rows, 200 of them in partitions created during the run');
SELECT ok((SELECT count(*) = 2 FROM bgupdate.update_history, jsonb_each(detail::jsonb->'to'->'partitions') e
            WHERE update_name = 'ev_bump' AND event = 'batch' AND e.value->>'attached_during_run' = 'true'
              AND e.key IN ('public.ev_p300', 'public.ev_p400')
              AND id = (SELECT max(id) FROM bgupdate.update_history h2 WHERE h2.update_name = 'ev_bump'
                         AND h2.event = 'batch' AND h2.detail::jsonb->'to'->'partitions' ? 'public.ev_p300'
                         AND NOT (h2.detail::jsonb->'from'->'partitions' ? 'public.ev_p300'))),
          'the partitions attached during the run were added to the progress, and said so');
SELECT is((SELECT items_done FROM bgupdate.status WHERE update_name = 'ev_bump'), 450::bigint,
          'status counts every row once although partitions ran one by one');

-- ---- a partition detached, another dropped, while the update runs -------
CREATE TABLE m (id int NOT NULL PRIMARY KEY, b int NOT NULL DEFAULT 0) PARTITION BY RANGE (id);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100);
CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200);
CREATE TABLE m3 PARTITION OF m FOR VALUES FROM (200) TO (300);
INSERT INTO m (id) SELECT g FROM generate_series(0, 299) g;
SELECT bgupdate.register_batched_update('m_bump', 'm', ARRAY['id'], 'b = m.b + 1');  -- names the parent
SELECT bgupdate.enqueue('m_bump');
SELECT bgupdate.step();
ALTER TABLE m DETACH PARTITION m2;
DROP TABLE m3;
SELECT lives_ok($$SELECT bgupdate.finish('m_bump')$$, 'the update ends although partitions went away');
SELECT is((SELECT count(*)::int FROM m WHERE b <> 1), 0, 'the partitions still attached: every row once');
SELECT is((SELECT count(*)::int FROM m2 WHERE b <> 0), 0, 'the detached partition''s rows are left alone');
SELECT is((SELECT string_agg(e.key || ': ' || (e.value->>'gone'), '; ' ORDER BY e.key)
             FROM bgupdate.update_history h, jsonb_each(h.detail::jsonb->'to'->'partitions') e
            WHERE h.update_name = 'm_bump' AND h.event = 'batch' AND e.value ? 'gone'
              AND h.id = (SELECT max(id) FROM bgupdate.update_history WHERE update_name = 'm_bump' AND event = 'batch'
                           AND detail::jsonb->'to' <> 'null')),
          'public.m2: detached from m while the update ran: its rows are no longer the table''s, so the update leaves them; public.m3: dropped while the update ran',
          'the progress says which partitions went away, and how');

-- ---- a fixed key range on a partitioned table ---------------------------
CREATE TABLE fr (id int NOT NULL PRIMARY KEY, b int NOT NULL DEFAULT 0) PARTITION BY RANGE (id);
CREATE TABLE fr1 PARTITION OF fr FOR VALUES FROM (0) TO (1000);
CREATE TABLE fr2 PARTITION OF fr FOR VALUES FROM (1000) TO (2000);
INSERT INTO fr (id) SELECT g FROM generate_series(1, 1500) g;
ANALYZE fr;
SELECT bgupdate.register_batched_update('fr_bump', 'fr', ARRAY['id'], 'b = b + 1', fixed_range => true);
SELECT bgupdate.enqueue('fr_bump');
SELECT bgupdate.step();
SELECT is((SELECT progress_json::jsonb->'max_key' FROM bgupdate.background_updates WHERE update_name = 'fr_bump'),
          '[1500]'::jsonb, 'the end of the range is the whole table''s largest key when the update starts');
SELECT is((SELECT total_estimate FROM bgupdate.status WHERE update_name = 'fr_bump'), 1500::bigint,
          '... and the total is the rows in the range (planner estimate, the table analyzed)');
INSERT INTO fr (id) SELECT g FROM generate_series(1501, 1999) g;
SELECT bgupdate.finish('fr_bump');
SELECT is((SELECT count(*)::int FROM fr WHERE (id <= 1500) <> (b = 1)), 0, 'rows up to it changed, later ones not');

-- ---- validate-and-delete, leaf by leaf ------------------------------------
CREATE TABLE vd (id int NOT NULL PRIMARY KEY, a int) PARTITION BY RANGE (id);
CREATE TABLE vd1 PARTITION OF vd FOR VALUES FROM (0) TO (100);
CREATE TABLE vd2 PARTITION OF vd FOR VALUES FROM (100) TO (200);
INSERT INTO vd SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE g END FROM generate_series(0, 199) g;
SELECT bgupdate.register_validate_constraint_and_delete_rows('vd_nn', 'vd', 'vd_a_not_null', '{"not_null": "a"}', ARRAY['id']);
SELECT bgupdate.add_constraint_and_enqueue(0, 'vd_nn', 'vd', 'vd_a_not_null', '{"not_null": "a"}');
SELECT ok((SELECT bool_and(NOT convalidated) FROM pg_constraint WHERE conname = 'vd_a_not_null'),
          'the NOT VALID check is on the table and its partitions');
SELECT bgupdate.step();  -- the list
SELECT bgupdate.step() FROM generate_series(1, 3);  -- vd1: 40, 40, 20 rows scanned
SELECT ok((SELECT progress_json::jsonb->'partitions'->'public.vd1' ? 'scanned'
             FROM bgupdate.background_updates WHERE update_name = 'vd_nn'), 'a partition is scanned batch by batch');
SELECT bgupdate.step();  -- vd1 validated on its own
SELECT is((SELECT convalidated FROM pg_constraint WHERE conname = 'vd_a_not_null' AND conrelid = 'vd1'::regclass), true,
          'a scanned partition is validated on its own');
SELECT is((SELECT convalidated FROM pg_constraint WHERE conname = 'vd_a_not_null' AND conrelid = 'vd'::regclass), false,
          '... before the table');
SELECT lives_ok($$SELECT bgupdate.finish('vd_nn')$$, 'validate-and-delete completes');
SELECT is((SELECT count(*)::int FROM vd WHERE a IS NULL), 0, 'the rows breaking the constraint were deleted');
SELECT is((SELECT count(*)::int FROM vd), 180, '... and only those');
SELECT ok((SELECT bool_and(convalidated) FROM pg_constraint WHERE conname = 'vd_a_not_null'),
          'the constraint is valid on the table and every partition');

-- ---- constraint validation, leaf by leaf ----------------------------------
CREATE TABLE vc (id int NOT NULL PRIMARY KEY, a int) PARTITION BY RANGE (id);
CREATE TABLE vc1 PARTITION OF vc FOR VALUES FROM (0) TO (100);
CREATE TABLE vc2 PARTITION OF vc FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
CREATE TABLE vc2a PARTITION OF vc2 FOR VALUES FROM (100) TO (200);
INSERT INTO vc SELECT g, g FROM generate_series(0, 199) g;
ALTER TABLE vc ADD CONSTRAINT vc_a_positive CHECK (a >= 0) NOT VALID;
SELECT bgupdate.register_validate_constraint('vc_check', 'vc_a_positive', 'vc');
SELECT bgupdate.enqueue('vc_check');
SELECT bgupdate.step();
SELECT is((SELECT array_agg(conrelid::regclass::text ORDER BY conrelid::regclass::text) FROM pg_constraint
            WHERE conname = 'vc_a_positive' AND convalidated), ARRAY['vc1'],
          'one leaf partition validated per batch');
SELECT lives_ok($$SELECT bgupdate.finish('vc_check')$$, 'constraint validation completes');
SELECT ok((SELECT bool_and(convalidated) AND count(*) = 4 FROM pg_constraint WHERE conname = 'vc_a_positive'),
          'valid on the table, the sub-partitioned partition and every leaf');
SELECT is((SELECT batches FROM bgupdate.status WHERE update_name = 'vc_check'), 3::bigint,
          'a batch per leaf, then the table''s own (which scans nothing)');

-- ---- what PostgreSQL 15 refuses on partitioned tables ---------------------
CREATE TABLE ref (id int PRIMARY KEY);
SELECT throws_ok($$SELECT bgupdate.add_constraint_and_enqueue(0, 'fk_m', 'm', 'm_fk', '{"foreign_key": {"referenced_table": "ref", "columns": [["b", "id"]]}}')$$,
                 '42809', 'bgupdate: cannot add NOT VALID foreign key on partitioned table "m" referencing relation "ref"',
                 'a NOT VALID foreign key on a partitioned table: PostgreSQL''s own refusal');
SELECT throws_ok($$SELECT bgupdate.register_index_update('m_b_unique', 'm_b_u', 'm', ARRAY['b'], is_unique => true)$$,
                 '22023', 'bgupdate: unique index m_b_u on partitioned table ''m'' must include its partition key column ''id'' (PostgreSQL enforces uniqueness partition by partition)',
                 'a unique index without the partition key is refused at registration');
SELECT lives_ok($$SELECT bgupdate.register_index_update('m_b_unique', 'm_idb_u', 'm', ARRAY['id', 'b'], is_unique => true)$$,
                'a unique index with it is accepted');

-- ---- fixed range options at registration -----------------------------------
SELECT throws_ok($$SELECT bgupdate.register_batched_update('x', 'fr', ARRAY['id'], 'b = 1', min_key => '[1, 2]')$$,
                 '22023', 'bgupdate: min_key of ''x'' has 2 values but the key has 1 columns', 'a bound of the wrong arity');
SELECT throws_ok($$SELECT bgupdate.register_batched_update('x', 'fr', ARRAY['id'], 'b = 1', min_key => '9', max_key => '3')$$,
                 '22023', 'bgupdate: min_key [9] of ''x'' is greater than its max_key [3]: the range would be empty',
                 'an empty range');
SELECT throws_ok($$SELECT bgupdate.register_validate_constraint_and_delete_rows('x', 'vd', 'c', '{"not_null": "a"}', ARRAY['id'], max_key => '[null]')$$,
                 '22023', 'bgupdate: max_key of ''x'' holds null for key column ''id'': keys are never NULL',
                 'validate-and-delete takes the same options');
SELECT lives_ok($$SELECT bgupdate.register_batched_update('x', 'fr', ARRAY['id'], 'b = 1', NULL, true, '10', '[20]')$$,
                'the options by position');
SELECT is((SELECT spec_json::jsonb - 'table' - 'key_columns' - 'set_clause' - 'table_pin' FROM bgupdate.update_registry WHERE update_name = 'x'),
          '{"fixed_range": true, "min_key": [10], "max_key": [20]}'::jsonb, '... stored with the registration');

SELECT * FROM finish();
ROLLBACK;
