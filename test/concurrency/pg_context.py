"""What the PostgreSQL actors share: the server, the report, the round under
way, the behaviours the probes found, which updates are complete, and a
connection that survives the server's crash restarts."""
import random
import threading
import time

import psycopg2

from pg_setup import ROLES

# Connection gone: terminated, crash restart, shutdown, or the server not ready yet.
_LOST_CODES = {"57P01", "57P02", "57P03", "08000", "08003", "08006"}


class Lost(Exception):
    """The connection went away; the actor reconnects and goes on."""


def is_lost(conn, e):
    """A psycopg2 error without a SQLSTATE comes from the client side: the
    connection broke (the server ended the backend, or crashed)."""
    if isinstance(e, psycopg2.InterfaceError):
        return True
    code = getattr(e, "pgcode", None)
    return code in _LOST_CODES or not code or conn is None or bool(conn.closed)


def first_line(e):
    return (str(e).strip().splitlines() or [""])[0]


class PgContext:
    def __init__(self, server, report, seed, features, without=()):
        self.server = server
        self.without = set(without)   # operation and fault kinds left out (--without)
        self.report = report
        self.seed = seed
        self.features = features
        self.round = None
        self.stop = threading.Event()
        self.complete = set()        # update names seen complete
        self.canceled = set()        # updates the checker called cancel() on
        self.ops_left = None         # None: no limit
        self._lock = threading.Lock()
        self.restarts = 0            # crash restarts the checker caused

    def take_op(self):
        """False once the run's operation budget is spent."""
        with self._lock:
            if self.ops_left is None:
                return True
            if self.ops_left <= 0:
                self.stop.set()
                return False
            self.ops_left -= 1
            return True

    def open_updates(self, owner=None, kinds=None):
        """The round's updates not seen complete; owner None: any owner."""
        rnd = self.round
        return [u for u in rnd.updates if u.name not in self.complete
                and (owner is None or u.owner == owner) and (kinds is None or u.kind in kinds)]

    def owner_of(self, name):
        u = self.round.update(name) if self.round else None
        return u.owner if u else None


class Conn:
    """An autocommit connection as one role that reconnects when the server
    restarts. Every statement goes through run(); a lost connection raises Lost."""

    def __init__(self, ctx, owner, app):
        self.ctx = ctx
        self.owner = owner
        self.user = ROLES[owner]
        self.app = app
        self.conn = None
        self.pid = None

    def ensure(self):
        if self.conn is not None and not self.conn.closed:
            return
        self.conn = self.ctx.server.wait_ready(user=self.user, dbname="checker", app=self.app)
        self.conn.autocommit = True
        self.pid = self.conn.get_backend_pid()

    def run(self, sql, params=None, fetch=True):
        self.ensure()
        try:
            cur = self.conn.cursor()
            cur.execute(sql, params)
            if fetch and cur.description:
                return cur.fetchall()
            return None
        except psycopg2.Error as e:
            if is_lost(self.conn, e):
                self.drop()
                raise Lost(first_line(e)) from e
            raise

    def one(self, sql, params=None):
        rows = self.run(sql, params)
        return rows[0][0] if rows else None

    def rollback_quietly(self):
        try:
            if self.conn is not None and not self.conn.closed:
                self.conn.cursor().execute("ROLLBACK")
        except psycopg2.Error:
            self.drop()

    def drop(self):
        try:
            if self.conn is not None:
                self.conn.close()
        except psycopg2.Error:
            pass
        self.conn = None


def pause_between(rng, low=0.0, high=0.03):
    time.sleep(rng.uniform(low, high))


def actor_rng(seed, *parts):
    return random.Random(f"{seed}/" + "/".join(str(p) for p in parts))
