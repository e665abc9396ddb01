# More databases with queued work than worker slots (bgupdate.max_workers):
# busy workers take turns (bgupdate.worker_turn_ms), so every database is
# served within a bound that follows from the settings, instead of waiting
# for other databases' whole queues to finish.
#
# D = 6 databases, W = 2 slots, each database's backfill alone lasts about
# 10 s (60 batches of 100 rows, 200 ms apart), turn T = 1 s. Without turns
# the last two databases would wait for two whole backfills (about 20 s).
# The bound (README, "Updates side by side"): a database waits at most
# ceil(D / W - 1) rounds of (T + R), R = one run slice of the worker (1 s)
# + one batch and its pause + the launcher's look (at most 1 s) + a worker's
# start; taken here as R = 3 s, so the bound is 2 x 4 s = 8 s. Checked with
# a margin of 1.5x (12 s, still well under the 20 s without turns): every
# database's first batch, and every pause between two of its batches.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(ceil);
use BgTap;

my ($D, $W, $T_ms, $R_s) = (6, 2, 1000, 3);
my $node = bg_node('main', conf => {
	'bgupdate.max_workers'         => $W,
	'bgupdate.max_parallel'        => 1,
	'bgupdate.worker_turn_ms'      => $T_ms,
	'bgupdate.naptime_ms'          => 200,
	'bgupdate.launcher_rescan_ms'  => 600000,  # only commits bring workers: the wake path
	'bgupdate.sleep_enabled'       => 'on',
	'bgupdate.sleep_duration_ms'   => 200,
	'bgupdate.max_batch_size'      => 100,
	'bgupdate.default_batch_size'  => 100,
	'bgupdate.min_batch_size'      => 100,
});
bg_start($node);

my @dbs = map { "db$_" } 1 .. $D;
for my $db (@dbs) {
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION bgupdate;
		CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
		INSERT INTO t (id) SELECT generate_series(1, 6000);
		SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'v = v + 1');
		CREATE TABLE enqueued_at (at timestamptz);
	});
}
sleep 2;    # the launcher has looked at every database; idle workers hold the slots

# All at once: each database records when its work was committed.
for my $db (@dbs) {
	$node->safe_psql($db, "SELECT bgupdate.enqueue('bump'); INSERT INTO enqueued_at VALUES (clock_timestamp())");
}
my $deadline = time() + 180;
my %done;
while (time() < $deadline && keys %done < $D) {
	for my $db (@dbs) {
		$done{$db} = 1 if !$done{$db} && $node->safe_psql($db, "SELECT bgupdate.has_completed('bump')") eq 't';
	}
	sleep 1;
}
is(scalar(keys %done), $D, "all $D databases complete their backfill with $W worker slots");

my $bound = ceil($D / $W - 1) * ($T_ms / 1000 + $R_s);
my ($worst_first, $worst_gap) = (0, 0);
for my $db (@dbs) {
	is($node->safe_psql($db, 'SELECT count(*) FROM t WHERE v <> 1'), '0', "$db: every row updated exactly once");
	# Seconds from the commit to the first batch, and the longest pause between two batches.
	my ($first, $gap) = split /\|/, $node->safe_psql($db, q{
		SELECT round(extract(epoch FROM min(h.at::timestamptz) - (SELECT at FROM enqueued_at))::numeric, 2),
		       round(COALESCE(max(h.gap), 0)::numeric, 2)
		  FROM (SELECT at, extract(epoch FROM at::timestamptz - lag(at::timestamptz) OVER (ORDER BY id)) AS gap
		          FROM bgupdate.update_history WHERE update_name = 'bump' AND event = 'batch') h});
	note "$db: first batch ${first}s after its commit, longest pause between batches ${gap}s";
	$worst_first = $first if $first > $worst_first;
	$worst_gap = $gap if $gap > $worst_gap;
}
my $turns = () = slurp_file($node->logfile) =~ /gave its slot to a database waiting for one/g;
note sprintf('worst wait for a first batch %.2f s, worst pause between batches %.2f s, %d turns given up; '
	  . 'bound %.0f s (ceil(D/W - 1) x (T + R) with D=%d W=%d T=%.1f s R=%d s)',
	$worst_first, $worst_gap, $turns, $bound, $D, $W, $T_ms / 1000, $R_s);
cmp_ok($turns, '>', 0, 'busy workers gave their slots up when their turn was over');
cmp_ok($worst_first, '<=', 1.5 * $bound, "every database got its first batch within 1.5x the bound ($worst_first s)");
cmp_ok($worst_gap, '<=', 1.5 * $bound, "no database waited longer between two batches ($worst_gap s)");
my $workers = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'bgupdate worker'");
cmp_ok($workers, '<=', $W, "never more workers than bgupdate.max_workers ($workers)");

$node->stop;
done_testing();
