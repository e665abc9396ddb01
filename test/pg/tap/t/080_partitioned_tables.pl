# Partitioned tables with the background workers.
# (a) A batched update on a partitioned table runs partition by partition
#     side by side (bgupdate.max_parallel = 3): while one partition's batch
#     is held (a trigger waits on a gate the test opens), the other
#     partitions are done by other workers, no second runner ever enters the
#     held partition, and in the end every row changed exactly once.
# (b) An index on a partitioned table is built without blocking writes
#     (CREATE INDEX CONCURRENTLY per leaf, ON ONLY the table, ATTACH each):
#     the server is crashed while a leaf's build waits for a writer; after
#     the restart the half-built INVALID leaf index is dropped and rebuilt,
#     the leaf built before the crash is kept, and the table's index is valid.
# (c) Resuming from any step: an index already attached is skipped, an
#     INVALID leftover is rebuilt, a missing one built.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $node = bg_node('parts', conf => {
	'bgupdate.max_workers'        => 4,
	'bgupdate.max_parallel'       => 3,
	'bgupdate.default_batch_size' => 20,
	'bgupdate.max_batch_size'     => 20,
	'bgupdate.statement_timeout_ms' => 0,
});
bg_start($node);
my $db = 'postgres';
# m1 is large (about 20 s of 20-row batches at 20 ms each), so the worker
# that takes it is still on it when helpers arrive (a worker asks for one
# after its first second of work).
$node->safe_psql($db, q{
	CREATE EXTENSION bgupdate;
	CREATE TABLE gate (armed bool NOT NULL, open bool NOT NULL);
	INSERT INTO gate VALUES (false, false);
	CREATE TABLE m (id int NOT NULL PRIMARY KEY, b int NOT NULL DEFAULT 0) PARTITION BY RANGE (id);
	CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100000);
	CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100000) TO (200000);
	CREATE TABLE m3 PARTITION OF m FOR VALUES FROM (200000) TO (300000);
	CREATE TABLE m4 PARTITION OF m FOR VALUES FROM (300000) TO (400000);
	INSERT INTO m (id) SELECT g FROM generate_series(0, 19999) g;
	INSERT INTO m (id) SELECT p * 100000 + g FROM generate_series(1, 3) p, generate_series(0, 999) g;
	-- Every batch takes 20 ms; once the gate is armed, a batch on m1 waits
	-- until the test opens it.
	CREATE FUNCTION pace_and_gate() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_sleep(0.02);
		IF TG_TABLE_NAME = 'm1' THEN
			WHILE (SELECT armed AND NOT open FROM gate) LOOP
				PERFORM pg_sleep(0.05);
			END LOOP;
		END IF;
		RETURN NULL;
	END $$;
	CREATE TRIGGER m1_pace BEFORE UPDATE ON m1 FOR EACH STATEMENT EXECUTE FUNCTION pace_and_gate();
	CREATE TRIGGER m2_pace BEFORE UPDATE ON m2 FOR EACH STATEMENT EXECUTE FUNCTION pace_and_gate();
	CREATE TRIGGER m3_pace BEFORE UPDATE ON m3 FOR EACH STATEMENT EXECUTE FUNCTION pace_and_gate();
	CREATE TRIGGER m4_pace BEFORE UPDATE ON m4 FOR EACH STATEMENT EXECUTE FUNCTION pace_and_gate();
	SELECT bgupdate.register_batched_update('bump', 'm', ARRAY['id'], 'b = b + 1');
	SELECT bgupdate.enqueue('bump');
});

# Workers inside a batch of the update, by partition ("m1,m2").
sub running_partitions
{
	return $node->safe_psql($db,
		"SELECT coalesce(string_agg(substring(query FROM 'partition public\\.(m[0-9])'), ',' ORDER BY query), '')"
		  . " FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'"
		  . " AND query LIKE 'bgupdate: running background update ''bump'' (partition %'");
}
sub runners_on
{
	my ($part) = @_;
	return scalar grep { $_ eq $part } split /,/, running_partitions();
}
# Partitions the progress lists as done.
sub done_partitions
{
	return $node->safe_psql($db,
		"SELECT coalesce(string_agg(k, ',' ORDER BY k), '') FROM bgupdate.background_updates,"
		  . " jsonb_each(progress_json::jsonb->'partitions') AS e(k, v) WHERE update_name = 'bump' AND v ? 'done'");
}

# Two workers on two partitions of the one update at the same moment.
my ($side_by_side, $t0) = ('', time());
while (time() - $t0 < 90)
{
	my $now = running_partitions();
	if (scalar(split /,/, $now) >= 2) { $side_by_side = $now; last; }
	usleep(50_000);
}
like($side_by_side, qr/^m1,m[2-4]/, "two workers on different partitions of one update at once ($side_by_side)");
# Now hold m1's worker inside its next batch: the others must do the rest.
$node->safe_psql($db, 'UPDATE gate SET armed = true');
my $m1_left = $node->safe_psql($db, 'SELECT count(*) FROM m1 WHERE b = 0');
cmp_ok($m1_left, '>', 0, "m1 is not done when the gate is armed ($m1_left rows left)");
my ($max_on_m1, $others_done) = (0, 0);
$t0 = time();
while (time() - $t0 < 120)
{
	my $n = runners_on('m1');
	$max_on_m1 = $n if $n > $max_on_m1;
	if (done_partitions() eq 'public.m2,public.m3,public.m4') { $others_done = 1; last; }
	usleep(50_000);
}
ok($others_done, "partitions m2, m3 and m4 were done by other workers while m1's worker was held")
	or diag(bg_status($node, $db));
cmp_ok($node->safe_psql($db, 'SELECT count(*) FROM m1 WHERE b = 0'), '>', 0, '... m1 not yet (its batch is held)');
is(runners_on('m1'), 1, 'one runner inside m1');
is($max_on_m1, 1, 'never more than one runner on partition m1 meanwhile');
$node->safe_psql($db, 'UPDATE gate SET open = true');
ok(wait_all_done($node, $db, 180), 'the update completes once the gate opens');
is($node->safe_psql($db, 'SELECT count(*) FROM m WHERE b <> 1'), '0', 'every row of every partition changed exactly once');
is($node->safe_psql($db, "SELECT items_done FROM bgupdate.status WHERE update_name = 'bump'"), '23000',
	'status counts each row once although workers ran side by side');

# (b) A crash while a leaf's CREATE INDEX CONCURRENTLY waits for a writer.
$node->safe_psql($db, q{
	CREATE TABLE pi (id int NOT NULL PRIMARY KEY, v int) PARTITION BY RANGE (id);
	CREATE TABLE pi1 PARTITION OF pi FOR VALUES FROM (0) TO (1000);
	CREATE TABLE pi2 PARTITION OF pi FOR VALUES FROM (1000) TO (2000);
	CREATE TABLE pi3 PARTITION OF pi FOR VALUES FROM (2000) TO (3000);
	INSERT INTO pi SELECT g, g % 97 FROM generate_series(0, 2999) g;
});
my $writer = $node->background_psql($db);
$writer->query_safe('BEGIN');
$writer->query_safe('UPDATE pi2 SET v = v WHERE id = 1500');
$node->safe_psql($db, q{
	SELECT bgupdate.register_index_update('pi_v', 'pi_v_idx', 'pi', ARRAY['v']);
	SELECT bgupdate.enqueue('pi_v');
});
ok($node->poll_query_until($db, q{
	SELECT count(*) = 1 FROM pg_stat_progress_create_index
	 WHERE relid = 'pi2'::regclass AND phase = 'waiting for writers before build'}),
	'the build of leaf pi2 waits for a writer');
my $pi1_before = $node->safe_psql($db, "SELECT 'pi_v_idx_pi1'::regclass::oid");
is($node->safe_psql($db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'pi_v_idx_pi2'::regclass"), 'f',
	'... its index is there, INVALID, half built');
is($node->safe_psql($db, "SELECT progress_json::jsonb->'partitions' FROM bgupdate.background_updates WHERE update_name = 'pi_v'"),
	'{"public.pi1": "built"}', 'the progress records leaf pi1 built');
kill_postmaster_and_children($node);
eval { $writer->quit };
$node->start;
ok(wait_all_done($node, $db, 120), 'after the crash the index update completes');
is($node->safe_psql($db, q{
	SELECT string_agg(c.relname || ':' || i.indisvalid || ':' || coalesce(h.inhparent::regclass::text, '-'), ' ' ORDER BY c.relname)
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
	 WHERE c.relname LIKE 'pi_v_idx%'}),
	'pi_v_idx:true:- pi_v_idx_pi1:true:pi_v_idx pi_v_idx_pi2:true:pi_v_idx pi_v_idx_pi3:true:pi_v_idx',
	'every leaf index valid and attached, the table\'s index valid, no INVALID leftover');
is($node->safe_psql($db, "SELECT 'pi_v_idx_pi1'::regclass::oid"), $pi1_before, 'the leaf built before the crash was kept');
is($node->safe_psql($db, "SELECT relkind FROM pg_class WHERE relname = 'pi_v_idx'"), 'I', 'the table\'s index is a partitioned index');
like($node->safe_psql($db, q{EXPLAIN (COSTS OFF) SELECT * FROM pi WHERE v = 5}), qr/pi_v_idx_pi/, 'queries use it');

# (c) Resuming from any step, set up by hand: pq1's index built and
# attached to the table's (ON ONLY) index, pq2's left INVALID as by a failed
# build, pq3's missing.
$node->safe_psql($db, q{
	CREATE TABLE pq (id int NOT NULL PRIMARY KEY, v int) PARTITION BY RANGE (id);
	CREATE TABLE pq1 PARTITION OF pq FOR VALUES FROM (0) TO (1000);
	CREATE TABLE pq2 PARTITION OF pq FOR VALUES FROM (1000) TO (2000);
	CREATE TABLE pq3 PARTITION OF pq FOR VALUES FROM (2000) TO (3000);
	INSERT INTO pq SELECT g, g % 89 FROM generate_series(0, 2999) g;
	CREATE INDEX pq_v_idx_pq1 ON pq1 (v);
	CREATE INDEX pq_v_idx ON ONLY pq (v);
	ALTER INDEX pq_v_idx ATTACH PARTITION pq_v_idx_pq1;
	CREATE INDEX pq_v_idx_pq2 ON pq2 (v);
	UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'pq_v_idx_pq2'::regclass;
});
my $pq1 = $node->safe_psql($db, "SELECT 'pq_v_idx_pq1'::regclass::oid");
my $pq2 = $node->safe_psql($db, "SELECT 'pq_v_idx_pq2'::regclass::oid");
$node->safe_psql($db, q{
	SELECT bgupdate.register_index_update('pq_v', 'pq_v_idx', 'pq', ARRAY['v']);
	SELECT bgupdate.enqueue('pq_v');
});
ok(wait_all_done($node, $db, 120), 'the index update resumes from what it finds');
is($node->safe_psql($db, "SELECT 'pq_v_idx_pq1'::regclass::oid"), $pq1, 'the attached leaf index was skipped');
isnt($node->safe_psql($db, "SELECT 'pq_v_idx_pq2'::regclass::oid"), $pq2, 'the INVALID one was dropped and rebuilt');
is($node->safe_psql($db, q{
	SELECT bool_and(i.indisvalid) AND count(*) = 4 AND count(h.inhparent) = 3
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
	 WHERE c.relname LIKE 'pq_v_idx%'}), 't', 'all valid, every leaf attached');
is($node->safe_psql($db, "SELECT detail::jsonb->'to'->'partitions' FROM bgupdate.update_history WHERE update_name = 'pq_v'
	AND event = 'batch' AND detail::jsonb->'to' <> 'null' ORDER BY id DESC LIMIT 1"),
	'{"public.pq1": "attached", "public.pq2": "built", "public.pq3": "built"}',
	'the progress before the attaching batch: pq1 found attached, the others built');

$node->stop;
done_testing();
