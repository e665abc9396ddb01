-- pgTAP: the tables and columns of schema bgupdate, as the install script
-- makes them and as the upgrade scripts make them from 1.0, are the latest
-- store layout of common/store_schema.cpp (rendered for PostgreSQL into
-- test/pg/store_layout_postgres.sql, which test/core checks is current).
-- A column added, dropped or retyped on one side only fails here.
BEGIN;
SELECT plan(2);

\ir ../store_layout_postgres.sql

CREATE TEMP VIEW installed_store_layout AS
SELECT c.relname::text AS table_name, a.attname::text AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'bgupdate' AND c.relkind IN ('r', 'p');

CREATE EXTENSION bgupdate;
SELECT set_eq('SELECT * FROM installed_store_layout', 'SELECT * FROM expected_store_layout',
              'CREATE EXTENSION bgupdate makes the latest store layout');

DROP EXTENSION bgupdate;
CREATE EXTENSION bgupdate VERSION '1.0';
ALTER EXTENSION bgupdate UPDATE;
SELECT set_eq('SELECT * FROM installed_store_layout', 'SELECT * FROM expected_store_layout',
              'the upgrade scripts from 1.0 make the same layout');

SELECT * FROM finish();
ROLLBACK;
