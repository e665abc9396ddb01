# The worker alone completes the seed migration (backfill 1,000,000 rows,
# then NOT NULL validation) while another session keeps writing; it wakes on
# commit (not by polling), is visible in pg_stat_activity, and stops cleanly
# on DROP EXTENSION.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $rows = $ENV{BGUPDATE_TAP_ROWS} // 1000000;
my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'bgupdate'
# Polling is a fallback only: a minute, so quick reactions come from the latch.
bgupdate.naptime_ms = 60000
bgupdate.launcher_rescan_ms = 60000
bgupdate.sleep_enabled = off
));
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION bgupdate');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND datname = 'postgres'"),
	'CREATE EXTENSION wakes the launcher, which starts a worker for the database');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bgupdate launcher'"),
	'1', 'one launcher');

# Wake-up: with a one-minute poll, only the commit-time latch explains a
# reaction well within it. The bound is generous (20 s, a third of the poll)
# so that a loaded machine cannot fail it by chance; without the wake-up the
# worker would not look before the minute is up.
$node->safe_psql('postgres', q{
	CREATE TABLE tiny (id int PRIMARY KEY, v int);
	INSERT INTO tiny SELECT g, 0 FROM generate_series(1, 10) g;
	SELECT bgupdate.register_batched_update('tiny_bump', 'tiny', ARRAY['id'], 'v = v + 1');
});
sleep 1;    # let the worker settle into its idle wait
my $t0 = time();
$node->safe_psql('postgres', "SELECT bgupdate.enqueue('tiny_bump')");
$node->poll_query_until('postgres', "SELECT bgupdate.has_completed('tiny_bump')");
my $latency = time() - $t0;
cmp_ok($latency, '<', 20.0, sprintf('worker woke on commit of the enqueue (%.3f s)', $latency));
$t0 = time();
$node->safe_psql('postgres', "SELECT bgupdate.set_enabled(false)");
$node->safe_psql('postgres', "SELECT bgupdate.enqueue('tiny_bump')");
sleep 1;
is($node->safe_psql('postgres', "SELECT bgupdate.has_completed('tiny_bump')"), 'f', 'disabled: the worker leaves it');
$t0 = time();
$node->safe_psql('postgres', "SELECT bgupdate.set_enabled(true)");
$node->poll_query_until('postgres', "SELECT bgupdate.has_completed('tiny_bump')");
$latency = time() - $t0;
cmp_ok($latency, '<', 20.0, sprintf('worker woke on commit of set_enabled(true) (%.3f s)', $latency));

# The seed migration of the core issue, with the application writing throughout.
$node->safe_psql('postgres', qq{
	CREATE TABLE seed (id bigint PRIMARY KEY, old_column int NOT NULL, new_column int, payload text);
	INSERT INTO seed SELECT g, g % 100000, NULL, md5(g::text) FROM generate_series(1, $rows) g;
	CREATE SEQUENCE seed_ids START $rows;
	SELECT setval('seed_ids', $rows);
	CREATE TABLE app_control (stop boolean NOT NULL);
	INSERT INTO app_control VALUES (false);
	CREATE TABLE app_stats (inserts int, updates int);
	-- The application already writes both columns (dual writes), as it must
	-- before the NOT NULL constraint appears.
	CREATE PROCEDURE app_writer() LANGUAGE plpgsql AS \$\$
	DECLARE ins int := 0; upd int := 0; r bigint;
	BEGIN
		LOOP
			EXIT WHEN (SELECT stop FROM app_control);
			INSERT INTO seed VALUES (nextval('seed_ids'), 7, 700, 'new');
			r := 1 + floor(random() * $rows)::bigint;
			UPDATE seed SET old_column = old_column + 1, new_column = (old_column + 1) * 100 WHERE id = r;
			ins := ins + 1; upd := upd + 1;
			COMMIT;
			PERFORM pg_sleep(0.002);
		END LOOP;
		INSERT INTO app_stats VALUES (ins, upd);
	END \$\$;
	ANALYZE seed;
});
my $app = $node->background_psql('postgres', timeout => 900);
$app->query_until(qr/writer started/, "\\echo writer started\nCALL app_writer();\n");

$t0 = time();
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT bgupdate.register_batched_update('fill_new_column', 'seed', ARRAY['id'],
	                                        'new_column = old_column * 100', 'new_column IS NULL');
	SELECT bgupdate.enqueue('fill_new_column', 1);
	SELECT bgupdate.add_constraint_and_enqueue(2, 'new_column_not_null', 'seed', 'seed_new_column_not_null',
	                                           '{"not_null": "new_column"}');
	UPDATE bgupdate.background_updates SET depends_on = 'fill_new_column'
	 WHERE update_name = 'new_column_not_null';
	SELECT bgupdate.register_validate_constraint('new_column_not_null', 'seed_new_column_not_null', 'seed');
	COMMIT;
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND query = 'bgupdate: running background update ''fill_new_column'''"),
	'pg_stat_activity names the update the worker runs');
ok($node->poll_query_until('postgres', "SELECT bgupdate.has_completed_all()", 't'),
	'the worker alone completed the backfill and the validation');
my $elapsed = time() - $t0;
$node->safe_psql('postgres', 'UPDATE app_control SET stop = true');
$app->quit;
note(sprintf('migration of %d rows took %.1f s', $rows, $elapsed));

is($node->safe_psql('postgres', 'SELECT count(*) FROM seed WHERE new_column IS DISTINCT FROM old_column * 100'),
	'0', 'every row has new_column = old_column * 100');
ok($node->safe_psql('postgres', 'SELECT inserts FROM app_stats') > 0, 'the application kept writing meanwhile');
is($node->safe_psql('postgres', "SELECT convalidated FROM pg_constraint WHERE conname = 'seed_new_column_not_null'"),
	't', 'NOT NULL constraint validated');
$node->safe_psql('postgres', 'ALTER TABLE seed DROP COLUMN old_column');
is($node->safe_psql('postgres',
	"SELECT string_agg(update_name || '=' || state, ',' ORDER BY update_name) FROM bgupdate.status WHERE update_name LIKE '%new_column%'"),
	'fill_new_column=complete,new_column_not_null=complete', 'status shows both complete');

# Pacing longer than the worker's one-second run slice: each batch starts
# sleep_duration_ms after the one before, across slices (a sleep cut at the
# slice's end made pairs of batches run back to back), and pg_stat_activity
# says the worker is pausing. Batch rows are written at each batch's end, so
# two of them are at least the sleep apart (a lower bound: a slow machine
# only widens it).
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET bgupdate.sleep_enabled = on;
	ALTER SYSTEM SET bgupdate.sleep_duration_ms = 1500;
	ALTER SYSTEM SET bgupdate.default_batch_size = 2;
	ALTER SYSTEM SET bgupdate.max_batch_size = 2;
});
$node->reload;
$node->safe_psql('postgres', q{
	CREATE TABLE paced (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
	INSERT INTO paced (id) SELECT generate_series(1, 8);
	SELECT bgupdate.register_batched_update('paced_bump', 'paced', ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.enqueue('paced_bump');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' "
	  . "AND query = 'bgupdate: pausing between batches'"),
	'pg_stat_activity shows the worker pausing between batches');
ok($node->poll_query_until('postgres', "SELECT bgupdate.has_completed('paced_bump')"), 'the paced update completes');
my ($batches, $min_gap) = split /\|/, $node->safe_psql('postgres', q{
	SELECT count(*) + 1, round(min(gap))
	  FROM (SELECT extract(epoch FROM at::timestamptz - lag(at::timestamptz) OVER (ORDER BY id)) * 1000 AS gap
	          FROM bgupdate.update_history WHERE update_name = 'paced_bump' AND event = 'batch') g
	 WHERE gap IS NOT NULL});
cmp_ok($batches, '>=', 4, "the 8 rows took $batches batches of at most 2");
cmp_ok($min_gap, '>=', 1500, "every two batches are at least sleep_duration_ms (1500) apart: closest $min_gap ms");
is($node->safe_psql('postgres', 'SELECT sum(v) FROM paced'), '8', 'each row changed once');
# A reload ends the pause, so that a DBA who shortens a long sleep is obeyed
# at once, not after it (the bound, 30 s, is half the sleep).
$node->safe_psql('postgres', 'ALTER SYSTEM SET bgupdate.sleep_duration_ms = 60000');
$node->reload;
$node->safe_psql('postgres', q{
	SELECT bgupdate.register_batched_update('paced_again', 'paced', ARRAY['id'], 'v = v + 1');
	SELECT bgupdate.enqueue('paced_again');
});
ok($node->poll_query_until('postgres',
	"SELECT batches >= 1 FROM bgupdate.status WHERE update_name = 'paced_again'"), 'a batch, then a 60 s pause');
$t0 = time();
$node->safe_psql('postgres', 'ALTER SYSTEM SET bgupdate.sleep_duration_ms = 10');
$node->reload;
$node->poll_query_until('postgres', "SELECT bgupdate.has_completed('paced_again')");
$latency = time() - $t0;
cmp_ok($latency, '<', 30.0, sprintf('a reload that shortens the sleep ends the pause (done %.1f s later)', $latency));
is($node->safe_psql('postgres', 'SELECT sum(v) FROM paced'), '16', 'each row changed once more');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET bgupdate.max_batch_size');

# DROP EXTENSION while a long update runs: the worker stops cleanly.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET bgupdate.sleep_enabled = on;
	ALTER SYSTEM SET bgupdate.sleep_duration_ms = 50;
	ALTER SYSTEM SET bgupdate.default_batch_size = 1000;
	ALTER SYSTEM SET bgupdate.update_duration_ms = 20;
});
$node->reload;
$node->safe_psql('postgres', q{
	SELECT bgupdate.register_batched_update('long_one', 'seed', ARRAY['id'], 'payload = payload || ''!''');
	SELECT bgupdate.enqueue('long_one');
});
ok($node->poll_query_until('postgres', "SELECT batches > 2 FROM bgupdate.status WHERE update_name = 'long_one'"),
	'a long update is running');
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'DROP EXTENSION bgupdate');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'"),
	'after DROP EXTENSION the worker exits');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/terminated by signal|PANIC/, 'no crash');
like($log, qr/extension bgupdate is not installed in this database; exiting/, 'worker says why it exits');
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM seed'), 't', 'server fine');
# CREATE EXTENSION again: a worker comes back.
$node->safe_psql('postgres', 'CREATE EXTENSION bgupdate');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'"),
	'a new CREATE EXTENSION brings a worker back');

# A second database gets its own worker; DROP DATABASE still works (the
# worker is asked to leave instead of blocking it).
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION bgupdate');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND datname = 'other'"),
	'a worker for the second database');
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE other');
is($ret, 0, 'DROP DATABASE of a database with a worker succeeds') or diag($err);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bgupdate worker'"),
	'1', 'the other database\'s worker is unaffected');

$node->stop;
done_testing();
