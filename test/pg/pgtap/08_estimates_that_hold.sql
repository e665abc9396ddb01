-- pgTAP: estimates that hold. On a 200,000-row table that was never
-- analyzed, an update's total_estimate is taken once (at its first batch,
-- from the live rows in a sample of the table's pages) and does not grow as
-- the update's own writes bloat the table, so percent stays within a point
-- of the rows really done at every look, with rows wider than the planner's
-- guess (text at 32 bytes). An ANALYZE half way (as autovacuum would run)
-- does not move it either. Batches are run by step() here, one sample after
-- each, and capped at 2,000 rows: at least 100 batches (samples) however
-- fast the machine is.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(9);

CREATE TABLE est (id bigint PRIMARY KEY, old int NOT NULL, new int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO est SELECT g, g, NULL, repeat('p', 200) FROM generate_series(1, 200000) g;
SET LOCAL bgupdate.update_duration_ms = 20;
SET LOCAL bgupdate.max_batch_size = 2000;
SET LOCAL bgupdate.sleep_enabled = off;
SET LOCAL bgupdate.health_check_interval_ms = 0;
SELECT bgupdate.register_batched_update('fill_est', 'est', ARRAY['id'], 'new = old * 2');
SELECT bgupdate.enqueue('fill_est');

SELECT ok((SELECT estimate_is_rough AND total_estimate BETWEEN 180000 AND 220000 FROM bgupdate.status
            WHERE update_name = 'fill_est'),
          'before the first batch: a total from a sample of pages, marked rough, within 10 % of 200,000');

CREATE TEMP TABLE samples (n int, percent float8, truth float8, total bigint, rough boolean);
CREATE FUNCTION pg_temp.step_and_look(analyze_at int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE i int := 0;
BEGIN
    LOOP
        i := i + 1;
        PERFORM bgupdate.step();
        IF i = analyze_at THEN ANALYZE est; END IF;
        EXIT WHEN bgupdate.has_completed('fill_est');
        INSERT INTO samples
        SELECT i, s.percent, 100.0 * (SELECT count(*) FROM est WHERE new IS NOT NULL) / 200000, s.total_estimate,
               s.estimate_is_rough
          FROM bgupdate.status s WHERE s.update_name = 'fill_est';
        IF i > 10000 THEN RAISE EXCEPTION 'fill_est does not finish'; END IF;
    END LOOP;
END $$;
SELECT pg_temp.step_and_look(50);

SELECT cmp_ok((SELECT count(*)::int FROM samples), '>=', 99, 'a hundred batches or more, one look after each');
SELECT is((SELECT count(*)::int FROM samples WHERE abs(percent - truth) > 10), 0,
          'percent within 10 points of the rows done at every look');
SELECT cmp_ok((SELECT max(abs(percent - truth)) FROM samples), '<', 1.0::float8, '... within one point, in fact');
SELECT ok((SELECT max(total) <= 1.2 * min(total) FROM samples), 'total_estimate never moves by 20 % during the run');
SELECT is((SELECT count(DISTINCT total)::int FROM samples), 1, '... it does not move at all (taken once)');
SELECT ok((SELECT bool_and(rough) FROM samples WHERE n < 50), 'rough until the table is analyzed');
SELECT ok((SELECT NOT bool_or(rough) FROM samples WHERE n >= 50), 'not rough once it is');
SELECT is((SELECT state || ' ' || items_done FROM bgupdate.status WHERE update_name = 'fill_est'),
          'complete 200000', 'complete, every row counted');

SELECT * FROM finish();
ROLLBACK;
