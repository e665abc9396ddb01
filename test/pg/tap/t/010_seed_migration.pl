# The example migration, done by the background worker alone on a
# 1,000,000-row table while the application keeps inserting and updating:
# backfill new_column, then NOT NULL via validate-and-delete-rows, then
# finish() and drop the old column. No client step()/run() calls.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use BgTap;

my $rows = 1_000_000;
my $node = bg_node('seed');
bg_start($node);
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION bgupdate');

$node->safe_psql('app', qq{
CREATE TABLE t (id bigint PRIMARY KEY, old_column int, payload text);
INSERT INTO t SELECT g, g % 1000, md5(g::text) FROM generate_series(1, $rows) g;
VACUUM ANALYZE t;
ALTER TABLE t ADD COLUMN new_column int;
-- The application (new release): writes both columns; runs from before
-- the delta until the queue it saw fill is empty again (or max_seconds),
-- and records how much overlapped the backfill. Started first, it overlaps
-- however fast the worker is.
CREATE TABLE writer_result (iterations int, during_backfill int);
CREATE PROCEDURE app_writer(max_seconds int) LANGUAGE plpgsql AS \$\$
DECLARE
  i int := 0; overlap int := 0; r bigint; seen_work boolean := false;
  t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN clock_timestamp() > t0 + make_interval(secs => max_seconds);
    seen_work := seen_work OR EXISTS (SELECT 1 FROM bgupdate.background_updates);
    EXIT WHEN seen_work AND NOT EXISTS (SELECT 1 FROM bgupdate.background_updates);
    i := i + 1;
    IF EXISTS (SELECT 1 FROM bgupdate.background_updates WHERE update_name = 'backfill') THEN
      overlap := overlap + 1;
    END IF;
    INSERT INTO t (id, old_column, payload, new_column)
      VALUES ($rows + i, i % 1000, 'app', (i % 1000) * 100);
    r := 1 + floor(random() * $rows)::bigint;
    UPDATE t SET old_column = old_column + 1, new_column = (old_column + 1) * 100 WHERE id = r;
    COMMIT;
    PERFORM pg_sleep(0.002);
  END LOOP;
  INSERT INTO writer_result VALUES (i, overlap);
END \$\$;
});

# The application is writing before the delta and keeps writing while the worker runs.
my ($wout, $werr) = ('', '');
my $writer = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app'),
	  '-c', 'CALL app_writer(280)' ],
	'<', \undef, '>', \$wout, '2>', \$werr);

$node->poll_query_until('app', "SELECT count(*) > 0 FROM t WHERE id > $rows")
  or die 'the application writer did not start';

# Release 1's delta, in one transaction so the worker never sees the
# constraint update without its dependency on the backfill.
my ($ret, $out, $err) = $node->psql('app', q{
BEGIN;
SELECT bgupdate.register_batched_update('backfill', 't', ARRAY['id'],
       'new_column = old_column * 100', 'new_column IS NULL');
INSERT INTO bgupdate.background_updates (ordering, update_name, progress_json)
VALUES (1, 'backfill', '{}');
SELECT bgupdate.register_validate_constraint_and_delete_rows('new_column_not_null',
       't', 't_new_column_not_null', '{"not_null": "new_column"}', ARRAY['id']);
SELECT bgupdate.add_constraint_and_enqueue(2, 'new_column_not_null', 't',
       't_new_column_not_null', '{"not_null": "new_column"}', 't',
       'CREATE TABLE t (id INTEGER PRIMARY KEY, old_column INT, payload TEXT, new_column INT NOT NULL)');
UPDATE bgupdate.background_updates SET depends_on = 'backfill'
 WHERE update_name = 'new_column_not_null';
COMMIT;
}, on_error_stop => 1);
is($ret, 0, 'delta registers and enqueues the backfill and the NOT NULL check') or diag $err;
is($node->safe_psql('app',
		"SELECT count(*) FROM pg_constraint WHERE conname = 't_new_column_not_null' AND NOT convalidated"),
	'1', 'constraint added NOT VALID');

my $t0 = time();
my $seen_worker = 0;
my $done = wait_all_done($node, 'app', 300, sub {
	$seen_worker ||= $node->safe_psql('app',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type ILIKE '%bgupdate%' "
		  . "AND datname = 'app'") > 0;
});
ok($done, 'the worker completes both updates with no client calls');
note sprintf('queue done in %.1fs', time() - $t0);
ok($seen_worker, 'a bgupdate worker shows in pg_stat_activity while it runs');

# The writer stops by itself once the queue is empty; on failure don't wait.
$writer->kill_kill unless $done;
ok($done && $writer->finish, 'application writer ran without errors') or diag $werr;
my ($iters, $overlap) = split /\|/,
  $node->safe_psql('app', 'SELECT iterations, during_backfill FROM writer_result');
$iters //= 0;
$overlap //= 0;
note "writer: $iters iterations, $overlap while the backfill was queued";
ok($overlap > 0, 'application wrote while the backfill was running');

# Release 2's delta: make sure it is all done, then rely on it.
($ret, $out, $err) = bg_call($node, 'app', 'finish', "'backfill'");
is($ret, 0, 'finish(backfill) after completion') or diag $err;
($ret, $out, $err) = bg_call($node, 'app', 'finish', "'new_column_not_null'");
is($ret, 0, 'finish(new_column_not_null) after completion') or diag $err;

is($node->safe_psql('app',
		'SELECT count(*) FROM t WHERE new_column IS DISTINCT FROM old_column * 100'),
	'0', 'every row has new_column = old_column * 100');
is($node->safe_psql('app', 'SELECT count(*) FROM t'),
	$rows + $iters, 'no row lost (the check deleted nothing)');
is($node->safe_psql('app',
		"SELECT convalidated FROM pg_constraint WHERE conname = 't_new_column_not_null'"),
	't', 'NOT NULL check constraint is validated');
is($node->safe_psql('app',
		"SELECT string_agg(update_name || '=' || state, ',' ORDER BY update_name) FROM bgupdate.status"),
	'backfill=complete,new_column_not_null=complete', 'status shows both complete');
($ret, $out, $err) = $node->psql('app',
	'ALTER TABLE t ALTER new_column SET NOT NULL; ALTER TABLE t DROP COLUMN old_column');
is($ret, 0, 'SET NOT NULL and DROP COLUMN old_column') or diag $err;

$node->stop;
done_testing();
