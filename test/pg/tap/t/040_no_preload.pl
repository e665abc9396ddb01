# Without shared_preload_libraries (forgotten, or a restore into another
# server) using the extension must not kill the session: either it works
# in the foreground (step/run, no worker) or it raises a clear ERROR.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use BgTap;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
bg_start($node);

my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION bgupdate');
ok($ret == 0 || ($ret == 3 && $err =~ /shared_preload_libraries/),
	'CREATE EXTENSION works or asks for shared_preload_libraries (session survives)')
  or diag "psql exit $ret: $err";
SKIP:
{
	skip 'extension not created', 2 unless $ret == 0;
	($ret, $out, $err) = $node->psql('postgres', q{
CREATE TABLE t (id int PRIMARY KEY, a int, b int);
INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 1000) g;
SELECT bgupdate.register_batched_update('fill_b', 't', ARRAY['id'], 'b = a');
SELECT bgupdate.enqueue('fill_b');
SELECT bgupdate.finish('fill_b');
});
	is($ret, 0, 'finish() runs in the foreground without error') or diag $err;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE b IS DISTINCT FROM a'),
		'0', 'finish() completed the update without a worker');
}
ok(!$node->log_contains('FATAL'), 'no FATAL in the server log')
  or diag slurp_file($node->logfile);

$node->stop;
done_testing();
