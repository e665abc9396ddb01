"""PostgreSQL set-up for the checker: roles and their schemas, the means to
inject failures (a statement trigger or a handler line that raises while
chk.faults says so), and each round's tables, handlers and registrations,
made by the role that owns them."""
import json

from plan import CHECK_CONSTRAINT

# Owner key (the plan's) -> role. Two ordinary roles and a superuser, so that
# sessions of several roles meet, and a superuser's session meets others' updates.
ROLES = {"alice": "chk_alice", "bob": "chk_bob", "su": "postgres"}
OWNERS = list(ROLES)

COMMON_SQL = """
CREATE EXTENSION bgupdate;
CREATE ROLE chk_alice LOGIN;
CREATE ROLE chk_bob LOGIN;
CREATE SCHEMA alice AUTHORIZATION chk_alice;
CREATE SCHEMA bob AUTHORIZATION chk_bob;
CREATE SCHEMA su;
CREATE SCHEMA chk;
GRANT USAGE ON SCHEMA chk TO PUBLIC;
-- A fault window per update: while until_at is in the future its batches raise.
CREATE TABLE chk.faults (update_name text PRIMARY KEY, until_at timestamptz NOT NULL);
GRANT SELECT ON chk.faults TO PUBLIC;
CREATE FUNCTION chk.fault(n text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM chk.faults WHERE update_name = n AND until_at > clock_timestamp()) THEN
    RAISE EXCEPTION 'injected fault in %', n;
  END IF;
  RETURN 0;
END $$;
CREATE FUNCTION chk.fault_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM chk.fault(TG_ARGV[0]);
  RETURN NULL;
END $$;
-- Calls into bgupdate from inside a running batch, and what became of them.
CREATE TABLE chk.knobs (nested_rate float8 NOT NULL);
INSERT INTO chk.knobs VALUES (0);
GRANT SELECT ON chk.knobs TO PUBLIC;
CREATE TABLE chk.nested (update_name text, outcome text, sqlstate text, message text);
GRANT INSERT ON chk.nested TO PUBLIC;
CREATE FUNCTION chk.try_nested(n text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM bgupdate.step();
    INSERT INTO chk.nested VALUES (n, 'accepted', NULL, NULL);
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO chk.nested VALUES (n, 'refused', SQLSTATE, SQLERRM);
  END;
END $$;
"""


def qualified(u_or_owner, table=None):
    if table is None:
        return f"{u_or_owner.owner}.{u_or_owner.table}"
    return f"{u_or_owner}.{table}"


def _handler_sql(u):
    """The generic handler of a gen_* update: the rows after the last one
    done, one element appended (or one log row) per row, progress saved;
    the update ends when a batch finds fewer rows than asked for."""
    tbl = qualified(u)
    if u.kind == "gen_array":
        work = f"UPDATE {tbl} SET arr = arr || 1 WHERE id > last AND id <= hi;"
    else:
        work = f"INSERT INTO {qualified(u.owner, u.log_table)} (id) SELECT id FROM {tbl} WHERE id > last AND id <= hi;"
    return f"""
CREATE FUNCTION {u.owner}.h_{u.name}(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $f$
DECLARE last bigint := coalesce((progress->>'last_id')::bigint, -1); hi bigint; n int;
BEGIN
  PERFORM chk.fault('{u.name}');
  IF random() < (SELECT nested_rate FROM chk.knobs) THEN PERFORM chk.try_nested('{u.name}'); END IF;
  SELECT max(id), count(*) INTO hi, n FROM (SELECT id FROM {tbl} WHERE id > last ORDER BY id LIMIT batch_size) s;
  IF n > 0 THEN
    {work}
    PERFORM bgupdate.update_progress('{u.name}', jsonb_build_object('last_id', hi));
  END IF;
  IF n < batch_size THEN PERFORM bgupdate.end_update('{u.name}'); END IF;
  RETURN n;
END $f$;"""


def create_round(conn, rnd):
    """Tables and handlers of every owner, then each owner registers and
    queues its updates in one transaction (the worker sees a whole plan)."""
    cur = conn.cursor()
    for owner in OWNERS:
        cur.execute("BEGIN")
        cur.execute(f"SET LOCAL ROLE {ROLES[owner]}")
        for (o, name), t in rnd.tables.items():
            if o != owner:
                continue
            q = qualified(o, name)
            if name.startswith("t_"):
                cur.execute(f"CREATE TABLE {q} (id bigint PRIMARY KEY, c int NOT NULL DEFAULT 0, d int NOT NULL DEFAULT 0)")
            elif name.startswith("g_"):
                cur.execute(f"CREATE TABLE {q} (id bigint PRIMARY KEY, arr int[] NOT NULL DEFAULT '{{}}')")
            elif name.startswith("a_"):
                cur.execute(f"CREATE TABLE {q} (id bigint PRIMARY KEY)")
            elif name.startswith("v_"):
                cur.execute(f"CREATE TABLE {q} (id bigint PRIMARY KEY, v int)")
            if name.startswith("v_"):
                # Good rows hold final_checks.vd_value(id); breaking rows NULL.
                cur.execute(f"INSERT INTO {q} (id, v) SELECT k, CASE WHEN k = ANY(%s) THEN NULL ELSE k %% 97 + 1 END "
                            f"FROM unnest(%s::bigint[]) k", (sorted(t.bad), t.keys))
            else:
                cur.execute(f"INSERT INTO {q} (id) SELECT unnest(%s::bigint[])", (t.keys,))
        for u in rnd.updates:
            if u.owner != owner:
                continue
            tbl = qualified(u)
            if u.kind in ("gen_log", "app"):
                cur.execute(f"CREATE TABLE {qualified(u.owner, u.log_table)} (id bigint NOT NULL)")
            if u.kind == "bump":
                cur.execute(f"CREATE TRIGGER fault_c BEFORE UPDATE OF c ON {tbl} FOR EACH STATEMENT "
                            f"EXECUTE FUNCTION chk.fault_trigger('{u.name}')")
                cur.execute("SELECT bgupdate.register_batched_update(%s, %s, ARRAY['id'], 'c = c + 1')", (u.name, tbl))
            elif u.kind == "bump2":
                cur.execute(f"CREATE TRIGGER fault_d BEFORE UPDATE OF d ON {tbl} FOR EACH STATEMENT "
                            f"EXECUTE FUNCTION chk.fault_trigger('{u.name}')")
                cur.execute("SELECT bgupdate.register_batched_update(%s, %s, ARRAY['id'], 'd = d + 1')", (u.name, tbl))
            elif u.kind == "idx":
                cur.execute("SELECT bgupdate.register_index_update(%s, %s, %s, ARRAY['c'])",
                            (u.name, u.index_name, tbl))
            elif u.kind in ("gen_array", "gen_log"):
                cur.execute(_handler_sql(u))
                cur.execute("SELECT bgupdate.register_update_handler(%s, %s)",
                            (u.name, f"{u.owner}.h_{u.name}(jsonb,integer)"))
            elif u.kind == "app":
                cur.execute("SELECT bgupdate.register_application_update(%s)", (u.name,))
            elif u.kind == "vc":
                cur.execute(f"ALTER TABLE {tbl} ADD CONSTRAINT {CHECK_CONSTRAINT} CHECK (id > 0) NOT VALID")
                cur.execute("SELECT bgupdate.register_validate_constraint(%s, %s, %s)", (u.name, CHECK_CONSTRAINT, tbl))
            elif u.kind == "vd":
                cur.execute(f"CREATE TRIGGER fault_v BEFORE DELETE ON {tbl} FOR EACH STATEMENT "
                            f"EXECUTE FUNCTION chk.fault_trigger('{u.name}')")
                rule = json.dumps({"not_null": "v"})
                cur.execute("SELECT bgupdate.register_validate_constraint_and_delete_rows(%s, %s, 'v_not_null', %s, "
                            "ARRAY['id'])", (u.name, tbl, rule))
        for u in rnd.updates:
            if u.owner != owner:
                continue
            if u.kind == "vd":
                cur.execute("SELECT bgupdate.add_constraint_and_enqueue(%s, %s, %s, 'v_not_null', %s)",
                            (u.ordering, u.name, qualified(u), json.dumps({"not_null": "v"})))
            else:
                cur.execute("SELECT bgupdate.enqueue(%s, %s, %s)", (u.name, u.ordering, u.depends_on or None))
        cur.execute("COMMIT")


def catalog_features(conn):
    """Which of the coming functions this build has (detected, never assumed)."""
    cur = conn.cursor()
    cur.execute("SELECT proname, pronargs FROM pg_proc WHERE pronamespace = 'bgupdate'::regnamespace")
    procs = {}
    for name, nargs in cur.fetchall():
        procs.setdefault(name, set()).add(nargs)
    return {
        "cancel": "cancel" in procs,
        "reset": "reset" in procs,
        "finish_timeout": bool(procs.get("finish", set()) & {2}),
    }
