# Crash safety of a non-idempotent batched update (counter = counter + 1):
# the server is crashed at random points while the worker runs (immediate
# stop, SIGKILL of the postmaster and all its children, SIGKILL of the
# postmaster alone), restarted each time, and the worker alone is
# terminated; in the end every row was incremented exactly once.
#
# However fast the machine (or slow the test's polling under load), all
# twelve crashes happen while the update runs: a health hook holds the update
# at a gate the test moves forward before each crash, so the worker can never
# get more than one gate's worth of rows ahead of the test.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $rows = 500_000;
my $gate_rows = 30_000;    # twelve gates (360,000 rows) fit in the table
# Small batches (10 ms) with 10 ms pauses: many commits between crashes.
my $node = bg_node('crash', conf => {
	'bgupdate.default_batch_size' => 100,
	'bgupdate.min_batch_size'     => 1,
	'bgupdate.update_duration_ms' => 10,
	'bgupdate.sleep_enabled'      => 'on',
	'bgupdate.sleep_duration_ms'  => 10,
	'bgupdate.health_check_interval_ms' => 0,
	'bgupdate.health_hold_ms'     => 20,
});
bg_start($node);
$node->safe_psql('postgres', qq{
CREATE EXTENSION bgupdate;
CREATE TABLE t (id bigint PRIMARY KEY, counter int NOT NULL DEFAULT 0, pad text);
INSERT INTO t (id, pad) SELECT g, md5(g::text) FROM generate_series(1, $rows) g;
VACUUM ANALYZE t;
SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'counter = counter + 1');
-- The gate: the update is held (no attempt spent) once its committed key bound reaches it.
CREATE TABLE gate (upto bigint NOT NULL);
INSERT INTO gate VALUES (0);
CREATE FUNCTION crash_gate(update_name text) RETURNS text LANGUAGE sql AS \$\$
  SELECT 'held at the test''s gate' FROM public.gate g
   WHERE COALESCE((SELECT (q.progress_json::jsonb -> 'lower_bound' ->> 0)::bigint
                     FROM bgupdate.background_updates q WHERE q.update_name = crash_gate.update_name), 0) >= g.upto
\$\$;
ALTER SYSTEM SET bgupdate.health_hook = 'public.crash_gate';
SELECT pg_reload_conf();
INSERT INTO bgupdate.background_updates (ordering, update_name, progress_json) VALUES (1, 'bump', '{}');
});

# Rows done so far (the committed key bound: ids 1..n), and whether the
# worker is inside a batch right now.
sub progress
{
	return split /\|/, $node->safe_psql('postgres',
		"SELECT COALESCE((SELECT COALESCE((progress_json::jsonb -> 'lower_bound' ->> 0)::bigint, 0)"
		  . "  FROM bgupdate.background_updates WHERE update_name = 'bump'), $rows), "
		  . "(SELECT count(*) > 0 FROM pg_stat_activity "
		  . " WHERE backend_type = 'bgupdate worker' AND state = 'active')");
}

my @modes = (qw(immediate sigkill-all terminate-worker sigkill-postmaster)) x 3;
my ($crashes, $mid_batch) = (0, 0);
for my $i (0 .. $#modes)
{
	# Crash a random 2k-10k rows after the restart, preferably inside a
	# batch; the worker waits at the gate if the test is slow to look.
	my ($n, $active) = progress();
	my $target = $n + 2000 + int(rand(8000));
	my $gate = $n + $gate_rows;
	$node->safe_psql('postgres', "UPDATE gate SET upto = $gate");
	my $deadline = time() + 180;    # waits for progress, never counts it against time
	while (time() < $deadline && $n < $rows
		&& !($n >= $target && $active eq 't') && $n < $gate)
	{
		usleep(5_000);
		($n, $active) = progress();
	}
	if ($n >= $rows || time() >= $deadline)
	{
		diag "update stopped advancing or finished before crash " . ($i + 1)
		  . " ($n of $rows rows):\n" . bg_status($node, 'postgres');
		last;
	}
	$active = $active eq 't';
	$mid_batch++ if $active;
	my $mode = $modes[$i];
	note "crash " . ($i + 1) . " ($mode) at ~$n rows" . ($active ? ', inside a batch' : '');
	if ($mode eq 'terminate-worker')
	{
		# Only the worker dies (SIGTERM); the server goes on and a new
		# worker must take over.
		$node->safe_psql('postgres',
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'");
		$crashes++;
		is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter > 1'),
			'0', "after crash $crashes ($mode): no row incremented twice");
		next;
	}
	if ($mode eq 'immediate') { $node->stop('immediate'); }
	elsif ($mode eq 'sigkill-all') { kill_postmaster_and_children($node); }
	else
	{
		# Orphaned backends must notice the postmaster's death and exit
		# (the worker too); only then can the server restart.
		my @kids = kill_postmaster($node);
		eval { wait_gone(@kids); 1 }
		  or do { fail("processes exit after the postmaster is killed: $@");
			kill 'KILL', @kids; wait_gone(@kids); };
	}
	$crashes++;
	bg_start($node);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter > 1'),
		'0', "after crash $crashes ($mode): no row incremented twice");
}
ok($crashes == @modes, "$crashes crashes while the update ran");
note "$mid_batch crashes while the worker was inside a batch";
$node->safe_psql('postgres', "UPDATE gate SET upto = $rows + 1");

ok(wait_all_done($node, 'postgres', 120), 'the worker completes the update after the crashes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter <> 1'),
	'0', 'every row incremented exactly once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $rows, 'no row lost');
is($node->safe_psql('postgres',
		"SELECT state || ' ' || items_done FROM bgupdate.status WHERE update_name = 'bump'"),
	"complete $rows", 'status: complete, items counted once (totals commit with each batch)');

$node->stop;
done_testing();
