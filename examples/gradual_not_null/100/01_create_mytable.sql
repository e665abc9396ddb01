-- Release N (schema 100): the application reads and writes old_column.
CREATE TABLE mytable (
    id $%AUTO_INCREMENT_PRIMARY_KEY%$,
    old_column INTEGER
);
