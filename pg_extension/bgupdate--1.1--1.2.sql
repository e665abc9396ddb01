-- bgupdate 1.1 -> 1.2. Versions 1.0 and 1.1 have shipped and their scripts
-- are frozen: CREATE EXTENSION bgupdate installs 1.0 and runs each upgrade
-- script in turn, and ALTER EXTENSION bgupdate UPDATE brings an existing
-- database here. Each section below belongs to one behaviour and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit

-- ---------------------------------------------------------------- the library's version
-- The version of the loaded library (one VERSION file gives it, the SQL
-- version and the tools theirs), as SQLite's bgupdate_version() gives the
-- SQLite extension's: `SELECT bgupdate.version(), extversion FROM
-- pg_extension WHERE extname = 'bgupdate'` shows a package upgrade that
-- still needs ALTER EXTENSION bgupdate UPDATE.
CREATE FUNCTION bgupdate.version() RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'bgupdate_library_version';
