"""Reads what final_checks needs from a PostgreSQL database (as superuser,
so row security shows every role's rows)."""
import json

from pg_setup import qualified


class PgView:
    def __init__(self, conn):
        self.conn = conn

    def _rows(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall()

    def status(self):
        rows = self._rows("SELECT update_name, state, items_done, batches, attempts, last_error FROM bgupdate.status")
        return {r[0]: {"state": r[1], "items_done": r[2], "batches": r[3], "attempts": r[4], "last_error": r[5]}
                for r in rows}

    def describe(self, name):
        """What the extension's own tables say about an update, for a report."""
        q = self._rows("SELECT bgupdate.has_completed(%s), (SELECT row_to_json(s)::text FROM bgupdate.update_state s "
                       "WHERE s.update_name = %s)", (name, name))
        return f"has_completed {q[0][0]}, update_state {q[0][1]}"

    def history(self, name):
        out = []
        for i, event, batches, items, detail in self._rows(
                "SELECT id, event, batches, items, detail FROM bgupdate.update_history WHERE update_name = %s "
                "ORDER BY id", (name,)):
            try:
                d = json.loads(detail) if detail else None
            except ValueError:
                d = detail
            out.append({"id": i, "event": event, "batches": batches, "items": items, "detail": d})
        return out

    def column_values(self, u, column):
        return dict(self._rows(f"SELECT id, {column} FROM {qualified(u)}"))

    def array_lengths(self, u):
        return dict(self._rows(f"SELECT id, cardinality(arr) FROM {qualified(u)}"))

    def log_ids(self, u):
        return [r[0] for r in self._rows(f"SELECT id FROM {qualified(u.owner, u.log_table)}")]

    def vd_rows(self, u):
        return dict(self._rows(f"SELECT id, v FROM {qualified(u)}"))

    def constraint_validated(self, u, name):
        rows = self._rows("SELECT convalidated FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                          (qualified(u), name))
        return bool(rows and rows[0][0])

    def index_state(self, u):
        rows = self._rows("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
                          (qualified(u.owner, u.index_name),))
        return (bool(rows), bool(rows and rows[0][0]))
