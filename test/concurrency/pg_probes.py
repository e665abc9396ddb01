"""Probes that tell which of the coming behaviours this build has, run once
before the first round on updates of their own (never the round's):

  own_role_only  a session runs only its own role's updates: a superuser's
                 step() leaves another role's update waiting
  rereg_refused  re-registering a queued, half-done update with a different
                 definition raises (the same definition is always accepted)
  nested_refused a bgupdate call inside a running batch raises
  reset          reset(name) forgets an update so that it can be registered anew

A behaviour that is absent is noted, not failed; one that is present is
then exercised by the actors, and every deviation is a violation. The
worker is off while they run (the server starts with it off), so that the
sessions meet the probes' updates first."""
import psycopg2

PROBE_NAMES = ("probe_owner", "probe_rereg", "probe_nested")


def _one(cur, sql, params=None):
    cur.execute(sql, params)
    return cur.fetchone()[0]


def probe_own_role_only(server):
    alice = server.wait_ready(user="chk_alice", dbname="checker", app="checker-probe")
    alice.autocommit = True
    a = alice.cursor()
    a.execute("CREATE TABLE alice.probe_owner (id bigint PRIMARY KEY, c int NOT NULL DEFAULT 0)")
    a.execute("INSERT INTO alice.probe_owner (id) VALUES (1)")
    a.execute("SELECT bgupdate.register_batched_update('probe_owner', 'alice.probe_owner', ARRAY['id'], 'c = c + 1')")
    a.execute("SELECT bgupdate.enqueue('probe_owner', -100)")
    su = server.wait_ready(dbname="checker", app="checker-probe")
    out = _one(su.cursor(), "SELECT bgupdate.step()")
    su.close()
    if out.get("update_name") != "probe_owner":
        _one(a, "SELECT bgupdate.step()")  # Alice runs her own
    alice.close()
    if out.get("update_name") == "probe_owner":
        return False, "a superuser's step() ran chk_alice's update"
    whys = [w.get("why") for w in out.get("waiting") or [] if w.get("update_name") == "probe_owner"]
    return "owned_by_another_role" in whys, f"a superuser's step() left chk_alice's update waiting (why: {whys})"


def probe_reregistration(server, report, has_reset):
    alice = server.wait_ready(user="chk_alice", dbname="checker", app="checker-probe")
    alice.autocommit = True
    a = alice.cursor()
    a.execute("CREATE TABLE alice.probe_rereg (id bigint PRIMARY KEY, c int NOT NULL DEFAULT 0)")
    a.execute("INSERT INTO alice.probe_rereg (id) VALUES (1), (2), (3)")
    reg = "SELECT bgupdate.register_batched_update('probe_rereg', 'alice.probe_rereg', ARRAY['id'], %s)"
    a.execute(reg, ("c = c + 1",))
    a.execute("SELECT bgupdate.enqueue('probe_rereg', -100, NULL, '{\"lower_bound\": [1]}')")
    a.execute("SELECT bgupdate.pause('probe_rereg')")
    try:
        a.execute(reg, ("c = c + 1",))
        same_ok, same_err = True, ""
    except psycopg2.Error as e:
        same_ok, same_err = False, str(e).strip()
    report.check(same_ok, "re-registration with the same definition refused",
                 f"probe_rereg: registering the same definition again failed: {same_err}")
    try:
        a.execute(reg, ("c = c + 1000",))
        refused, detail = False, "accepted"
    except psycopg2.Error as e:
        refused, detail = True, f"{e.pgcode} {str(e).strip().splitlines()[0]}"
    if refused and has_reset:
        try:
            a.execute("SELECT bgupdate.reset('probe_rereg')")
            a.execute(reg, ("c = c + 1000",))
            report.check(True, "reset does not allow a new definition", "")
        except psycopg2.Error as e:
            report.check(False, "reset does not allow a new definition",
                         f"probe_rereg: reset() then registering a new definition failed: {str(e).strip()}")
    a.execute("DELETE FROM bgupdate.background_updates WHERE update_name = 'probe_rereg'")
    alice.close()
    return refused, f"re-registering a paused, half-done update with another set_clause: {detail}"


def probe_nested(server):
    su = server.wait_ready(dbname="checker", app="checker-probe")
    su.autocommit = True
    s = su.cursor()
    s.execute("""
CREATE FUNCTION su.h_probe_nested(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM chk.nested WHERE update_name = 'probe_nested') THEN
    INSERT INTO chk.nested VALUES ('probe_nested', 'trying', NULL, NULL);  -- a nested run of this handler stops here
    PERFORM chk.try_nested('probe_nested');
  END IF;
  PERFORM bgupdate.end_update('probe_nested');
  RETURN 1;
END $f$""")
    s.execute("SELECT bgupdate.register_update_handler('probe_nested', 'su.h_probe_nested(jsonb,integer)')")
    s.execute("SELECT bgupdate.enqueue('probe_nested', -100)")
    try:
        s.execute("SELECT bgupdate.finish('probe_nested')")
    except psycopg2.Error as e:
        return None, f"finish('probe_nested') failed: {str(e).strip()}"
    s.execute("SELECT outcome, sqlstate, message FROM chk.nested WHERE update_name = 'probe_nested' "
              "AND outcome <> 'trying'")
    rows = s.fetchall()
    s.execute("DELETE FROM chk.nested")
    su.close()
    if not rows:
        return None, "the probe's handler recorded nothing"
    outcome, code, message = rows[0]
    if outcome == "refused" and code == "55000":
        return True, f"step() inside a batch refused: {code} {message}"
    return False, f"step() inside a batch: {outcome} {code or ''} {message or ''}".strip()
