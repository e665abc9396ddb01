"""Reads what final_checks needs from a PostgreSQL database (as superuser,
so row security shows every role's rows)."""
from database_view import DatabaseView
from pg_setup import qualified


class PgView(DatabaseView):
    PARAM = "%s"
    STATUS = "bgupdate.status"
    HISTORY = "bgupdate.update_history"

    def __init__(self, conn):
        self.conn = conn

    def _rows(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall()

    table = staticmethod(qualified)

    def describe(self, name):
        """What the extension's own tables say about an update, for a report."""
        q = self._rows("SELECT bgupdate.has_completed(%s), (SELECT row_to_json(s)::text FROM bgupdate.update_state s "
                       "WHERE s.update_name = %s)", (name, name))
        return f"has_completed {q[0][0]}, update_state {q[0][1]}"

    def array_lengths(self, u):
        return dict(self._rows(f"SELECT id, cardinality(arr) FROM {qualified(u)}"))

    def constraint_validated(self, u, name):
        rows = self._rows("SELECT convalidated FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                          (qualified(u), name))
        return bool(rows and rows[0][0])

    def index_state(self, u):
        rows = self._rows("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
                          (qualified(u.owner, u.index_name),))
        return (bool(rows), bool(rows and rows[0][0]))
