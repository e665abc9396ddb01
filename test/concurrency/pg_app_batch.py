"""One application-run batch on PostgreSQL, the way an application writes
it (its transaction is the batch), in one of the ways the checker varies it:

  normal               BEGIN; batch_begin(); work; batch_end(); COMMIT
  rollback_before_end  ...work; ROLLBACK (recorded as a failure later)
  batch_fail           ...work; batch_fail() raises; ROLLBACK
  end_then_rollback    ...work; batch_end(); ROLLBACK (work and record gone)
  commit_before_end    BEGIN; batch_begin(); COMMIT; then batch_end() must fail

The work: one log row per row after the last one done. While a failure
window is open on the update, the application reports a failure."""
import json

import psycopg2

from pg_context import Lost, first_line
from pg_setup import qualified

VARIANTS = {"normal": 80, "rollback_before_end": 5, "batch_fail": 4, "end_then_rollback": 4, "commit_before_end": 3}


def app_batch(db, rnd, variant, violation):
    """db: a pg_context.Conn; violation(kind, message) reports what the
    protocol must refuse but accepted. Returns an outcome word."""
    db.run("BEGIN", fetch=False)
    try:
        return _batch(db, rnd, variant, violation)
    except psycopg2.Error as e:
        db.rollback_quietly()
        if e.pgcode == "57014":
            return "canceled"
        raise
    except BaseException:
        db.rollback_quietly()
        raise


def _batch(db, rnd, variant, violation):
    b = db.one("SELECT bgupdate.batch_begin()")
    name = b.get("update_name")
    if not name:
        db.run("COMMIT", fetch=False)
        return "lock timeout" if b.get("lock_timeout") else "nothing to run"
    u = rnd.update(name)
    if u is None:  # not the round's (a probe's): leave it
        db.run("ROLLBACK", fetch=False)
        return "not the round's"
    if db.one("SELECT EXISTS (SELECT 1 FROM chk.faults WHERE update_name = %s AND until_at > clock_timestamp())",
              (name,)):
        variant = "batch_fail"
    if variant == "commit_before_end":
        # A COMMIT with the batch still open is refused (25000): it would
        # commit the batch's work without its progress. The transaction rolls
        # back and the next batch_begin() records the failure.
        try:
            db.run("COMMIT", fetch=False)
            violation("COMMIT with the batch open accepted",
                      f"{name}: COMMIT before batch_end() went through")
        except psycopg2.Error as e:
            if getattr(e, "pgcode", None) != "25000":
                raise
            db.rollback_quietly()
        try:
            db.run("SELECT bgupdate.batch_end(0)")
            violation("batch_end() outside its transaction accepted",
                      f"{name}: batch_end(0) after COMMIT returned without an error")
        except psycopg2.Error:
            db.rollback_quietly()
        return "commit before batch_end refused"
    last = (b.get("progress") or {}).get("last_id", -1)
    size = b["batch_size"]
    ids = [r[0] for r in db.run(f"SELECT id FROM {qualified(u)} WHERE id > %s ORDER BY id LIMIT %s", (last, size))]
    hi = ids[-1] if ids else last
    if ids:
        db.run(f"INSERT INTO {qualified(u.owner, u.log_table)} (id) SELECT id FROM {qualified(u)} "
               "WHERE id > %s AND id <= %s", (last, hi), fetch=False)
    if variant == "rollback_before_end":
        db.run("ROLLBACK", fetch=False)
        return "rollback before batch_end"
    if variant == "batch_fail":
        try:
            db.run("SELECT bgupdate.batch_fail(%s)", (f"injected fault in {name} (batch_fail)",))
            violation("batch_fail() did not raise", f"{name}: batch_fail() returned")
        except psycopg2.Error as e:
            if getattr(e, "pgcode", None) in ("57P01", "57P02") or db.conn is None or db.conn.closed:
                raise Lost(first_line(e)) from e
        db.run("ROLLBACK", fetch=False)
        return "batch_fail"
    out = db.one("SELECT bgupdate.batch_end(%s, %s, %s)", (len(ids), json.dumps({"last_id": hi}), len(ids) < size))
    if variant == "end_then_rollback":
        db.run("ROLLBACK", fetch=False)
        return "batch_end then rollback"
    db.run("COMMIT", fetch=False)
    return "batch failed" if out.get("error") else "committed"
