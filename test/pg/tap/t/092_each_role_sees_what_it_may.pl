# Each role sees only what it may see, and runs only what it may run:
#  - bgupdate._health_readings() (SECURITY DEFINER, callable by everyone)
#    gives the details (pids, application names, states, standby and slot
#    names, WAL file names) only to a pg_monitor session, numbers to others;
#  - a hold reason lands in the update owner's status row, so an owner
#    without pg_monitor gets numbers only there too;
#  - estimate() refuses another role's update as finish() does (its trial
#    batch would run it), and records nothing against it;
#  - the health check resolves the update's table in the owner's search_path
#    with pg_temp last, as batches do: a session's temporary table of the
#    same name does not stand in for the owner's table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use BgTap;

my $node = bg_node('roles', conf => {
	'bgupdate.worker_enabled'           => 'off',   # sessions run the batches here
	'bgupdate.health_check_interval_ms' => 0,
	'bgupdate.health_hold_ms'           => 200,
	'autovacuum'                        => 'off',
});
bg_start($node);
$node->safe_psql('postgres', q{
CREATE EXTENSION bgupdate;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE watcher LOGIN IN ROLE pg_monitor;
CREATE TABLE t (id bigint PRIMARY KEY, v int);
INSERT INTO t SELECT g, NULL FROM generate_series(1, 1000) g;
CREATE TABLE w (id bigint PRIMARY KEY, v int);
INSERT INTO w SELECT g, NULL FROM generate_series(1, 1000) g;
GRANT ALL ON t TO alice;
GRANT ALL ON w TO watcher;
});

# An old open transaction: the xmin_age_s signal has a session to name.
my $old = $node->background_psql('postgres');
$old->query_safe("SET application_name = 'secret_app_name'");
$old->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old->query_safe('SELECT count(*) FROM t');
sleep 2;

sub reading_as
{
	my ($role) = @_;
	# Logged in as the role: its session_user is what a SECURITY DEFINER function can check.
	return $node->safe_psql('postgres',
		"SELECT (value > 1)::text || '|' || coalesce(detail, '<none>') "
		  . "FROM bgupdate._health_readings(NULL, ARRAY['xmin_age_s'])", extra_params => ['-U', $role]);
}

# 1. The readings themselves.
my $plain = reading_as('bob');
is($plain, 'true|<none>', 'a role without pg_monitor gets the number, not which session');
unlike($plain, qr/secret_app_name|pid/, '... no pid or application name');
like(reading_as('watcher'), qr/^true\|pid [0-9]+ secret_app_name, idle in transaction$/,
	'a pg_monitor role gets which session holds the horizon');

# 2. Hold reasons in the owner's status row.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET bgupdate.health_max_xmin_age_s = 1; SELECT pg_reload_conf();
});
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT bgupdate.register_batched_update('alice_fill', 't', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('alice_fill', 1);
});
$node->safe_psql('postgres', q{
SET ROLE watcher;
SELECT bgupdate.register_batched_update('watcher_fill', 'w', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('watcher_fill', 2);
});
# A superuser session (details allowed) runs both; the owner decides what is kept.
my $alice_hold = $node->safe_psql('postgres', q{
SET ROLE alice; SELECT bgupdate.step() ->> 'on_hold'});
like($alice_hold, qr/held back the xmin horizon for [0-9.]+ s > limit 1/, 'alice\'s update is held');
unlike($alice_hold, qr/pid|secret_app_name/, '... with numbers only in the reason she reads');
my $stored = $node->safe_psql('postgres', q{
SELECT hold_reason FROM bgupdate.update_state WHERE update_name = 'alice_fill'});
unlike($stored, qr/pid|secret_app_name/, 'her status row holds no other session\'s pid or name');
my $watcher_hold = $node->safe_psql('postgres', q{
SET ROLE watcher; SELECT bgupdate.step() ->> 'on_hold'});
like($watcher_hold, qr/\(pid [0-9]+ secret_app_name/, 'a pg_monitor owner gets the details');
$old->query_safe('COMMIT');
$old->quit;
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET bgupdate.health_max_xmin_age_s; SELECT pg_reload_conf();
});

# 3. estimate() of another role's update.
my ($ret, $out, $err) = $node->psql('postgres', q{
SET ROLE bob; SELECT bgupdate.estimate('alice_fill')}, extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($ret, 0, 'bob cannot estimate alice\'s update');
like($err, qr/42501.*permission denied to run background update 'alice_fill'/s, '... permission denied, as finish() says');
is($node->safe_psql('postgres',
	"SELECT attempts || '|' || total_failures FROM bgupdate.update_state WHERE update_name = 'alice_fill'"),
	'0|0', '... and nothing was recorded against it');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE alice; SELECT bgupdate.estimate('alice_fill') ->> 'update_name'});
is($out, 'alice_fill', 'alice estimates her own');

# 4. pg_temp in the owner's stored path, for the health check's table.
$node->safe_psql('postgres', q{
CREATE TABLE t4 (id bigint PRIMARY KEY, v int);
INSERT INTO t4 SELECT g, NULL FROM generate_series(1, 50000) g;
GRANT ALL ON t4 TO alice;
SET ROLE alice;
SET search_path = pg_temp, public;
SELECT bgupdate.register_batched_update('alice_t4', 't4', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('alice_t4', 0);
});
my $vac = $node->background_psql('postgres', on_error_stop => 0);
$vac->query_until(qr/start/, "\\echo start\nSET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1; VACUUM public.t4;\n");
my $deadline = time() + 60;
until ($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'public.t4'::regclass") eq '1'
	|| time() > $deadline)
{
	usleep(50_000);
}
my $held = $node->safe_psql('postgres', q{
SET ROLE alice;
CREATE TEMP TABLE t4 (id bigint PRIMARY KEY, v int);
SELECT coalesce(bgupdate.step() ->> 'on_hold', 'ran a batch')});
like($held, qr/vacuum running on the table/,
	'the health check looks at the owner\'s t4, not the session\'s temporary t4');
$node->safe_psql('postgres', 'SELECT pg_cancel_backend(pid) FROM pg_stat_progress_vacuum');
$vac->quit;

$node->stop;
done_testing();
