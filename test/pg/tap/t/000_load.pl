# The extension loads with shared_preload_libraries, installs, and its
# launcher/worker show up as bgupdate processes.
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

# The launcher should start a worker for this database without any client call.
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity "
		  . "WHERE backend_type ILIKE '%bgupdate%' AND datname = 'postgres'"),
	'a bgupdate worker serves the database (pg_stat_activity)');
ok(scalar(BgTap::bg_procs($node)) > 0, 'bgupdate processes are children of the postmaster')
  or diag explain BgTap::children_of($node->{_pid});

$node->stop;
done_testing();
