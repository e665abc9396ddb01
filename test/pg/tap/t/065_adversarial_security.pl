# Adversarial suite: unprivileged roles attack the worker and a
# superuser's session through their own background updates. Each attack must
# end with no escalation, nothing changed outside the attacker's rights, and
# the worker still serving everybody else.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use BgTap;

my $node = bg_node('adversarial', conf => { 'bgupdate.statement_timeout_ms' => 1000 });
bg_start($node);
my $db = 'postgres';

bg_role_sessions($node, $db);
bg_attacker_and_owner($node, $db);
sub superuser_flag { return su_sql("SELECT rolsuper FROM pg_roles WHERE rolname = '$_[0]'"); }

as_ok('attacker', q{
	-- An "=" that makes its caller a superuser when a superuser runs it.
	CREATE FUNCTION attacker.evil_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE attacker SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;
		RETURN $1 OPERATOR(pg_catalog.=) $2;
	END $$;
	CREATE OPERATOR attacker.= (LEFTARG = text, RIGHTARG = text, FUNCTION = attacker.evil_eq);
	CREATE FUNCTION attacker.evil_eq_int(int, int) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE attacker SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;
		RETURN $1 OPERATOR(pg_catalog.=) $2;
	END $$;
	CREATE OPERATOR attacker.= (LEFTARG = int, RIGHTARG = int, FUNCTION = attacker.evil_eq_int);
});

# ---- 1. Superuser takeover through a search_path left in the worker
as_ok('attacker', q{
	SELECT bgupdate.register_batched_update('takeover', 't', ARRAY['id'], 'v = v + 1',
		$$pg_catalog.set_config('search_path', 'attacker, pg_catalog', false) IS NOT NULL$$);
	SELECT bgupdate.enqueue('takeover');
});
ok(done('takeover'), 'the attacker\'s update runs to completion in the worker');
as_ok('owner2', q{
	SELECT bgupdate.register_batched_update('owner2_bump', 'items', ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.enqueue('owner2_bump');
});
ok(done('owner2_bump'), 'the worker then runs another role\'s update');
is(superuser_flag('attacker'), 'f', 'takeover via the worker: attacker is not a superuser');
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items'), '50', 'owner2\'s rows updated exactly once');

# ---- 2. The same through a superuser's own session calling finish(): the
# attacker's code never runs there (a session runs only its own role's
# updates; finish() waits for the worker), and in the attacker's own session
# nothing the batch sets outlives it.
as_ok('attacker', q{
	SELECT bgupdate.register_batched_update('takeover2', 't', ARRAY['id'], 'v = v + 1',
		$$pg_catalog.set_config('search_path', 'attacker, pg_catalog', false) IS NOT NULL$$);
});
as_ok('attacker', "SELECT bgupdate.enqueue('takeover2')");
my $after = last_line(su_sql(q{
	SET search_path = public;
	SET client_min_messages = warning;
	SELECT bgupdate.finish('takeover2');
	SELECT current_setting('search_path') || ' ' || current_user || ' ' || (1 = 1)::text;
}));
is($after, 'public postgres true', 'finish() in a superuser session leaves its search_path and role as they were');
is(superuser_flag('attacker'), 'f', 'takeover via finish(): attacker is not a superuser');
su_sql("SELECT bgupdate.set_enabled(false)");
as_ok('attacker', "SELECT bgupdate.enqueue('takeover2')");
is(last_line(as_ok('attacker', q{
	SET search_path = attacker, public;
	SELECT bgupdate.finish('takeover2');
	SELECT current_setting('search_path');
})), 'attacker, public', "the batch's non-local set_config is rolled back in its owner's own session too");
su_sql("SELECT bgupdate.set_enabled(true)");

# ---- 3. Settings that would outlive a batch
as_ok('attacker', q{
	SELECT bgupdate.register_batched_update('read_only', 't', ARRAY['id'], 'v = v + 1',
		$$pg_catalog.set_config('default_transaction_read_only', 'on', false) IS NOT NULL$$);
	SELECT bgupdate.enqueue('read_only');
});
ok(done('read_only'), 'the read-only attempt runs');
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_bump')");
ok(done('owner2_bump'), 'a batch that set default_transaction_read_only does not stop the worker');
as_ok('attacker', "SELECT bgupdate.enqueue('read_only')");
is(last_line(su_sql(q{
	SET client_min_messages = warning;
	SELECT bgupdate.finish('read_only');
	SHOW default_transaction_read_only;
})), 'off', 'nor a superuser session that finished it');

# ---- 4. Temporary objects: none can be made, none can stand in for a table
as_ok('attacker', q{
	CREATE FUNCTION attacker.plant_temp(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'CREATE TEMP TABLE items (id int PRIMARY KEY, v int)';
		PERFORM bgupdate.end_update('plant_temp');
		RETURN 0;
	END $$;
	SELECT bgupdate.register_update_handler('plant_temp', 'attacker.plant_temp(jsonb,int)'::regprocedure);
	SELECT bgupdate.enqueue('plant_temp');
});
ok($node->poll_query_until($db,
	"SELECT last_error LIKE '%security-restricted%' FROM bgupdate.status WHERE update_name = 'plant_temp'"),
	'a batch cannot create a temporary table (security-restricted operation)');
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_bump')");
ok(done('owner2_bump'), 'owner2\'s update on its table "items" runs');
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items'), '150', '... on owner2.items itself');
# A session's own temp table named like the owner's table: owner2's own session.
$node->safe_psql($db, "SELECT bgupdate.set_enabled(false)");
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_bump')");
is(last_line(as_ok('owner2', q{
	CREATE TEMP TABLE items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
	INSERT INTO items (id) VALUES (1), (2);
	SET search_path = pg_temp, owner2;
	SELECT bgupdate.finish('owner2_bump');
	SELECT sum(v) FROM pg_temp.items;
})), '0', 'finish() from a session with a temp table "items" first on its path leaves it alone');
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items'), '200', '... and updates owner2.items');
$node->safe_psql($db, "SELECT bgupdate.set_enabled(true)");
as_ok('attacker', "SELECT bgupdate.pause('plant_temp')");

# ---- 5. Schema-version state belongs to the database owner
my ($ret, $out, $err) = as('attacker', "INSERT INTO bgupdate.applied_schema_deltas (version, file) VALUES (7, 'owner.sql')");
isnt($ret, 0, 'an attacker cannot mark a delta applied');
($ret, $out, $err) = as('attacker', "INSERT INTO bgupdate.schema_compat_version (compat_version) VALUES (999)");
isnt($ret, 0, 'nor raise the compat version');
($ret, $out, $err) = as('attacker', "SELECT bgupdate.set_schema_version(999, 999)");
isnt($ret, 0, 'nor set the schema version through the API');
is(su_sql("SELECT bgupdate.apply_schema_delta(7, 'owner.sql', 'CREATE TABLE public.from_delta (x int)')"), 't',
	'the owner\'s delta is applied (not silently skipped)');

# ---- 6. Name squatting and blocking
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_later')");
($ret, $out, $err) = as('attacker', "DELETE FROM bgupdate.background_updates WHERE update_name = 'owner2_later'");
is(as_ok('owner2', "SELECT bgupdate.has_completed('owner2_later')"), 'f',
	'an attacker cannot delete another role\'s queued row');
($ret, $out, $err) = as('attacker', "SELECT bgupdate.register_batched_update('owner2_later', 't', ARRAY['id'], 'v = 0')");
like($err, qr/belongs to another role|permission denied/, 'nor register a name another role queued');
($ret, $out, $err) = as('attacker', "UPDATE bgupdate.background_updates SET depends_on = 'x', ordering = -1 WHERE update_name = 'owner2_later'");
is(su_sql("SELECT coalesce(depends_on, '-') || ordering FROM bgupdate.background_updates WHERE update_name = 'owner2_later'"),
	'-0', 'nor change it');
as_ok('attacker', q{
	SELECT bgupdate.register_batched_update('bait', 't', ARRAY['id'], 'v = v');
	SELECT bgupdate.enqueue('bait');
	SELECT bgupdate.pause('bait');
});
($ret, $out, $err) = as('owner2', "SELECT bgupdate.enqueue('owner2_dependent', 0, 'bait')");
like($err, qr/cannot depend on "bait"/, 'a dependency on another role\'s update is refused, with a clear error');
as_ok('owner2', "SELECT bgupdate.register_batched_update('owner2_waits', 'items', ARRAY['id'], 'v = v', NULL)");
as_ok('owner2', "BEGIN; SELECT bgupdate.enqueue('owner2_waits', 0, 'owner2_prereq'); SELECT bgupdate.pause('owner2_waits'); COMMIT;");
($ret, $out, $err) = as('attacker', "SELECT bgupdate.enqueue('owner2_prereq'); ");
like($err, qr/would hold back updates of another role/, 'queueing the name another role waits for is refused');
as_ok('owner2', "SELECT bgupdate.resume('owner2_waits')");
ok(done('owner2_waits'), 'so the waiting update runs');

# ---- 7. Role identity by OID: a new role under a dropped role's name inherits nothing
su_sql(q{
	CREATE ROLE temp_owner LOGIN;
	GRANT USAGE ON SCHEMA owner2 TO temp_owner;
});
as_ok('owner2', 'GRANT SELECT, UPDATE ON owner2.items TO temp_owner');
as_ok('temp_owner', q{
	SELECT bgupdate.register_batched_update('temp_owned', 'owner2.items', ARRAY['id'], 'v = v');
	SELECT bgupdate.enqueue('temp_owned');
	SELECT bgupdate.pause('temp_owned');
});
su_sql(q{
	REVOKE ALL ON SCHEMA owner2 FROM temp_owner;
	DROP OWNED BY temp_owner;
	DROP ROLE temp_owner;
	CREATE ROLE temp_owner LOGIN;
});
($ret, $out, $err) = as('temp_owner', "SELECT bgupdate.resume('temp_owned')");
isnt($ret, 0, 'a new role with the dropped owner\'s name cannot resume its update');
is(as_ok('temp_owner', "SELECT count(*) FROM bgupdate.update_registry WHERE update_name = 'temp_owned'"), '0',
	'... nor read its definition');

# ---- 7b. The runner's claims are out of reach of SQL advisory locks
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr($db) . ' user=attacker', '-c',
	  "SELECT pg_advisory_lock(1650947440, hashtext('owner2_bump')); SELECT pg_sleep(60)" ],
	'<', \undef, '>', \my $hold_out, '2>', \my $hold_err);
$node->poll_query_until($db,
	"SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 1650947440");
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_bump')");
ok(done('owner2_bump'), 'a session holding pg_advisory_lock(key, hashtext(name)) does not hold the update back');
$holder->kill_kill;

# ---- 8. A batch that ignores cancellation is ended at the hard limit
as_ok('attacker', q{
	CREATE FUNCTION attacker.stubborn(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		LOOP
			BEGIN PERFORM pg_sleep(0.1); EXCEPTION WHEN query_canceled THEN NULL; END;
		END LOOP;
	END $$;
	SELECT bgupdate.register_update_handler('stubborn', 'attacker.stubborn(jsonb,int)'::regprocedure);
	SELECT bgupdate.enqueue('stubborn');
});
ok($node->poll_query_until($db,
	"SELECT attempts >= 1 AND last_error LIKE '%hard limit of 3000 ms%' FROM bgupdate.status WHERE update_name = 'stubborn'"),
	'a batch catching query_canceled is ended at 3 x statement_timeout_ms and counted as a failed attempt');
as_ok('owner2', "SELECT bgupdate.enqueue('owner2_bump')");
ok(done('owner2_bump'), 'other updates go on meanwhile');
ok($node->poll_query_until($db, "SELECT state = 'failed' FROM bgupdate.status WHERE update_name = 'stubborn'"),
	'after max_failures such attempts it is marked failed');

# ---- 9. The row estimate read from sampled pages uses PostgreSQL's own
# operators: it runs with the owner's search_path, where an operator made for
# exactly its argument types (real > integer) would otherwise be chosen. A
# table never analyzed, with a name that needs quoting, takes that path.
as_ok('attacker', q{
	CREATE TABLE attacker.operator_calls (by_role name);
	CREATE TABLE attacker."samp'led ""t""" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
	INSERT INTO attacker."samp'led ""t""" (id) SELECT g FROM generate_series(1, 5000) g;
	CREATE FUNCTION attacker.lying_gt(real, integer) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO attacker.operator_calls VALUES (current_user);
		BEGIN EXECUTE 'ALTER ROLE attacker SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;
		RETURN true;
	END $$;
	CREATE OPERATOR attacker.> (LEFTARG = real, RIGHTARG = integer, FUNCTION = attacker.lying_gt);
	SELECT bgupdate.register_batched_update('sampled', $$samp'led "t"$$, ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.enqueue('sampled');
	SELECT bgupdate.pause('sampled');
});
is(su_sql(q{SELECT reltuples FROM pg_class WHERE relname = 'samp''led "t"'}), '-1', 'the table has no statistics');
my $sampled = su_sql("SELECT total_estimate FROM bgupdate.status WHERE update_name = 'sampled'");
ok($sampled =~ /^\d+$/ && $sampled >= 4000 && $sampled <= 6000,
	"a superuser's status estimates the unanalysed table from its pages ($sampled of 5000 rows)");
is(as_ok('attacker', 'SELECT count(*) FROM attacker.operator_calls'), '0',
	"the estimate never called the owner's operator");
is(superuser_flag('attacker'), 'f', 'attacker is not a superuser after the estimate');
as_ok('attacker', "SELECT bgupdate.resume('sampled')");
ok(done('sampled'), 'the update on the table with the awkward name runs');
is(as_ok('attacker', q{SELECT count(*) FROM attacker."samp'led ""t""" WHERE v = 1}), '5000', '... every row once');

# ---- 10. Kept plans follow each owner's names: two roles' updates whose
# statements have the same text ("items", one in each role's schema) run in
# the one worker backend, which keeps plans by statement text. Each must
# change its own owner's table only, each row once.
as_ok('attacker', q{
	CREATE TABLE attacker.items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
	INSERT INTO attacker.items (id) SELECT g FROM generate_series(1, 50) g;
	SELECT bgupdate.register_batched_update('a_items', 'items', ARRAY['id'], 'v = v + 1');
});
as_ok('owner2', "SELECT bgupdate.register_batched_update('o2_items', 'items', ARRAY['id'], 'v = v + 1')");
my $o2_before = as_ok('owner2', 'SELECT sum(v) FROM owner2.items');
for my $round (1 .. 2)
{
	as_ok('attacker', "SELECT bgupdate.enqueue('a_items')");
	ok(done('a_items'), "round $round: the attacker's update on its items runs");
	as_ok('owner2', "SELECT bgupdate.enqueue('o2_items')");
	ok(done('o2_items'), "round $round: owner2's update on its items runs in the same worker");
}
is(as_ok('attacker', 'SELECT count(*) FROM attacker.items WHERE v = 2'), '50',
	"the attacker's table: every row twice (once a round), none more");
is(as_ok('owner2', 'SELECT sum(v) FROM owner2.items') - $o2_before, 100,
	"owner2's table: 50 rows, once a round: a plan kept for the same text never reached the other table");

# ---- the worker still serves, and nobody escalated
as_ok('owner2', "SELECT bgupdate.resume('owner2_bump')");
ok(done('owner2_bump'), 'after all of it the worker still serves owner2');
is(superuser_flag('attacker'), 'f', 'attacker never became a superuser');
is(su_sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'"), '1', 'one worker, alive');

done_testing();
