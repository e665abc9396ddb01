-- bgupdate 1.1 -> 1.2. Versions 1.0 and 1.1 have shipped and their scripts
-- are frozen: CREATE EXTENSION bgupdate installs 1.0 and runs each upgrade
-- script in turn, and ALTER EXTENSION bgupdate UPDATE brings an existing
-- database here. Each section below belongs to one behaviour and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ---------------------------------------------------------------- fixed key ranges
-- A batched update or a validate-and-delete update may fix its key range
-- (GitLab's batch_min_value / batch_max_value): fixed_range ends the scan at
-- the largest key the table holds when the update starts, max_key at a key
-- given here, min_key starts it at one; without them the scan follows the
-- table to its last row, new rows included. CREATE OR REPLACE cannot add
-- arguments, and an overload with more defaulted arguments would make every
-- existing call ambiguous, so the functions are dropped and created again
-- with the new trailing arguments (existing calls keep working unchanged).
DROP FUNCTION bgupdate.register_batched_update(text, text, text[], text, text);
CREATE FUNCTION bgupdate.register_batched_update(update_name text, "table" text, key_columns text[],
    set_clause text, where_clause text DEFAULT NULL, fixed_range boolean DEFAULT false,
    min_key jsonb DEFAULT NULL, max_key jsonb DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_batched_update';

DROP FUNCTION bgupdate.register_validate_constraint_and_delete_rows(text, text, text, jsonb, text[]);
CREATE FUNCTION bgupdate.register_validate_constraint_and_delete_rows(update_name text, "table" text,
    constraint_name text, "constraint" jsonb, unique_columns text[], fixed_range boolean DEFAULT false,
    min_key jsonb DEFAULT NULL, max_key jsonb DEFAULT NULL) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bgupdate_register_validate_constraint_and_delete_rows';
