"""Reads what final_checks needs from the SQLite database file."""
import json

from sqlite_setup import table_name


class SqliteView:
    def __init__(self, db):
        self.db = db

    def _rows(self, sql, params=()):
        return self.db.execute(sql, params).fetchall()

    def status(self):
        rows = self._rows("SELECT update_name, state, items_done, batches, attempts, last_error FROM bgupdate_status")
        return {r[0]: {"state": r[1], "items_done": r[2], "batches": r[3], "attempts": r[4], "last_error": r[5]}
                for r in rows}

    def describe(self, name):
        done = self._rows("SELECT bgupdate_has_completed(?)", (name,))[0][0]
        cur = self.db.execute("SELECT * FROM bgupdate_state WHERE update_name = ?", (name,))
        row = cur.fetchone()
        state = dict(zip([d[0] for d in cur.description], row)) if row else None
        return f"has_completed {done}, bgupdate_state {state}"

    def history(self, name):
        out = []
        for i, event, batches, items, detail in self._rows(
                "SELECT id, event, batches, items, detail FROM bgupdate_history WHERE update_name = ? ORDER BY id",
                (name,)):
            try:
                d = json.loads(detail) if detail else None
            except ValueError:
                d = detail
            out.append({"id": i, "event": event, "batches": batches, "items": items, "detail": d})
        return out

    def column_values(self, u, column):
        return dict(self._rows(f"SELECT id, {column} FROM {table_name(u)}"))

    def array_lengths(self, u):
        return dict(self._rows(f"SELECT id, json_array_length(arr) FROM {table_name(u)}"))

    def log_ids(self, u):
        return [r[0] for r in self._rows(f"SELECT id FROM {table_name(u.owner, u.log_table)}")]

    def vd_rows(self, u):
        return dict(self._rows(f"SELECT id, v FROM {table_name(u)}"))

    def constraint_validated(self, u, name):
        return True  # SQLite's validate step is a no-op (README): the rows are what counts

    def index_state(self, u):
        exists = bool(self._rows("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (u.index_name,)))
        return exists, exists
