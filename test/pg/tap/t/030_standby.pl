# A hot standby runs no worker (the queue and progress replicate; only the
# launcher starts, logs why nothing runs and waits for promotion); after the primary dies mid-update and the
# standby is promoted, the new primary finishes the update from the
# replicated progress: every row incremented exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $rows = 100_000;
my $primary = bg_node('primary', allows_streaming => 1, conf => {
	'bgupdate.update_duration_ms' => 10,
	'bgupdate.sleep_enabled'      => 'on',
	'bgupdate.sleep_duration_ms'  => 20,
	'bgupdate.health_check_interval_ms' => 0,
	'bgupdate.health_hold_ms'     => 20,
});
bg_start($primary);
# However fast the worker (or slow the test), the primary stops half way: a
# health hook holds the update once its committed key bound reaches the gate
# (the new primary lifts it after the failover).
$primary->safe_psql('postgres', qq{
CREATE EXTENSION bgupdate;
SELECT bgupdate.set_enabled(false);
CREATE TABLE t (id bigint PRIMARY KEY, counter int NOT NULL DEFAULT 0);
INSERT INTO t (id) SELECT generate_series(1, $rows);
CREATE TABLE gate (upto bigint NOT NULL);
INSERT INTO gate VALUES ($rows / 2);
CREATE FUNCTION half_way_gate(update_name text) RETURNS text LANGUAGE sql AS \$\$
  SELECT 'held at the test''s gate' FROM public.gate g
   WHERE COALESCE((SELECT (q.progress_json::jsonb -> 'lower_bound' ->> 0)::bigint
                     FROM bgupdate.background_updates q WHERE q.update_name = half_way_gate.update_name), 0) >= g.upto
\$\$;
ALTER SYSTEM SET bgupdate.health_hook = 'public.half_way_gate';
SELECT pg_reload_conf();
});
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
bg_start($standby);

# Enqueue while disabled, let it replicate.
$primary->safe_psql('postgres', q{
SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'counter = counter + 1');
INSERT INTO bgupdate.background_updates (ordering, update_name, progress_json) VALUES (1, 'bump', '{}');
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT update_name FROM bgupdate.background_updates'),
	'bump', 'the queue replicated to the standby');

my $progress_q = "SELECT progress_json, (SELECT row(s.*)::text FROM bgupdate.update_state s) "
  . "FROM bgupdate.background_updates WHERE update_name = 'bump'";
my $before = $standby->safe_psql('postgres', $progress_q);
sleep 2;    # a worker would have started by now
is(join(',', grep { /worker/ } bg_procs($standby)), '', 'no bgupdate worker process on the standby');
is($standby->safe_psql('postgres',
		"SELECT string_agg(backend_type, ',') FROM pg_stat_activity WHERE backend_type ILIKE '%bgupdate%'"),
	'bgupdate launcher', 'only the launcher in the standby pg_stat_activity, no worker');
ok($standby->wait_for_log(qr/bgupdate launcher: this server is a standby; no bgupdate worker runs here, waiting for promotion/),
	'the standby log says why no worker runs');
is($standby->safe_psql('postgres', $progress_q), $before, 'progress and state unchanged on the standby');
my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT count(*) FROM bgupdate.status');
is($ret, 0, 'status view readable on the standby') or diag $err;

# Run part of the update on the primary, then stop it mid-update.
$primary->safe_psql('postgres', 'SELECT bgupdate.set_enabled(true)');
my $deadline = time() + 60;
my $n = 0;
while (time() < $deadline)
{
	$n = $primary->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter > 0');
	last if $n >= $rows * 0.2;
	usleep(20_000);
}
ok($n >= $rows * 0.2 && $n < $rows, "primary ran part of the update ($n of $rows rows)")
  or diag bg_status($primary, 'postgres');
is(join(',', grep { /worker/ } bg_procs($standby)), '', 'still no bgupdate worker on the standby');
# A failover: the primary dies (immediate stop); the standby has what was
# streamed, data and progress in the same WAL.
$primary->stop('immediate');

my $replicated = $standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter > 0');
note "standby has $replicated rows done at promotion";
ok($replicated > 0 && $replicated < $rows, 'standby holds partial progress');

$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'standby promoted');
$standby->safe_psql('postgres', "UPDATE gate SET upto = $rows + 1; SELECT bgupdate.set_enabled(true)");
ok($standby->wait_for_log(qr/bgupdate launcher: this server was promoted; starting bgupdate workers/),
	'the launcher notices the promotion');
ok(wait_all_done($standby, 'postgres', 120), 'the new primary finishes the update');
ok(scalar(grep { /worker/ } bg_procs($standby)) > 0, 'a bgupdate worker runs after promotion');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter <> 1'),
	'0', 'every row incremented exactly once across the failover');

$standby->stop;
done_testing();
