-- Release N (schema 100): the application reads and writes old_column.
CREATE TABLE mytable (
    id INTEGER PRIMARY KEY,
    old_column INTEGER
);
