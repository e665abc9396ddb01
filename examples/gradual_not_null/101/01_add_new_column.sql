-- Release N+1 (schema 101): the application writes both columns, still reads old_column.
-- No NOT VALID constraint yet: release N (still compatible) does not write new_column.
ALTER TABLE mytable ADD COLUMN new_column INTEGER;
