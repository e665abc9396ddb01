# Two unprivileged
# roles and a member of one of them attack each other's updates, the worker
# and a superuser's session. Each case fails if its defence is removed.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $node = bg_node('roles_attack', conf => { 'bgupdate.statement_timeout_ms' => 1000 });
bg_start($node);
my $db = 'postgres';
bg_role_sessions($node, $db);
bg_attacker_and_owner($node, $db, member => 1);

# Completed within $secs seconds (poll_query_until would wait out any blocker).
sub done_within
{
	my ($name, $secs) = @_;
	my $end = time() + $secs;
	while (time() < $end)
	{
		return 1 if su_sql("SELECT bgupdate.has_completed('$name')") eq 't';
		usleep(100_000);
	}
	return 0;
}
# A session of $role that runs $sql and then stays connected (holding what it took).
sub holder
{
	my ($role, $sql) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db), '-U', $role, '-c', $sql, '-c', 'SELECT pg_sleep(120)' ],
		\$in, \$out, \$err);
	return $h;
}

my ($ret, $out, $err);

# ---- 1. Renaming one's own queue row onto another role's registered name
# (UPDATE ... SET update_name) used to skip the name-ownership check: the
# attacker's row then drove owner2's update, which ran again and again
# (owner2 could neither end nor advance a row it does not own).
as_ok('owner2', "SELECT bgupdate.register_batched_update('o2_once', 'items', ARRAY['id'], 'v = v + 1')");
as_ok('attacker', "SELECT bgupdate.enqueue('bait1'); SELECT bgupdate.pause('bait1')");
($ret, $out, $err) = as('attacker', "UPDATE bgupdate.background_updates SET update_name = 'o2_once' WHERE update_name = 'bait1'");
like($err, qr/belongs to another role/, 'renaming a queue row onto another role\'s name is refused');
as('owner2', "SELECT bgupdate.enqueue('o2_once')");
ok(done_within('o2_once', 20), 'owner2\'s update runs');
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items'), '50', '... exactly once');
# (Without the defence the row loops for ever: take it away before going on.)
su_sql("DELETE FROM bgupdate.background_updates WHERE owner = 'attacker'::regrole AND update_name <> 'bait1'");
su_sql("UPDATE owner2.items SET v = 1");
# ... nor onto a name another role's update waits for.
as_ok('owner2', "BEGIN; SELECT bgupdate.enqueue('o2_dependent', 0, 'o2_prereq'); SELECT bgupdate.pause('o2_dependent'); COMMIT;");
($ret, $out, $err) = as('attacker', "UPDATE bgupdate.background_updates SET update_name = 'o2_prereq' WHERE update_name = 'bait1'");
like($err, qr/would hold back updates of another role/, 'renaming a queue row onto a name another role waits for is refused');

# ---- 2. State planted under a name before its owner takes it
as_ok('attacker', q{
	INSERT INTO bgupdate.update_state (update_name, paused, attempts, next_attempt_at_ms)
	VALUES ('o2_future', true, 99, 9000000000000);
	INSERT INTO bgupdate.update_history (update_name, event, at) VALUES ('o2_future', 'complete', 'forged');
});
as_ok('owner2', q{
	SELECT bgupdate.register_batched_update('o2_future', 'items', ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.enqueue('o2_future');
});
ok(done_within('o2_future', 20), 'state planted under a name before its owner took it does not pause its update');
is(as_ok('owner2', "SELECT count(*) FROM bgupdate.update_history WHERE update_name = 'o2_future' AND at = 'forged'"), '0',
	'... and forged history under that name is gone');

# ---- 3. Holding the claim of another role's update with an advisory lock
as_ok('owner2', "SELECT bgupdate.register_batched_update('o2_claimed', 'items', ARRAY['id'], 'v = v + 1')");
my $h = holder('attacker', "SELECT pg_advisory_lock(x'62677570'::int, hashtext('o2_claimed'))");
$node->poll_query_until($db, "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('o2_claimed')::oid")
  or diag 'the lock holder did not take its lock';
as_ok('owner2', "SELECT bgupdate.enqueue('o2_claimed')");
ok(done_within('o2_claimed', 20), 'an advisory lock on the claim\'s key does not hold another role\'s update back');
$h->kill_kill;

# ---- 4. Session state a batch leaves in the worker: a session advisory lock
as_ok('attacker', q{
	CREATE FUNCTION attacker.leaver(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_advisory_lock(4242);
		PERFORM bgupdate.end_update('leaver');
		RETURN 0;
	END $$;
	SELECT bgupdate.register_update_handler('leaver', 'attacker.leaver(jsonb,int)'::regprocedure);
	SELECT bgupdate.enqueue('leaver');
});
ok(done('leaver'), 'a batch that takes a session advisory lock completes');
is(su_sql("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.backend_type = 'bgupdate worker'"),
	'0', 'the worker keeps no session advisory lock a batch took');
is(su_sql("SELECT pg_try_advisory_lock(4242)"), 't', '... so other sessions can take it');

# Nor in a superuser's session that finishes it: another role's batch never
# runs there (finish() waits for the worker).
as_ok('attacker', "SELECT bgupdate.enqueue('leaver')");
is(last_line(su_sql(q{
	SELECT pg_advisory_lock(777);
	SET client_min_messages = warning;
	SELECT bgupdate.finish('leaver');
	SELECT string_agg(objid::text, ',' ORDER BY objid) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
})), '777', 'finish() leaves no advisory lock of the batch in a superuser\'s session, and keeps the session\'s own');

# ---- 5. LISTEN and PREPARE in a batch: refused (security-restricted operation)
for my $cmd ('LISTEN chan', 'PREPARE leftover AS SELECT 1')
{
	my ($verb) = split / /, $cmd;
	my $name = lc "in_batch_$verb";
	as_ok('attacker', qq{
		CREATE FUNCTION attacker.$name(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS \$\$
		BEGIN
			EXECUTE '$cmd';
			PERFORM bgupdate.end_update('$name');
			RETURN 0;
		END \$\$;
		SELECT bgupdate.register_update_handler('$name', 'attacker.$name(jsonb,int)'::regprocedure);
		SELECT bgupdate.enqueue('$name');
	});
	ok($node->poll_query_until($db,
		"SELECT last_error LIKE '%$verb within security-restricted%' FROM bgupdate.status WHERE update_name = '$name'"),
		"a batch cannot $verb in the worker");
	as_ok('attacker', "SELECT bgupdate.pause('$name')");
}

# ---- 6. A handler calling the API on another role's update, from inside a batch
as_ok('owner2', q{
	BEGIN;
	SELECT bgupdate.register_batched_update('o2_target', 'items', ARRAY['id'], 'v = v + 100');
	SELECT bgupdate.enqueue('o2_target');
	SELECT bgupdate.pause('o2_target');
	COMMIT;
});
as_ok('attacker', q{
	CREATE FUNCTION attacker.reach(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN PERFORM bgupdate.resume('o2_target'); EXCEPTION WHEN others THEN NULL; END;
		BEGIN PERFORM bgupdate.update_progress('o2_target', '{"lower_bound": [1000]}'); EXCEPTION WHEN others THEN NULL; END;
		BEGIN PERFORM bgupdate.finish('o2_target'); EXCEPTION WHEN others THEN NULL; END;
		BEGIN PERFORM bgupdate.end_update('o2_target'); EXCEPTION WHEN others THEN NULL; END;
		PERFORM bgupdate.end_update('reach');
		RETURN 0;
	END $$;
	SELECT bgupdate.register_update_handler('reach', 'attacker.reach(jsonb,int)'::regprocedure);
	SELECT bgupdate.enqueue('reach');
});
my $before = as_ok('owner2', 'SELECT sum(v) FROM owner2.items');
ok(done('reach'), 'the reaching batch runs in the worker');
is(as_ok('owner2', "SELECT state || ' ' || (SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'o2_target') FROM bgupdate.status WHERE update_name = 'o2_target'"),
	'paused {}', 'it could neither resume, advance, finish nor end another role\'s update (it ran as its owner)');
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items'), $before, 'owner2\'s rows untouched by it');

# ---- 7. A member of the attacker role acts for it, and for nobody else
($ret, $out, $err) = as('member', "SELECT bgupdate.resume('o2_target')");
like($err, qr/permission denied/, 'a member of attacker cannot manage owner2\'s update');
($ret, $out, $err) = as('member', "SELECT bgupdate.pause('in_batch_listen')");
is($ret, 0, '... but can manage attacker\'s');
is(as_ok('member', "SELECT count(*) FROM bgupdate.update_registry WHERE update_name LIKE 'o2_%'"), '0',
	'... and reads no registration of owner2');
($ret, $out, $err) = as('member', "INSERT INTO bgupdate.background_updates (update_name, progress_json, owner) VALUES ('as_o2', '{}', 'owner2'::regrole)");
like($err, qr/for another role/, '... nor queue a row in owner2\'s name');

# ---- 8. pg_temp spelled in capitals in the owner's search_path: the
# session's temp table "k" must not stand in for owner2.k in a fragment.
as_ok('owner2', 'CREATE TABLE owner2.k (n int); INSERT INTO owner2.k VALUES (1000)');
su_sql("SELECT bgupdate.set_enabled(false)");
is(last_line(as_ok('owner2', q{
	SELECT set_config('search_path', 'PG_TEMP, owner2', false);
	CREATE TEMP TABLE k (n int);
	INSERT INTO pg_temp.k VALUES (0);
	SELECT bgupdate.register_batched_update('o2_tempcase', 'owner2.items', ARRAY['id'], 'v = v + (SELECT n FROM k)');
	SELECT bgupdate.enqueue('o2_tempcase');
	SELECT bgupdate.finish('o2_tempcase');
	SELECT n FROM pg_temp.k;
})), '0', 'finish() with PG_TEMP first in the owner\'s path runs');
is(as_ok('owner2', 'SELECT min(v) >= 1000 FROM owner2.items'), 't',
	'... and a temp table never stands in for the owner\'s table in a fragment, even with PG_TEMP first in its path');
su_sql("SELECT bgupdate.set_enabled(true)");

# ---- 9. A controller hook a superuser set, in a function another role owns
# (and may redefine), runs as that role, not as the worker's superuser.
as_ok('attacker', q{
	CREATE FUNCTION attacker.my_hook(n text) RETURNS float8 LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE attacker SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;
		RETURN NULL;
	END $$;
});
su_sql("ALTER SYSTEM SET bgupdate.duration_hook = 'attacker.my_hook(text)'");
su_sql("SELECT pg_reload_conf()");
sleep 1;
as_ok('attacker', q{
	SELECT bgupdate.register_batched_update('hooked', 't', ARRAY['id'], 'v = v');
	SELECT bgupdate.enqueue('hooked');
});
ok(done('hooked'), 'an update runs with the hook set');
is(su_sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'"), 'f',
	'the hook\'s owner did not become a superuser through it');
su_sql("ALTER SYSTEM RESET bgupdate.duration_hook");
su_sql("SELECT pg_reload_conf()");

# ---- 10. An index update waits, in the worker, for every older transaction
# (CREATE INDEX CONCURRENTLY): a role that keeps a transaction open holds
# that worker, but not the database: work committed meanwhile gets a helper.
{
	my $snap = holder('attacker', 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM attacker.t;');
	sleep 1;
	as_ok('attacker', q{
		SELECT bgupdate.register_index_update('a_idx', 'a_t_v', 't', ARRAY['v']);
		SELECT bgupdate.enqueue('a_idx');
	});
	$node->poll_query_until($db,
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND query LIKE 'CREATE INDEX CONCURRENTLY%'");
	as_ok('owner2', q{
		SELECT bgupdate.register_batched_update('o2_behind_cic', 'items', ARRAY['id'], 'v = v');
		SELECT bgupdate.enqueue('o2_behind_cic');
	});
	ok(done_within('o2_behind_cic', 20), 'an open transaction does not stop the database\'s updates through an index update');
	$snap->kill_kill;
	ok(done('a_idx'), '... and the index is built once it ends');
}

# ---- the worker still serves, nobody escalated
as_ok('owner2', "SELECT bgupdate.resume('o2_target')");
ok(done('o2_target'), 'after all of it the worker still serves owner2');
is(su_sql("SELECT count(*) FROM pg_roles WHERE rolsuper AND rolname IN ('attacker', 'owner2', 'member')"), '0',
	'nobody became a superuser');

my $log = slurp_file($node->logfile);
unlike($log, qr/you don't own a lock/, 'the worker never lost a claim it held (cleanup after batches spares claims)');

done_testing();
