# A worker lives and dies with its server: after kill -9 of the postmaster
# its worker stops after the batch it is in, whatever the pacing (it used to
# check only when it waited, and with sleep off or health pacing it never
# waited while work remained: it committed hundreds of batches with no
# postmaster and kept the old shared memory, so the server could not start).
# Counted in batches committed after the kill, not in seconds.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;
use POSIX qw(strftime);

# The history's timestamp format (UTC, milliseconds): they compare as text.
sub iso_now
{
	my $t = time();
	return strftime('%Y-%m-%dT%H:%M:%S', gmtime($t)) . sprintf('.%03dZ', ($t - int($t)) * 1000);
}

my $node = bg_node('dies_with_server', conf => {
	'bgupdate.default_batch_size' => 500,
	'bgupdate.max_batch_size' => 500,
	'bgupdate.max_parallel' => 1,
	'restart_after_crash' => 'off',
});
bg_start($node);
my $db = 'postgres';
$node->safe_psql($db, q{
	CREATE EXTENSION bgupdate;
	CREATE TABLE t (id int PRIMARY KEY, b int NOT NULL DEFAULT 0);
	INSERT INTO t (id) SELECT g FROM generate_series(1, 2000000) g;
	SELECT bgupdate.register_batched_update('fill', 't', ARRAY['id'], 'b = b + 1');
});

my @modes = (
	[ 'sleep off',      { 'bgupdate.sleep_enabled' => 'off', 'bgupdate.health_pacing' => 'off' } ],
	[ 'health pacing',  { 'bgupdate.sleep_enabled' => 'on',  'bgupdate.health_pacing' => 'on' } ],
	[ 'Synapse pacing', { 'bgupdate.sleep_enabled' => 'on',  'bgupdate.health_pacing' => 'off',
	                      'bgupdate.sleep_duration_ms' => 50 } ],
);
my $first = 1;
for my $mode (@modes)
{
	my ($name, $conf) = @$mode;
	$node->append_conf('postgresql.conf', join('', map { "$_ = $conf->{$_}\n" } sort keys %$conf));
	$node->reload;
	$node->safe_psql($db, "SELECT bgupdate.enqueue('fill')") if $first;
	$first = 0;
	# Wait until the worker is well into the update.
	my $batches = "SELECT coalesce(max(batches), 0) FROM bgupdate.update_history WHERE update_name = 'fill'";
	my $start = $node->safe_psql($db, $batches);
	my $deadline = time() + 120;
	usleep(100_000) while $node->safe_psql($db, $batches) < $start + 5 && time() < $deadline;
	my %kids = %{ BgTap::children_of($node->{_pid}) };
	my @bg = grep { $kids{$_} =~ /bgupdate/ } keys %kids;
	ok(@bg >= 2, "$name: launcher and worker run");

	kill_postmaster($node);
	my $killed_at = iso_now();    # the postmaster is gone by now
	# The backends notice and leave; the worker must too, after its batch.
	my $gone = eval { BgTap::wait_gone(@bg); 1 };
	ok($gone, "$name: the worker exits once the postmaster is gone");
	eval { BgTap::wait_gone(keys %kids); 1 };    # every other child too, before a restart
	my $restarted_at = iso_now();
	ok($node->start(fail_ok => 1), "$name: the server starts again right away");
	# A batch in flight when the postmaster died may still commit; hundreds did before.
	my $committed = $node->safe_psql($db,
		"SELECT count(*) FROM bgupdate.update_history WHERE event = 'batch' AND at > '$killed_at' AND at < '$restarted_at'");
	cmp_ok($committed, '<=', 2, "$name: at most the batch in flight committed with no postmaster");
}

# Every row still exactly once, and the update finishes.
$node->append_conf('postgresql.conf', "bgupdate.sleep_enabled = off\nbgupdate.health_pacing = off\nbgupdate.max_batch_size = 0\n");
$node->reload;
ok(wait_all_done($node, $db, 600), 'the update completes after three crashes');
is($node->safe_psql($db, "SELECT count(*) FILTER (WHERE b <> 1) FROM t"), '0', 'every row exactly once');

$node->stop;
done_testing();
