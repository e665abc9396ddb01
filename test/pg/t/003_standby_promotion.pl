# A hot standby runs nothing (no launcher, no worker); after promotion the new
# primary finishes the update from the replicated progress, exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 200000;
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'bgupdate'
bgupdate.naptime_ms = 200
bgupdate.update_duration_ms = 20
bgupdate.default_batch_size = 500
bgupdate.sleep_duration_ms = 100
));
$primary->start;
$primary->safe_psql('postgres', qq{
	CREATE EXTENSION bgupdate;
	CREATE TABLE counters (id int PRIMARY KEY, counter int NOT NULL DEFAULT 0);
	INSERT INTO counters SELECT g, 0 FROM generate_series(1, $rows) g;
	SELECT bgupdate.register_batched_update('increment', 'counters', ARRAY['id'], 'counter = counter + 1');
});
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $bg_on_standby = "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'bgupdate%'";
$primary->safe_psql('postgres', "SELECT bgupdate.enqueue('increment')");
ok($primary->poll_query_until('postgres', "SELECT batches >= 5 FROM bgupdate.status WHERE update_name = 'increment'"),
	'the primary is working through the update');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $bg_on_standby), '0', 'no bgupdate launcher or worker on the standby');
is($standby->safe_psql('postgres', "SELECT bgupdate.has_completed('increment')"), 'f',
	'the standby sees the update still queued');
my $done_before = $primary->safe_psql('postgres', "SELECT items_done FROM bgupdate.status WHERE update_name = 'increment'");
$primary->stop('immediate');
note("primary stopped after $done_before rows");

$standby->promote;
ok($standby->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bgupdate launcher'"),
	'the launcher starts on promotion');
ok($standby->poll_query_until('postgres', "SELECT bgupdate.has_completed('increment')"),
	'the new primary finished the update');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM counters WHERE counter <> 1'), '0',
	'every row incremented exactly once across the failover');
ok($standby->safe_psql('postgres', "SELECT batches FROM bgupdate.status WHERE update_name = 'increment'") > 5,
	'it continued from the replicated progress');
$standby->stop;
done_testing();
