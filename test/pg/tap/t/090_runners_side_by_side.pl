# Every row exactly once, whoever runs the batches: the worker and sessions
# calling step(), two sessions, two deploy scripts calling finish() while the
# worker runs, and what a session may (not) run: another role's update is
# left to the worker, whose batches never see the caller's cursors. Each
# update adds 1 to a counter, so a batch run twice shows as a 2.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $node = bg_node('side_by_side', conf => {
	'bgupdate.max_batch_size' => 200,
	'bgupdate.default_batch_size' => 200,
	'bgupdate.max_parallel' => 1,
	# A runner that reaches rows another runner has locked waits for it rather
	# than timing out (the timing would otherwise decide whether a repeat shows).
	'bgupdate.lock_timeout_ms' => 30000,
});
bg_start($node);
my $db = 'postgres';

sub su { return $node->safe_psql($db, $_[0]); }
sub as_app { return $node->safe_psql($db, $_[0], extra_params => [ '-U', 'app' ]); }

su(q{
	CREATE EXTENSION bgupdate;
	CREATE ROLE app LOGIN;
	CREATE SCHEMA app AUTHORIZATION app;
	ALTER ROLE app SET search_path = app;
});

# A table of $rows rows, counter 0, and a batched update adding 1.
sub fresh_update
{
	my ($name, $rows) = @_;
	as_app(qq{
		DROP TABLE IF EXISTS app.$name;
		CREATE TABLE app.$name (id int PRIMARY KEY, b int NOT NULL DEFAULT 0);
		INSERT INTO app.$name (id) SELECT g FROM generate_series(1, $rows) g;
		SELECT bgupdate.register_batched_update('$name', '$name', ARRAY['id'], 'b = b + 1');
	});
}

# Every row changed once, status counts what was done, and the history's
# batch ranges follow each other without overlap.
sub exactly_once
{
	my ($name, $rows, $what) = @_;
	is(as_app("SELECT count(*) FILTER (WHERE b = 1) || ' ' || count(*) FILTER (WHERE b <> 1) FROM app.$name"),
		"$rows 0", "$what: every row changed exactly once");
	is(su("SELECT items_done FROM bgupdate.status WHERE update_name = '$name'"), $rows,
		"$what: items_done counts each row once");
	is(su(qq{
		SELECT count(*) FROM (
			SELECT detail::jsonb->'from' AS f, lag(detail::jsonb->'to') OVER (ORDER BY id) AS prev_to
			FROM bgupdate.update_history WHERE update_name = '$name' AND event = 'batch') h
		WHERE prev_to IS NOT NULL AND f IS DISTINCT FROM prev_to}), '0',
		"$what: each batch starts where the one before ended");
}

# psql as $role running $sql $n times (autocommit), in the background. Its
# script and output are files, so it runs on its own (IPC::Run feeds a pipe
# only while the harness is pumped).
my $sessions = 0;
sub session_loop
{
	my ($role, $sql, $n) = @_;
	my $base = $PostgreSQL::Test::Utils::tmp_check . "/session_" . ++$sessions;
	open my $fh, '>', "$base.sql" or die "cannot write $base.sql: $!";
	print $fh map { "$sql;\n" } 1 .. $n;
	close $fh;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr($db), '-U', $role, '-f', "$base.sql" ],
		'<', \undef, '>', "$base.out", '2>', "$base.err");
	return { h => $h, err_file => "$base.err" };
}
sub session_errors { my ($s) = @_; return -e $s->{err_file} ? slurp_file($s->{err_file}) : ''; }

# An application may run several steps in one transaction: the claim must
# last until that transaction commits, not end with each step.
my $ten_steps = 'SELECT count(*) FROM (SELECT bgupdate.step() FROM generate_series(1, 10)) s';

# Settings the worker sees once it has reloaded its configuration.
sub worker_conf
{
	my ($sql) = @_;
	su("$sql; SELECT pg_reload_conf()");
	sleep 1;
}

# ---- the worker and an application calling step() on the same update
# (the worker pauses briefly between batches, so the session gets its turns)
worker_conf("ALTER SYSTEM SET bgupdate.sleep_enabled = on; ALTER SYSTEM SET bgupdate.sleep_duration_ms = 20");
fresh_update('w_and_step', 40000);
my $stepper = session_loop('app', $ten_steps, 10000);
as_app("SELECT bgupdate.enqueue('w_and_step')");
ok(wait_all_done($node, $db, 240), 'worker + step(): the update completes');
$stepper->{h}->kill_kill;
worker_conf("ALTER SYSTEM RESET bgupdate.sleep_enabled; ALTER SYSTEM RESET bgupdate.sleep_duration_ms");
exactly_once('w_and_step', 40000, 'worker + step()');
my $session_batches = su("SELECT count(*) FROM bgupdate.update_history WHERE update_name = 'w_and_step' AND event = 'batch'");
cmp_ok($session_batches, '>=', 200, 'worker + step(): all batches recorded');

# ---- two sessions calling step(), no worker
worker_conf("ALTER SYSTEM SET bgupdate.worker_enabled = off");
fresh_update('two_sessions', 20000);
as_app("SELECT bgupdate.enqueue('two_sessions')");
my @steppers = map { session_loop('app', $ten_steps, 40) } 1 .. 2;
$_->{h}->finish for @steppers;
is(su("SELECT bgupdate.has_completed('two_sessions')"), 't', 'two sessions: the update completes');
exactly_once('two_sessions', 20000, 'two sessions calling step()');
worker_conf("ALTER SYSTEM RESET bgupdate.worker_enabled");

# ---- two deploy scripts calling finish() while the worker runs
fresh_update('two_deploys', 60000);
as_app("SELECT bgupdate.enqueue('two_deploys')");
usleep(300_000);    # the worker is on it
my @deploys = map { session_loop('app', "SET client_min_messages = warning; SELECT bgupdate.finish('two_deploys')", 1) } 1 .. 2;
for my $i (0 .. 1)
{
	$deploys[$i]->{h}->finish;
	is($deploys[$i]->{h}->result(0), 0, "deploy script " . ($i + 1) . ": finish() returned without an error");
	is(session_errors($deploys[$i]), '', "deploy script " . ($i + 1) . ": nothing on stderr");
}
is(su("SELECT bgupdate.has_completed('two_deploys')"), 't', 'two finish(): complete when they return');
exactly_once('two_deploys', 60000, 'two finish() beside the worker');

# ---- another role's update: a session never runs it, finish() waits for the worker
fresh_update('apps_own', 50000);
worker_conf("ALTER SYSTEM SET bgupdate.worker_enabled = off");
as_app("SELECT bgupdate.enqueue('apps_own')");
my $step = su("SELECT bgupdate.step()");
like($step, qr/"why": "owned_by_another_role"/, "a superuser's step() leaves app's update to the worker");
is(as_app("SELECT count(*) FROM app.apps_own WHERE b <> 0"), '0', '... and ran none of it');
my ($ret, $out, $err) = $node->psql($db, "SELECT bgupdate.finish('apps_own')");
like($err, qr/belongs to role app: only the background worker runs it.*worker_enabled = off/,
	'finish() of another role\'s update says the worker runs it and is switched off');
su("ALTER SYSTEM RESET bgupdate.worker_enabled; SELECT pg_reload_conf()");  # finish() is there first
($ret, $out, $err) = $node->psql($db, "SELECT bgupdate.finish('apps_own', 120000)");
is($ret, 0, "a superuser's finish() of app's update waits for the worker");
like($err, qr/NOTICE:.*waiting for background update 'apps_own'/, '... telling how it goes');
exactly_once('apps_own', 50000, 'finish() waiting for the worker');

# ---- another role's batch cannot read the caller's cursor
# evil's update is backing off after a failed first attempt when a superuser,
# with a cursor open, calls finish() on it: finish() used to run it at once in
# the superuser's session, where its handler read the cursor.
su(q{
	CREATE TABLE public.secret (s text);
	INSERT INTO public.secret VALUES ('s1'), ('s2'), ('s3');
	CREATE ROLE evil LOGIN;
	CREATE SCHEMA evil AUTHORIZATION evil;
});
worker_conf("ALTER SYSTEM SET bgupdate.retry_backoff_ms = 4000");
$node->safe_psql($db, q{
	CREATE TABLE evil.loot (s text);
	CREATE SEQUENCE evil.attempt;
	CREATE FUNCTION evil.evil_fetch(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE cur refcursor := 'c'; r record;
	BEGIN
		IF nextval('evil.attempt') = 1 THEN RAISE EXCEPTION 'first attempt fails'; END IF;
		BEGIN
			LOOP
				FETCH cur INTO r;
				EXIT WHEN NOT FOUND;
				INSERT INTO evil.loot VALUES (r.s);
			END LOOP;
		EXCEPTION WHEN invalid_cursor_name THEN NULL;
		END;
		PERFORM bgupdate.end_update('evil_fetch');
		RETURN 1;
	END $$;
	SELECT bgupdate.register_update_handler('evil_fetch', 'evil.evil_fetch(jsonb, int)');
	SELECT bgupdate.enqueue('evil_fetch');
}, extra_params => [ '-U', 'evil' ]);
my $deadline = time() + 60;
usleep(100_000) until su("SELECT state FROM bgupdate.status WHERE update_name = 'evil_fetch'") eq 'backing_off' || time() > $deadline;
is(su("SELECT state FROM bgupdate.status WHERE update_name = 'evil_fetch'"), 'backing_off', 'evil\'s update backs off');
($ret, $out, $err) = $node->psql($db, q{
	BEGIN;
	DECLARE c CURSOR FOR SELECT s FROM public.secret ORDER BY s;
	SELECT bgupdate.finish('evil_fetch');
	FETCH ALL FROM c;
	COMMIT;
});
is($ret, 0, 'a superuser\'s finish() of another role\'s update waits for the worker');
is($out, "\ns1\ns2\ns3", '... and its open cursor still has every row');
is(su("SELECT count(*) FROM evil.loot"), '0', '... none of which the other role\'s batch read');
worker_conf("ALTER SYSTEM RESET bgupdate.retry_backoff_ms");

# ---- a queued update's definition cannot change; its table is pinned
worker_conf("ALTER SYSTEM SET bgupdate.worker_enabled = off");
my $step1000 = "SET bgupdate.max_batch_size = 1000; SET bgupdate.default_batch_size = 1000; SELECT bgupdate.step()";
fresh_update('pinned', 3000);
as_app("SELECT bgupdate.enqueue('pinned')");
as_app($step1000);
($ret, $out, $err) = $node->psql($db,
	"SELECT bgupdate.register_batched_update('pinned', 'pinned', ARRAY['id'], 'b = b + 100')",
	extra_params => [ '-U', 'app' ]);
like($err, qr/queued with a different definition.*HINT:.*reset\('pinned'\)/s,
	're-registering a half-done update with another SET list is refused, saying what to do');
($ret, $out, $err) = $node->psql($db,
	"SELECT bgupdate.register_batched_update('pinned', 'pinned', ARRAY['id'], 'b = b + 1')",
	extra_params => [ '-U', 'app' ]);
is($ret, 0, '... the same definition again is fine');
as_app("ALTER TABLE app.pinned RENAME TO pinned_renamed");
as_app($step1000);
is(as_app("SELECT count(*) FROM app.pinned_renamed WHERE b = 1"), '2000', 'a plain rename is followed');
as_app("ALTER TABLE app.pinned_renamed RENAME TO pinned_old; CREATE TABLE app.pinned (LIKE app.pinned_old INCLUDING ALL); INSERT INTO app.pinned SELECT id, 0 FROM app.pinned_old");
$out = as_app("SELECT bgupdate.step()->>'error'");
like($out, qr/no longer the table this update was registered on.*pinned_old/,
	'another table under the registered name is an error naming where the original went');
is(as_app("SELECT count(*) FROM app.pinned WHERE b <> 0"), '0', '... and the new table is left alone');
as_app("DROP TABLE app.pinned_old");
as_app("SELECT bgupdate.retry('pinned')");
$out = as_app("SELECT bgupdate.step()->>'error'");
like($out, qr/was registered on .* no longer exists: it was dropped/, 'a dropped table is an error that says so');
as_app("SELECT bgupdate.reset('pinned')");
as_app("SELECT bgupdate.register_batched_update('pinned', 'pinned', ARRAY['id'], 'b = b + 100')");
as_app("SELECT bgupdate.finish('pinned')");
is(as_app("SELECT count(*) FROM app.pinned WHERE b = 100"), '3000', 'after reset() the new definition runs on the new table');
worker_conf("ALTER SYSTEM RESET bgupdate.worker_enabled");

# ---- the owner cancels its running batch; the default bound and limits
# (a long back-off, set while the worker is idle: a worker inside a batch
# reloads its settings only after it, too late for the failure it records)
worker_conf("ALTER SYSTEM SET bgupdate.retry_backoff_ms = 600000");
as_app(q{
	CREATE FUNCTION app.sleepy(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN PERFORM pg_sleep(3600); RETURN 1; END $$;
	SELECT bgupdate.register_update_handler('sleepy', 'app.sleepy(jsonb, int)');
	SELECT bgupdate.enqueue('sleepy');
});
$deadline = time() + 60;
usleep(100_000) until su("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND wait_event = 'PgSleep'") eq '1' || time() > $deadline;
like(su("SELECT query FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND wait_event = 'PgSleep'"),
	qr/running background update 'sleepy'/, "the worker's pg_stat_activity names the update it runs");
is(as_app("SELECT bgupdate.cancel('sleepy')"), 't', 'the owner cancels its running batch in the worker');
$deadline = time() + 60;
usleep(100_000) until su("SELECT attempts FROM bgupdate.status WHERE update_name = 'sleepy'") eq '1' || time() > $deadline;
like(su("SELECT attempts || ' ' || last_error FROM bgupdate.status WHERE update_name = 'sleepy'"),
	qr/^1 .*cancelled by cancel\('sleepy'\)/, '... recorded as a failed attempt, saying so');
is(as_app("SELECT bgupdate.cancel('sleepy')"), 'f', 'cancel() with no batch running says so');
as_app("SELECT bgupdate.pause('sleepy')");
worker_conf("ALTER SYSTEM RESET bgupdate.retry_backoff_ms");
($ret, $out, $err) = $node->psql($db, "SELECT bgupdate.cancel('sleepy')", extra_params => [ '-U', 'evil' ]);
like($err, qr/permission denied/, 'another role cannot cancel it');
is(su("SHOW bgupdate.statement_timeout_ms"), '60000', 'every batch statement is bounded by default (60 s)');
($ret, $out, $err) = $node->psql($db, "SET bgupdate.min_batch_size = 1000; SET bgupdate.max_batch_size = 10; SELECT bgupdate.step()");
like($err, qr/min_batch_size \(1000\) is larger than max_batch_size \(10\)/, 'contradictory settings are refused together');
($ret, $out, $err) = $node->psql($db, "CALL bgupdate.run(NULL)");
like($err, qr/max_ms must not be NULL/, 'run(NULL) is refused, as on SQLite');

# ---- nothing left behind
is(su("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'bgupdate worker')"),
	'0', 'no session holds a claim after its transaction');

$node->stop;
done_testing();
