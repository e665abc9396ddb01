# Health checks put an update on hold (state on_hold, reason and time in
# status, no attempt spent) and it resumes when the signal clears. Each
# signal is faked for real: a user health hook returning a reason, a standby
# that stops replaying, a VACUUM running on the table, an archive_command
# that fails, an old open transaction, commits waiting for a synchronous
# standby, and a session blocked by a batch.
# Every row is incremented exactly once in the end (nothing lost or repeated).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $rows = 300_000;
my $node = bg_node('primary', allows_streaming => 1, conf => {
	'bgupdate.update_duration_ms'       => 10,
	'bgupdate.sleep_enabled'            => 'on',
	'bgupdate.sleep_duration_ms'        => 100,
	'bgupdate.max_batch_size'           => 200,
	'bgupdate.health_hold_ms'           => 300,
	'bgupdate.health_check_interval_ms' => 0,
	'autovacuum'                        => 'off',
	'archive_mode'                      => 'on',
	'archive_command'                   => "'true'",
	'log_min_messages'                  => 'log',
});
bg_start($node);
$node->safe_psql('postgres', qq{
CREATE EXTENSION bgupdate;
SELECT bgupdate.set_enabled(false);
CREATE TABLE t (id bigint PRIMARY KEY, counter int NOT NULL DEFAULT 0, note int);
INSERT INTO t (id) SELECT generate_series(1, $rows);
ANALYZE t;
-- the application's health signal and a switch that makes batches slow
CREATE TABLE app_flag (reason text, slow boolean NOT NULL DEFAULT false);
INSERT INTO app_flag VALUES (NULL, false);
-- It also sets a session setting that would make every later transaction of
-- the worker read-only, were it to outlive the hook.
CREATE FUNCTION app_health(update_name text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false);
	RETURN (SELECT reason FROM public.app_flag);
END \$\$;
CREATE FUNCTION maybe_slow(v int) RETURNS int LANGUAGE plpgsql AS
  \$\$ BEGIN IF (SELECT slow FROM app_flag) THEN PERFORM pg_sleep(0.005); END IF; RETURN v; END \$\$;
SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'counter = maybe_slow(counter + 1)');
SELECT bgupdate.enqueue('bump', 1);
});
$node->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b1', has_streaming => 1);
bg_start($standby);
$node->safe_psql('postgres', 'SELECT bgupdate.set_enabled(true)');

sub setting
{
	my ($sql) = @_;
	$node->safe_psql('postgres', "$sql; SELECT pg_reload_conf();");
}

sub state_of
{
	return $node->safe_psql('postgres',
		"SELECT state || '|' || coalesce(hold_reason, '') || '|' || (hold_until IS NOT NULL)::text"
		  . " || '|' || attempts FROM bgupdate.status WHERE update_name = 'bump'");
}

sub items
{
	return $node->safe_psql('postgres', "SELECT items_done FROM bgupdate.status WHERE update_name = 'bump'");
}

# Wait until status matches; returns the last status line.
sub wait_state
{
	my ($re, $timeout, $tick) = @_;
	my $deadline = time() + ($timeout // 60);
	my $s = '';
	while (time() < $deadline)
	{
		$s = state_of();
		return $s if $s =~ $re;
		$tick->() if $tick;
		usleep(100_000);
	}
	return "timed out; last: $s";
}

# On hold with a reason matching $reason: no progress while held, no
# attempt spent; then $clear and the update runs again.
sub hold_and_resume
{
	my ($what, $reason, $clear, $tick) = @_;
	my $s = wait_state(qr/^on_hold\|.*$reason/, 60, $tick);
	like($s, qr/^on_hold\|.*$reason.*\|true\|0$/, "$what: on hold with the reason and time in status, no attempt spent");
	my $before = items();
	sleep 1;
	is(items(), $before, "$what: nothing runs while on hold");
	$clear->();
	my $after = '';
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		$after = state_of();
		last if $after =~ /^running\|\|/ && items() > $before;
		usleep(100_000);
	}
	like($after, qr/^running\|\|false\|0$/, "$what: resumes when the signal clears");
}

wait_state(qr/^running/, 60);

# 1. A user health function returning a reason.
setting("ALTER SYSTEM SET bgupdate.health_hook = 'public.app_health'");
$node->safe_psql('postgres', "UPDATE app_flag SET reason = 'nightly report running'");
hold_and_resume('health hook', 'nightly report running',
	sub { $node->safe_psql('postgres', 'UPDATE app_flag SET reason = NULL') });
setting('ALTER SYSTEM RESET bgupdate.health_hook');

# 2. A standby that stops replaying.
setting('ALTER SYSTEM SET bgupdate.health_max_replica_lag_mb = 1');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
hold_and_resume('standby replay paused', 'standby replay behind [0-9.]+ MB \(standby standby\)',
	sub { $standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()') });
setting('ALTER SYSTEM RESET bgupdate.health_max_replica_lag_mb');

# 3. A VACUUM running on the table (throttled so that it lasts).
my $vac = $node->background_psql('postgres', on_error_stop => 0);
$vac->query_until(qr/start/, "\\echo start\nSET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1; VACUUM t;\n");
hold_and_resume('VACUUM on the table', 'vacuum running on the table \(VACUUM pid',
	sub {
		$node->safe_psql('postgres',
			'SELECT pg_cancel_backend(pid) FROM pg_stat_progress_vacuum');
	});
$vac->quit;

# 4. An archive_command that fails: segments wait to be archived.
setting("ALTER SYSTEM SET archive_command = 'false'; ALTER SYSTEM SET bgupdate.health_max_archive_ready = 2");
for (1 .. 4)
{
	$node->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS filler (x int); INSERT INTO filler VALUES (1); SELECT pg_switch_wal()');
}
hold_and_resume('archive_command failing',
	'WAL segments waiting to be archived [0-9]+ \(archive_command failing since .* on [0-9A-F]+\) > limit 2',
	sub { setting("ALTER SYSTEM SET archive_command = 'true'") });
setting('ALTER SYSTEM RESET bgupdate.health_max_archive_ready');

# 5. An old open transaction holding back the xmin horizon.
setting('ALTER SYSTEM SET bgupdate.health_max_xmin_age_s = 2');
my $old = $node->background_psql('postgres');
$old->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old->query_safe('SELECT count(*) FROM app_flag');
hold_and_resume('old open transaction', 'held back the xmin horizon for [0-9.]+ s \(pid',
	sub { $old->query_safe('COMMIT') });
$old->quit;
setting('ALTER SYSTEM RESET bgupdate.health_max_xmin_age_s');

# 6. Sessions waiting for their commits' WAL to be flushed: a synchronous
# standby that never answers keeps three sessions' commits waiting (the
# worker's own commits do not wait for it: synchronous_commit = local).
setting("ALTER SYSTEM SET synchronous_commit = local; ALTER SYSTEM SET bgupdate.health_max_wal_flush_waiters = 2");
setting("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
my @waiters = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 3;
$_->query_until(qr/start/, "\\echo start\nSET synchronous_commit = on; INSERT INTO filler VALUES (2);\n") for @waiters;
hold_and_resume('commits waiting for a synchronous standby',
	'sessions waiting for WAL flushes [0-9.]+ > limit 2 \\[bgupdate.health_max_wal_flush_waiters\\]',
	sub { setting('ALTER SYSTEM RESET synchronous_standby_names') });
$_->quit for @waiters;
is($node->safe_psql('postgres', 'SELECT count(*) FROM filler WHERE x = 2'), '3',
	'commits waiting for a synchronous standby: they committed once it was no longer required');
setting('ALTER SYSTEM RESET synchronous_commit; ALTER SYSTEM RESET bgupdate.health_max_wal_flush_waiters');

# 7. A session blocked by a batch: batches are made slow (5 ms a row), and a
# session updates the first row the running batch has locked.
# The controller aims at 1 s batches, so that the slow rows fill whole batches.
setting('ALTER SYSTEM SET bgupdate.update_duration_ms = 1000');
$node->safe_psql('postgres', 'UPDATE app_flag SET slow = true');
my $size_before = $node->safe_psql('postgres', "SELECT batch_size FROM bgupdate.status WHERE update_name = 'bump'");
my $poke = sub {
	$node->psql('postgres',
		'SET statement_timeout = 5000; UPDATE t SET note = 1 WHERE id = (SELECT min(id) FROM t WHERE counter = 0) + 1');
};
my $s = wait_state(qr/^on_hold\|.*waited on locks held by the last batch/, 60, $poke);
like($s, qr/^on_hold\|[0-9]+ session\(s\) waited on locks held by the last batch; next batch [0-9]+ rows/,
	'blocked session: on hold with the reason in status');
my ($next) = $s =~ /next batch ([0-9]+) rows/;
ok(defined $next && $next < $size_before, "blocked session: the next batch is halved ($size_before -> " . ($next // '?') . ')');
$node->safe_psql('postgres', 'UPDATE app_flag SET slow = false');
setting('ALTER SYSTEM RESET bgupdate.update_duration_ms');
like(wait_state(qr/^running\|\|/, 60), qr/^running\|\|false\|0$/, 'blocked session: resumes');

# 8. While the worker builds an index, status shows the build's phase and
# percent (pg_stat_progress_create_index). An open writer makes CREATE INDEX
# CONCURRENTLY wait in its first phase, so there is time to look.
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe('UPDATE app_flag SET slow = false');
$node->safe_psql('postgres', q{
CREATE TABLE u (id int PRIMARY KEY, v int);
INSERT INTO u SELECT g, g FROM generate_series(1, 1000) g;
});
$writer->query_safe('INSERT INTO u VALUES (0, 0)');
$node->safe_psql('postgres', q{
SELECT bgupdate.register_index_update('u_v_idx', 'u_v_idx', 'u', ARRAY['v']);
SELECT bgupdate.enqueue('u_v_idx', 0);
});
my $phase = '';
my $deadline = time() + 60;
while (time() < $deadline)
{
	$phase = $node->safe_psql('postgres',
		"SELECT coalesce(index_phase, '') || '|' || coalesce(percent::text, '') FROM bgupdate.status WHERE update_name = 'u_v_idx'");
	last if $phase =~ /^waiting/;
	usleep(100_000);
}
like($phase, qr/^waiting for writers before build\|0$/, 'index build: phase and percent in status while it builds');
$writer->query_safe('COMMIT');
$writer->quit;

# Finish quickly and check every row was incremented once.
setting('ALTER SYSTEM SET bgupdate.sleep_enabled = off; ALTER SYSTEM RESET bgupdate.max_batch_size');
ok(wait_all_done($node, 'postgres', 180), 'the update completes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE counter <> 1'), '0',
	'every row incremented exactly once across the holds');
is($node->safe_psql('postgres', "SELECT total_failures FROM bgupdate.update_state WHERE update_name = 'bump'"),
	'0', 'no failure recorded');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_indexes WHERE indexname = 'u_v_idx'"), '1', 'the index was built');

# The metrics view: one row per metric and update.
like($node->safe_psql('postgres',
		"SELECT string_agg(name || ' ' || value, ',' ORDER BY name) FROM bgupdate.metrics WHERE labels = 'update_name=\"bump\"'"),
	qr/bgupdate_batches_total [0-9]+.*bgupdate_complete 1.*bgupdate_items_total $rows.*bgupdate_on_hold 0/,
	'metrics view rows per update');

# One log line per life event.
my $log = slurp_file($node->logfile);
like($log, qr/bgupdate worker: background update 'bump' started/, 'log: started');
like($log, qr/bgupdate worker: background update 'bump' is on hold for 300 ms: health hook public.app_health: nightly report running/, 'log: on hold with the reason');
like($log, qr/bgupdate worker: background update 'bump' resumed/, 'log: resumed');
like($log, qr/bgupdate worker: background update 'bump' completed: $rows items/, 'log: completed');

$standby->stop;
$node->stop;
done_testing();
