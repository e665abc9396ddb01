"""A small application laid out as Synapse lays out its schema: logical
databases `main` and `state` plus `common` (applied to every physical
database), full-schema snapshots and deltas for both engines, queued
background updates, booleans, an identity column, bytea/json/numeric columns,
a table without a primary key, views, an index, a PostgreSQL trigger function.
Shared by the split-database, snapshot and port tests."""
import os

from test_cli import Engine, PG_ADMIN, write_tree  # noqa: F401  (re-exported for the tests)

QUEUE = ("CREATE TABLE background_updates (update_name text NOT NULL, progress_json text NOT NULL,"
         " depends_on text, ordering INT NOT NULL DEFAULT 0,"
         " CONSTRAINT background_updates_uniqueness UNIQUE (update_name));\n")

MAIN_SQLITE = """
CREATE TABLE users (name TEXT NOT NULL PRIMARY KEY, admin BOOLEAN NOT NULL DEFAULT 0,
    deactivated BOOLEAN DEFAULT 0, creation_ts BIGINT);
CREATE TABLE events (stream_ordering INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
    sender TEXT, outlier BOOLEAN NOT NULL, json TEXT, depth BIGINT);
CREATE INDEX events_room ON events (room_id, stream_ordering);
CREATE TABLE event_edges (event_id TEXT NOT NULL, prev_event_id TEXT NOT NULL, is_state BOOLEAN NOT NULL DEFAULT 0);
CREATE TABLE stream_positions (lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, stream_id BIGINT NOT NULL, CHECK (lock = 'X'));
INSERT INTO stream_positions (stream_id) VALUES (0);
CREATE VIEW admins AS SELECT name FROM users WHERE admin;
INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (1001, 'users_admin_fill', '{}');
"""

MAIN_POSTGRES = """
CREATE TABLE users (name TEXT NOT NULL PRIMARY KEY, admin BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated BOOLEAN DEFAULT FALSE, creation_ts BIGINT);
CREATE TABLE events (stream_ordering BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
    sender TEXT, outlier BOOLEAN NOT NULL, json TEXT, depth BIGINT);
CREATE INDEX events_room ON events (room_id, stream_ordering);
CREATE TABLE event_edges (event_id TEXT NOT NULL, prev_event_id TEXT NOT NULL, is_state BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE stream_positions (lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, stream_id BIGINT NOT NULL, CHECK (lock = 'X'));
INSERT INTO stream_positions (stream_id) VALUES (0);
CREATE VIEW admins AS SELECT name FROM users WHERE admin;
CREATE SEQUENCE events_stream_seq;
CREATE FUNCTION check_event_depth() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a comment in the body, a blank line and a qualified name: kept as written

-- at the start of a line too
    IF NEW.depth < 0 THEN RAISE EXCEPTION 'negative depth: %', 'public.events'; END IF;
    PERFORM 1 FROM public.stream_positions;
    RETURN NEW;
END;
$$;
CREATE TRIGGER check_event_depth BEFORE INSERT OR UPDATE ON events FOR EACH ROW EXECUTE PROCEDURE check_event_depth();
INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (1001, 'users_admin_fill', '{}');
"""

STATE = ("CREATE TABLE state_groups (id BIGINT PRIMARY KEY, room_id TEXT NOT NULL, event_id TEXT NOT NULL);\n"
         "CREATE INDEX state_groups_room ON state_groups (room_id);\n")

TREE = {
    "common/full_schemas/10/full.sql.sqlite": QUEUE,
    "common/full_schemas/10/full.sql.postgres": QUEUE,
    "main/full_schemas/10/full.sql.sqlite": MAIN_SQLITE,
    "main/full_schemas/10/full.sql.postgres": MAIN_POSTGRES,
    "state/full_schemas/10/full.sql.sqlite": STATE,
    "state/full_schemas/10/full.sql.postgres": STATE,
    "main/delta/11/01_event_redacted.sql":
        "ALTER TABLE events ADD COLUMN redacted BOOLEAN;\n"
        "INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (1101, 'events_redacted_fill', '{}');\n",
    "state/delta/11/01_state_edges.sql":
        "CREATE TABLE state_group_edges (state_group BIGINT NOT NULL, prev_state_group BIGINT NOT NULL,"
        " PRIMARY KEY (state_group, prev_state_group));\n"
        "INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (1102, 'state_edges_touch', '{}');\n",
    # common: in every physical database; an identity column (the placeholder).
    "common/delta/12/01_instance_map.sql":
        "CREATE TABLE instance_map (instance_id $%AUTO_INCREMENT_PRIMARY_KEY%$, instance_name TEXT NOT NULL UNIQUE);\n",
    "main/delta/13/01_reports.sql":
        "CREATE TABLE reports (id $%AUTO_INCREMENT_PRIMARY_KEY%$, event_id TEXT NOT NULL, reason TEXT,"
        " received_ts BIGINT, resolved BOOLEAN NOT NULL DEFAULT FALSE);\n",
    "main/delta/13/02_media.sql.postgres":
        "CREATE TABLE media (media_id TEXT PRIMARY KEY, content BYTEA, info JSONB, size NUMERIC, ratio DOUBLE PRECISION,"
        " quarantined BOOLEAN, tags TEXT[]);\n",
    "main/delta/13/02_media.sql.sqlite":
        "CREATE TABLE media (media_id TEXT PRIMARY KEY, content BLOB, info TEXT, size NUMERIC, ratio REAL,"
        " quarantined BOOLEAN, tags TEXT);\n",
    "main/delta/13/03_module.py": "def run_upgrade(cur, engine, config): pass\n",
}
NEWEST = 13
MAIN_TABLES = {"users", "events", "event_edges", "stream_positions", "reports", "media"}
STATE_TABLES = {"state_groups", "state_group_edges"}
COMMON_TABLES = {"instance_map"}
UPDATES = {"main": ["users_admin_fill", "events_redacted_fill"], "state": ["state_edges_touch"]}


def write_schema(root):
    write_tree(root, TREE)
    return root


def register_handlers(db, logical=("main", "state")):
    """What the application does when it starts: register the handlers of its updates."""
    specs = []
    if "main" in logical:
        specs += [("users_admin_fill", "users", ["name"], "admin = admin", None),
                  ("events_redacted_fill", "events", ["stream_ordering"],
                   "redacted = FALSE", "redacted IS NULL")]
    if "state" in logical:
        specs += [("state_edges_touch", "state_group_edges", ["state_group", "prev_state_group"],
                   "prev_state_group = prev_state_group", None)]
    for name, table, keys, set_clause, where in specs:
        if db.kind == "sqlite":
            import json
            db.sql("SELECT bgupdate_register_batched_update(%s, %s, %s, %s, %s)",
                   (name, table, json.dumps(keys), set_clause, where))
        else:
            db.sql("SELECT bgupdate.register_batched_update(%s, %s, %s, %s, %s)", (name, table, keys, set_clause, where))


def tables_of(db):
    """The application's tables (not the extension's, not SQLite's own)."""
    if db.kind == "sqlite":
        rows = db.sql("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'"
                      " AND name NOT LIKE 'sqlite_%%' AND name NOT LIKE 'bgupdate_%%' AND name NOT IN"
                      " ('background_updates', 'schema_version', 'schema_compat_version', 'applied_schema_deltas')")
    else:
        rows = db.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


def sub_engine(kind, tmp, name):
    """A database of its own (SQLite: its own file) for tests that need several."""
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return Engine(kind, d, name)
