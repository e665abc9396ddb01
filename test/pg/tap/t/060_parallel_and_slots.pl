# (a) More databases with the extension than worker slots
# (bgupdate.max_workers = 2): idle workers give their slot to a database
# whose commit enqueues work, and every database's updates complete.
# (b) Independent updates side by side (bgupdate.max_parallel = 2): a slow
# update on one table does not hold back an update on another table; two
# updates on one table, or an update whose table is unknown (generic
# handler), never run at the same time as another on that table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use BgTap;

my $node = bg_node('main', conf => {
	'bgupdate.max_workers'        => 2,
	'bgupdate.max_parallel'       => 2,
	'bgupdate.naptime_ms'         => 200,
	# No periodic scan: only commits (the wake path) bring workers back.
	'bgupdate.launcher_rescan_ms' => 600000,
});
bg_start($node);

my @dbs = map { "db$_" } 1 .. 4;
for my $db (@dbs) {
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION bgupdate;
		CREATE TABLE t (id int PRIMARY KEY, v int);
		INSERT INTO t SELECT g, 0 FROM generate_series(1, 2000) g;
		SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'v = v + 1');
	});
}
sleep 2;    # every worker has looked at its (empty) queue and is idle
my $workers = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'bgupdate worker'");
cmp_ok($workers, '<=', 2, "never more workers than bgupdate.max_workers ($workers)");

# Each database gets work in turn: at most two have a worker when it arrives.
my $unserved = 0;
for my $db (@dbs) {
	my $had = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'bgupdate worker' AND datname = '$db'");
	$unserved++ if $had eq '0';
	my $t0 = time();
	$node->safe_psql($db, "SELECT bgupdate.enqueue('bump')");
	my $done = $node->poll_query_until($db, "SELECT bgupdate.has_completed('bump')");
	ok($done, sprintf('%s: its update completes although idle databases held every slot (%.1f s)', $db, time() - $t0));
	cmp_ok(time() - $t0, '<', 10, "$db served within 10 s");
}
cmp_ok($unserved, '>=', 2, "$unserved of the databases had no worker when their work arrived");
# All at once: more databases with work than slots; they are served as slots free up.
for my $db (@dbs) {
	$node->safe_psql($db, "SELECT bgupdate.enqueue('bump')");
}
for my $db (@dbs) {
	ok($node->poll_query_until($db, "SELECT bgupdate.has_completed('bump')"),
		"$db: all four databases finish their queues with two slots");
	is($node->safe_psql($db, 'SELECT count(*) FROM t WHERE v <> 2'), '0', "$db: every row updated exactly twice");
}

# (b) Side by side in one database.
my $db = 'db1';
$node->safe_psql($db, q{
	CREATE TABLE slow (id int PRIMARY KEY, v int);
	INSERT INTO slow SELECT g, 0 FROM generate_series(1, 40) g;
	CREATE TABLE fast (id int PRIMARY KEY, v int);
	INSERT INTO fast SELECT g, 0 FROM generate_series(1, 5000) g;
	CREATE TABLE other (id int PRIMARY KEY, v int);
	INSERT INTO other SELECT g, 0 FROM generate_series(1, 40) g;
	CREATE TABLE overlap_log (what text, at timestamptz DEFAULT clock_timestamp());
	-- Each batch on "slow" (and the generic handler's) holds transaction
	-- advisory lock 4242; a batch that cannot take it runs beside another.
	CREATE FUNCTION probe(x int, what text, pause float8) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		IF NOT pg_try_advisory_xact_lock(4242) THEN
			INSERT INTO overlap_log(what) VALUES (what);
		END IF;
		PERFORM pg_sleep(pause);
		RETURN x + 1;
	END $$;
	-- Generic handler: its table is unknown to the scheduler.
	CREATE FUNCTION gen_handler(progress json, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE lo int := coalesce((progress->>'lo')::int, 0); n int;
	BEGIN
		UPDATE other SET v = probe(v, 'generic', 0.05) WHERE id > lo AND id <= lo + 5;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n = 0 THEN
			PERFORM bgupdate.end_update('gen');
		ELSE
			PERFORM bgupdate.update_progress('gen', jsonb_build_object('lo', lo + 5));
		END IF;
		RETURN n;
	END $$;
	SELECT bgupdate.register_batched_update('slow_a', 'slow', ARRAY['id'], 'v = probe(v, ''slow_a'', 0.2)');
	SELECT bgupdate.register_batched_update('slow_b', 'public.slow', ARRAY['id'], 'v = probe(v, ''slow_b'', 0.2)');
	SELECT bgupdate.register_batched_update('fast_c', 'fast', ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.register_update_handler('gen', 'gen_handler(json, int)');
});
$node->safe_psql($db, q{
	ALTER DATABASE db1 SET bgupdate.default_batch_size = 5;
});
$node->reload;
# slow_a first: one worker takes it (40 rows, 5 per batch, 0.2 s a row: ~8 s).
$node->safe_psql($db, q{
	INSERT INTO bgupdate.background_updates (ordering, update_name, progress_json) VALUES
		(1, 'slow_a', '{}'), (2, 'slow_b', '{}'), (3, 'fast_c', '{}');
});
my $t0 = time();
ok($node->poll_query_until($db, "SELECT bgupdate.has_completed('fast_c')"), 'fast_c completes');
my $fast_done = time() - $t0;
my $slow_left = $node->safe_psql($db, "SELECT bgupdate.has_completed('slow_a')");
is($slow_left, 'f', sprintf('fast_c (another table) completed in %.1f s while slow_a was still running', $fast_done));
ok($node->poll_query_until($db, "SELECT bgupdate.has_completed_all()"), 'slow_a and slow_b complete');
is($node->safe_psql($db, 'SELECT count(*) FROM slow WHERE v <> 2'), '0', 'every slow row updated once by each update');
is($node->safe_psql($db, 'SELECT count(*) FROM fast WHERE v <> 1'), '0', 'every fast row updated once');
is($node->safe_psql($db, "SELECT count(*) FROM overlap_log"), '0',
	'slow_a and slow_b (one table, named two ways) never ran at the same time');

# A generic handler (unknown table) next to an update on a known table: it runs alone.
$node->safe_psql($db, q{
	UPDATE slow SET v = 0;
	INSERT INTO bgupdate.background_updates (ordering, update_name, progress_json) VALUES
		(1, 'gen', '{}'), (2, 'slow_a', '{}');
});
ok($node->poll_query_until($db, "SELECT bgupdate.has_completed_all()"), 'generic and table updates complete')
	or diag($node->safe_psql($db, 'SELECT update_name, state, batches, attempts, last_error FROM bgupdate.status'));
is($node->safe_psql($db, 'SELECT count(*) FROM other WHERE v <> 1'), '0', 'the generic handler updated every row once');
is($node->safe_psql($db, 'SELECT count(*) FROM slow WHERE v <> 1'), '0', 'slow_a updated every row once');
is($node->safe_psql($db, "SELECT count(*) FROM overlap_log"), '0',
	'the generic update (unknown table) never ran beside another update');

$node->stop;
done_testing();
