# The extension loads with shared_preload_libraries and installs; the
# launcher serves every database that has the extension (including ones
# created after start), each with its own worker, and none without it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use BgTap;

my $node = bg_node('load');
bg_start($node);

my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION bgupdate');
is($ret, 0, 'CREATE EXTENSION bgupdate') or diag $err;
is($node->safe_psql('postgres', 'SELECT bgupdate.enabled()'), 't',
	'updates are enabled by default');

my $workers_q = "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity "
  . "WHERE backend_type = 'bgupdate worker'";
ok($node->poll_query_until('postgres', $workers_q, 'postgres'),
	'a bgupdate worker serves the database (pg_stat_activity)');
ok(scalar(bg_procs($node)) > 0, 'bgupdate processes are children of the postmaster');

# Databases created later: two with the extension and work, one without.
for my $db (qw(app1 app2 plain))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	next if $db eq 'plain';
	$node->safe_psql($db, q{
CREATE EXTENSION bgupdate;
CREATE TABLE t (id int PRIMARY KEY, a int, b int);
INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 20000) g;
SELECT bgupdate.register_batched_update('fill_b', 't', ARRAY['id'], 'b = a', 'b IS NULL');
SELECT bgupdate.enqueue('fill_b');
});
}
ok($node->poll_query_until('postgres', $workers_q, 'app1,app2,postgres'),
	'one worker per database with the extension, none for the others');
for my $db (qw(app1 app2))
{
	ok(wait_all_done($node, $db, 60), "worker of $db finishes its queue");
	is($node->safe_psql($db, 'SELECT count(*) FROM t WHERE b IS DISTINCT FROM a'), '0',
		"$db: every row filled");
}

$node->stop;
done_testing();
