-- pgTAP: bgupdate.config(key [, value]) on PostgreSQL does what
-- bgupdate_config does on SQLite: reads a setting (its GUC for this session,
-- or the per-database switch 'enabled'), validates a new value by the same
-- rules with the same messages, sets it and returns it normalised.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(14);

SELECT is(bgupdate.config('update_duration_ms'), '100', 'reads a default');
SELECT is(bgupdate.config('sleep_enabled'), 'true', 'booleans read as true/false, as on SQLite');
SELECT is(bgupdate.config('update_duration_ms', '250'), '250', 'sets and returns the value');
SELECT is(current_setting('bgupdate.update_duration_ms'), '250', '... which is the GUC');
SELECT is(bgupdate.config('sleep_enabled', 'off'), 'false', 'normalised as on SQLite');
SELECT is(current_setting('bgupdate.sleep_enabled'), 'off', '... and set as the GUC');
SELECT throws_ok($$SELECT bgupdate.config('update_duration_ms', 'abc')$$, '22023',
                 'bgupdate: setting ''update_duration_ms'' must be a whole number, got ''abc''',
                 'a bad value is refused with SQLite''s message');
SELECT throws_ok($$SELECT bgupdate.config('min_batch_size', '0')$$, '22023',
                 'bgupdate: setting ''min_batch_size'' must be at least 1, got 0', 'below the minimum');
SELECT throws_like($$SELECT bgupdate.config('no_such_setting')$$, 'bgupdate: unknown setting ''no_such_setting'' (known: %',
                   'an unknown key is named');
SELECT throws_ok($$SELECT bgupdate.config('update_duration_ms', NULL)$$, '22023',
                 'bgupdate: value must not be NULL', 'NULL is refused');
SELECT is(bgupdate.config('enabled', 'false'), 'false', 'enabled is the per-database switch');
SELECT is(bgupdate.enabled(), false, '... set_enabled(false)');
SELECT is(bgupdate.config('enabled'), 'false', '... and read back');
CREATE FUNCTION public.config_hook(name text) RETURNS int LANGUAGE sql AS 'SELECT 50';
SELECT is(bgupdate.config('duration_hook', 'config_hook'), 'public.config_hook(pg_catalog.text)',
          'a hook is resolved and shown schema-qualified, as SET shows it');

SELECT * FROM finish();
ROLLBACK;
