# Adversarial, with the worker: an index update whose
# where_clause smuggles a second statement ('v > 0; BEGIN') once left the
# worker inside an open transaction block, so nothing in that database
# committed any more. Written straight into the registry (bypassing
# registration's checks, as a row from before them would be), it must fail
# with a clear error while the worker goes on serving other updates.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use BgTap;

my $node = bg_node('fragments', conf => { 'bgupdate.retry_backoff_ms' => 200 });
bg_start($node);
$node->safe_psql('postgres', q{
	CREATE EXTENSION bgupdate;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t SELECT g, g FROM generate_series(1, 20) g;
	INSERT INTO bgupdate.update_registry (update_name, kind, spec_json, owner, search_path, registered_at)
	VALUES ('smuggled', 'index', '{"index_name": "t_v", "table": "t", "columns": ["v"],
	        "where_clause": "v > 0; BEGIN", "is_unique": false, "psql_only": false}',
	        (SELECT oid FROM pg_roles WHERE rolname = current_user), 'public', now()::text);
	SELECT bgupdate.enqueue('smuggled', 1);
});
ok($node->poll_query_until('postgres',
	"SELECT last_error IS NOT NULL FROM bgupdate.status WHERE update_name = 'smuggled'"),
	'the smuggled index update fails');
like($node->safe_psql('postgres', "SELECT last_error FROM bgupdate.status WHERE update_name = 'smuggled'"),
	qr/where_clause of 'smuggled'|more than one statement/, '... with an error naming the problem');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 't_v'"), '0',
	'... and built no index');

# The worker still commits: another update of the same database completes.
$node->safe_psql('postgres', q{
	SELECT bgupdate.register_batched_update('after', 't', ARRAY['id'], 'v = -v');
	SELECT bgupdate.enqueue('after', 2);
});
ok($node->poll_query_until('postgres', "SELECT bgupdate.has_completed('after')"),
	'the worker goes on serving other updates');
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE v < 0"), '20', '... whose work is committed');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND state LIKE 'idle in transaction%'"),
	'0', 'the worker is not left inside a transaction block');

$node->stop;
done_testing();
