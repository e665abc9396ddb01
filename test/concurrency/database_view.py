"""What final_checks reads from a database, said once for both engines.
A subclass gives the engine's pieces: how to run a query, its parameter
placeholder, the names of the extension's status view and history table,
how to name a user table, and the engine-only reads (array length, index
and constraint state)."""
import json


class DatabaseView:
    PARAM = "?"
    STATUS = "bgupdate_status"
    HISTORY = "bgupdate_history"

    def _rows(self, sql, params=()):
        raise NotImplementedError

    def table(self, u, name=None):
        raise NotImplementedError

    def status(self):
        rows = self._rows(f"SELECT update_name, state, items_done, batches, attempts, last_error FROM {self.STATUS}")
        return {r[0]: {"state": r[1], "items_done": r[2], "batches": r[3], "attempts": r[4], "last_error": r[5]}
                for r in rows}

    def history(self, name):
        out = []
        for i, event, batches, items, detail in self._rows(
                f"SELECT id, event, batches, items, detail FROM {self.HISTORY} WHERE update_name = {self.PARAM} "
                "ORDER BY id", (name,)):
            try:
                d = json.loads(detail) if detail else None
            except ValueError:
                d = detail
            out.append({"id": i, "event": event, "batches": batches, "items": items, "detail": d})
        return out

    def column_values(self, u, column):
        return dict(self._rows(f"SELECT id, {column} FROM {self.table(u)}"))

    def log_ids(self, u):
        return [r[0] for r in self._rows(f"SELECT id FROM {self.table(u.owner, u.log_table)}")]

    def vd_rows(self, u):
        return dict(self._rows(f"SELECT id, v FROM {self.table(u)}"))
