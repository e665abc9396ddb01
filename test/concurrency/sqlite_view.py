"""Reads what final_checks needs from the SQLite database file."""
from database_view import DatabaseView
from sqlite_setup import table_name


class SqliteView(DatabaseView):
    def __init__(self, db):
        self.db = db

    def _rows(self, sql, params=()):
        return self.db.execute(sql, params).fetchall()

    table = staticmethod(table_name)

    def describe(self, name):
        done = self._rows("SELECT bgupdate_has_completed(?)", (name,))[0][0]
        cur = self.db.execute("SELECT * FROM bgupdate_state WHERE update_name = ?", (name,))
        row = cur.fetchone()
        state = dict(zip([d[0] for d in cur.description], row)) if row else None
        return f"has_completed {done}, bgupdate_state {state}"

    def array_lengths(self, u):
        return dict(self._rows(f"SELECT id, json_array_length(arr) FROM {table_name(u)}"))

    def constraint_validated(self, u, name):
        return True  # SQLite's validate step is a no-op (README): the rows are what counts

    def index_state(self, u):
        exists = bool(self._rows("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (u.index_name,)))
        return exists, exists
