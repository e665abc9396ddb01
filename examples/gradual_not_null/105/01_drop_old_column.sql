-- Release N+5 (schema 105, compat 104): nothing compatible touches old_column any more.
ALTER TABLE mytable DROP COLUMN old_column;
