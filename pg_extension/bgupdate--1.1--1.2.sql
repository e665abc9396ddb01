-- bgupdate 1.1 -> 1.2. Versions 1.0 and 1.1 have shipped and their scripts
-- are frozen: CREATE EXTENSION bgupdate installs 1.0 and runs each upgrade
-- script in turn, and ALTER EXTENSION bgupdate UPDATE brings an existing
-- database here. Each section below belongs to one behaviour and says why.
\echo Use "ALTER EXTENSION bgupdate UPDATE" to load this file. \quit
