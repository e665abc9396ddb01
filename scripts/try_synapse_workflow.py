#!/usr/bin/python3
"""Synapse's schema workflow with tools/bgupdate against Synapse's real schema
directory (synapse/storage/schema of a Synapse checkout; not shipped here):

1. split databases: `migrate --db main=… --db state=…`, tables per physical database;
2. a snapshot of the newest version made from a migrated database, re-applied to a
   fresh database, schemas compared through the catalog;
3. a port of a SQLite database filled with sample rows in the tables that have boolean
   columns, with row counts and time.

Synapse's background updates are Python code that bgupdate cannot run: steps 2 and 3
end the queued updates on the (empty or sample-filled) databases with end_update()
instead, which is what running them on an empty database amounts to apart from the
indexes some of them build.

    scripts/try_synapse_workflow.py SCHEMA_DIR PG_ADMIN_CONNINFO [ROWS_PER_TABLE]
PG_ADMIN_CONNINFO names a database of a server where this role may create databases
(…dbname=postgres); databases named synapse_try_* are created there and dropped."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
TOOL = os.path.join(ROOT, "tools", "bgupdate")
EXTENSION = os.path.join(ROOT, "sqlite_extension", "bgupdate")
OURS = ("background_updates", "schema_version", "schema_compat_version", "applied_schema_deltas")


def tool(*args):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"bgupdate {' '.join(args[:1])} failed (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


class Pg:
    def __init__(self, admin, name):
        self.admin = admin
        self.name = name
        a = psycopg2.connect(admin)
        a.autocommit = True
        with a.cursor() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        a.close()
        self.url = admin.replace("dbname=postgres", f"dbname={name}")
        self.conn = psycopg2.connect(self.url)
        self.conn.autocommit = True
        self.sql("CREATE EXTENSION bgupdate")

    def sql(self, text, args=None):
        with self.conn.cursor() as c:
            c.execute(text, args)
            return c.fetchall() if c.description else []

    def tables(self):
        return {r[0] for r in self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def end_updates(self):
        self.sql("SELECT bgupdate.end_update(update_name) FROM bgupdate.background_updates")

    def drop(self):
        self.conn.close()
        a = psycopg2.connect(self.admin)
        a.autocommit = True
        with a.cursor() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        a.close()


class Lite:
    def __init__(self, path):
        self.path = path
        self.url = "sqlite://" + path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.enable_load_extension(True)
        self.conn.load_extension(EXTENSION)

    def sql(self, text, args=()):
        return self.conn.execute(text, args).fetchall()

    def tables(self):
        return {r[0] for r in self.sql("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN"
                                       " ('table', 'virtual') AND name NOT LIKE 'sqlite_%'"
                                       " AND name NOT LIKE 'bgupdate_%'") if r[0] not in OURS}

    def shadow(self):
        return {r[0] for r in self.sql("SELECT name FROM pragma_table_list WHERE type = 'shadow'")}

    def end_updates(self):
        for (name,) in self.sql("SELECT update_name FROM background_updates"):
            self.sql("SELECT bgupdate_end_update(?)", (name,))


def catalog_pg(db):
    return {
        "columns": set(db.sql("SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity"
                              " FROM information_schema.columns WHERE table_schema = 'public'"
                              " AND table_name NOT IN %s", (OURS,))),
        "indexes": set(db.sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")),
        "constraints": set(db.sql("SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid)"
                                  " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                                  " WHERE n.nspname = 'public'")),
        "functions": set(db.sql("SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n"
                                " ON n.oid = p.pronamespace WHERE n.nspname = 'public'")),
        "triggers": set(db.sql("SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c"
                               " ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = 'public' AND NOT t.tgisinternal")),
        "sequences": set(db.sql("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")),
        "views": set(db.sql("SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'"
                            " AND viewname NOT IN %s", (OURS,))),
    }


def catalog_lite(db):
    return {"objects": {r for r in db.sql("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
                                          " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'bgupdate_%'")
                        if r[2] not in OURS}}


def compare(a, b):
    diffs = {k: (len(a[k] - b[k]), len(b[k] - a[k])) for k in a if a[k] != b[k]}
    sizes = {k: len(v) for k, v in a.items()}
    return sizes, diffs


def sample_value(data_type, char_len, column, i, nullable):
    if nullable and i % 7 == 3:
        return None
    if data_type == "boolean":
        return i % 2
    if data_type in ("smallint", "integer", "bigint"):
        return i
    if data_type in ("numeric", "double precision", "real"):
        return i * 1.5
    if data_type == "bytea":
        return bytes([i % 256, 0, 255])
    if data_type in ("json", "jsonb"):
        return json.dumps({"i": i})
    if data_type == "ARRAY":
        return "{}"
    text = f"{column}_{i}"
    return text[-char_len:] if char_len else text


def fill_boolean_tables(lite, pg, rows_per_table):
    """Sample rows in the SQLite file for every table that has a boolean column in PostgreSQL's
    schema (the ones Synapse's port script keeps a hand-written list for)."""
    tables = [r[0] for r in pg.sql("SELECT DISTINCT c.table_name FROM information_schema.columns c"
                                   " JOIN information_schema.tables t USING (table_schema, table_name)"
                                   " WHERE c.table_schema = 'public' AND c.data_type = 'boolean'"
                                   " AND t.table_type = 'BASE TABLE' ORDER BY 1")]
    # Skip tables the PostgreSQL side guards with foreign keys or triggers: sample rows cannot satisfy those.
    guarded = {r[0] for r in pg.sql("SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
                                    " UNION SELECT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")}
    filled, skipped = {}, {}
    for t in tables:
        if t in guarded or t not in lite.tables():
            skipped[t] = "foreign key or trigger" if t in guarded else "not in SQLite"
            continue
        cols = pg.sql("SELECT column_name, data_type, character_maximum_length, is_nullable = 'YES',"
                      " is_generated = 'ALWAYS' OR is_identity = 'YES' FROM information_schema.columns"
                      " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (t,))
        lite_cols = {r[1].lower(): r[1] for r in lite.sql(f'SELECT cid, name FROM pragma_table_info("{t}")')}
        cols = [c for c in cols if c[0].lower() in lite_cols and not c[4]]
        names = ", ".join(f'"{lite_cols[c[0].lower()]}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        lite.sql("SAVEPOINT fill")
        try:
            for i in range(1, rows_per_table + 1):
                lite.sql(f'INSERT INTO "{t}" ({names}) VALUES ({marks})',
                         tuple(sample_value(c[1], c[2], c[0], i, c[3]) for c in cols))
            lite.sql("RELEASE fill")
            filled[t] = rows_per_table
        except sqlite3.Error as e:
            lite.sql("ROLLBACK TO fill")
            lite.sql("RELEASE fill")
            skipped[t] = str(e)
    return filled, skipped


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema, admin = sys.argv[1], sys.argv[2]
    rows_per_table = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    tmp = tempfile.mkdtemp(prefix="synapse_try_")
    made = []

    print("== 1. split databases (common + main, common + state)")
    lm, ls = Lite(os.path.join(tmp, "main.db")), Lite(os.path.join(tmp, "state.db"))
    tool("migrate", "--db", f"main={lm.url}", "--db", f"state={ls.url}", schema)
    pm, ps = Pg(admin, "synapse_try_main"), Pg(admin, "synapse_try_state")
    made += [pm, ps]
    tool("migrate", "--db", f"main={pm.url}", "--db", f"state={ps.url}", schema)
    for engine, m, s in (("sqlite", lm, ls), ("postgresql", pm, ps)):
        vm = m.sql(("SELECT version FROM " + ("bgupdate." if engine == "postgresql" else "") + "schema_version"))[0][0]
        vs = s.sql(("SELECT version FROM " + ("bgupdate." if engine == "postgresql" else "") + "schema_version"))[0][0]
        both = m.tables() & s.tables()
        print(f"{engine}: main+common {len(m.tables())} tables (version {vm}), state+common {len(s.tables())} tables"
              f" (version {vs}); in both: {sorted(both)}")
    st = json.loads(tool("status", "--json", "--db", f"main={pm.url}", "--db", f"state={ps.url}").stdout)
    print("postgresql queues:", {d["database"]: len(d["updates"]) for d in st["databases"]}, "total", st["total"])

    print("== 2. snapshot of the newest version, re-applied to a fresh database")
    for engine in ("sqlite", "postgresql"):
        if engine == "sqlite":
            orig, fresh = Lite(os.path.join(tmp, "whole.db")), Lite(os.path.join(tmp, "fresh.db"))
        else:
            orig, fresh = Pg(admin, "synapse_try_whole"), Pg(admin, "synapse_try_fresh")
            made += [orig, fresh]
        tool("migrate", "--db", orig.url, schema)
        orig.end_updates()
        out = os.path.join(tmp, f"snapshot_{engine}")
        t0 = time.time()
        snap = json.loads(tool("snapshot", "--json", "--db", orig.url, "--out", out).stdout)
        took = time.time() - t0
        mig = json.loads(tool("migrate", "--json", "--db", fresh.url, out).stdout)
        a, b = (catalog_pg(orig), catalog_pg(fresh)) if engine == "postgresql" else (catalog_lite(orig), catalog_lite(fresh))
        sizes, diffs = compare(a, b)
        again = os.path.join(tmp, f"again_{engine}")
        tool("snapshot", "--json", "--db", fresh.url, "--out", again)
        rel = os.path.relpath(snap["file"], out)
        same = open(snap["file"], "rb").read() == open(os.path.join(again, rel), "rb").read()
        print(f"{engine}: {rel}: {snap['statements']} statements, {snap['tables']} tables, {snap['rows']} rows,"
              f" {os.path.getsize(snap['file'])} bytes in {took:.2f}s ({snap['made_by']}); fresh database at version"
              f" {mig['version']} from {mig['snapshot_files']} file; catalog {sizes}; differences {diffs or 'none'};"
              f" snapshot of the fresh database byte-identical: {same}")

    print("== 3. port of a SQLite database filled with sample rows in the tables with boolean columns")
    src, dst = Lite(os.path.join(tmp, "port_source.db")), Pg(admin, "synapse_try_port")
    made.append(dst)
    tool("migrate", "--db", src.url, schema)
    tool("migrate", "--db", dst.url, schema)
    src.end_updates()
    dst.end_updates()
    filled, skipped = fill_boolean_tables(src, dst, rows_per_table)
    print(f"filled {len(filled)} tables with {sum(filled.values())} rows; skipped {len(skipped)}: {skipped}")
    t0 = time.time()
    r = subprocess.run([TOOL, "port", "--json", "--from", src.url, "--to", dst.url], capture_output=True, text=True)
    took = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"port failed (exit {r.returncode}): {r.stdout[-3000:]} {r.stderr[-3000:]}")
    out = json.loads(r.stdout)
    nonempty = {t["table"]: t["target_rows"] for t in out["tables"] if t["target_rows"]}
    bools = dst.sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
                    " AND data_type = 'boolean' AND table_name = ANY(%s)", (list(filled),))[0][0]
    print(f"port: {out['result']}; {len(out['tables'])} tables, {out['rows']} rows in {took:.2f}s wall"
          f" ({out['seconds']:.2f}s copying), {bools} boolean columns among the filled tables")
    print("non-empty tables (rows):", nonempty)
    # Every boolean column: as many true, false and NULL on both sides.
    checked, wrong = 0, []
    for t in filled:
        for (col,) in dst.sql("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                              " AND table_name = %s AND data_type = 'boolean'", (t,)):
            lite_col = [r[1] for r in src.sql(f'SELECT cid, name FROM pragma_table_info("{t}")') if r[1].lower() == col][0]
            a = src.sql(f'SELECT count(*) FILTER (WHERE "{lite_col}" != 0), count(*) FILTER (WHERE "{lite_col}" = 0),'
                        f' count(*) FILTER (WHERE "{lite_col}" IS NULL) FROM "{t}"')[0]
            b = dst.sql(f'SELECT count(*) FILTER (WHERE "{col}"), count(*) FILTER (WHERE NOT "{col}"),'
                        f' count(*) FILTER (WHERE "{col}" IS NULL) FROM "{t}"')[0]
            checked += 1
            if tuple(a) != tuple(b):
                wrong.append((t, col, a, b))
    print(f"boolean columns with the same true/false/NULL counts on both sides: {checked - len(wrong)}/{checked}",
          wrong or "")
    print("notes:", len(out["notes"]), "warnings:", len(out["warnings"]), "sequences moved:", len(out["sequences"]))
    for w in out["warnings"][:3]:
        print("  warning:", w)
    for db in made:
        db.drop()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
