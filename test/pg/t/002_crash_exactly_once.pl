# Immediate stops (the postmaster and every backend killed without cleanup)
# at random points of a non-idempotent update (counter = counter + 1): after
# restart and completion every row was incremented exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $rows = $ENV{BGUPDATE_TAP_CRASH_ROWS} // 300000;
my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'bgupdate'
bgupdate.naptime_ms = 200
# Small, paced batches so that the update takes a few seconds.
bgupdate.update_duration_ms = 20
bgupdate.default_batch_size = 500
bgupdate.sleep_duration_ms = 50
restart_after_crash = on
));
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bgupdate;
	CREATE TABLE counters (id int PRIMARY KEY, counter int NOT NULL DEFAULT 0);
	INSERT INTO counters SELECT g, 0 FROM generate_series(1, $rows) g;
	SELECT bgupdate.register_batched_update('increment', 'counters', ARRAY['id'], 'counter = counter + 1');
	SELECT bgupdate.enqueue('increment');
});

srand($ENV{BGUPDATE_TAP_SEED} // time());
my $crashes_mid_update = 0;
for my $i (1 .. 4) {
	sleep(0.3 + rand(1.2));
	last if $node->safe_psql('postgres', "SELECT bgupdate.has_completed('increment')") eq 't';
	my $progress = $node->safe_psql('postgres', "SELECT progress_json FROM bgupdate.background_updates");
	$node->stop('immediate');
	$crashes_mid_update++;
	note("crash $i at progress $progress");
	$node->start;
}
cmp_ok($crashes_mid_update, '>=', 1, "the server was killed mid-update ($crashes_mid_update times)");
ok($node->poll_query_until('postgres', "SELECT bgupdate.has_completed('increment')"),
	'the worker completed the update after the restarts');
is($node->safe_psql('postgres', 'SELECT count(*) FROM counters'), $rows, 'no row lost');
is($node->safe_psql('postgres', 'SELECT count(*) FROM counters WHERE counter <> 1'), '0',
	'every row incremented exactly once');
is($node->safe_psql('postgres', "SELECT items_done FROM bgupdate.status WHERE update_name = 'increment'"),
	$rows, 'status counted every row once');
$node->stop;
done_testing();
