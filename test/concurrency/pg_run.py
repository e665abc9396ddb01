"""The PostgreSQL half of the checker: a throwaway server with the worker(s),
the probes, then rounds of chaos (sessions + worker + faults), each ending
with a drain (faults stopped, the worker and the application finish
everything) and the checks."""
import json
import random
import sys
import time

import psycopg2

import final_checks
from pg_actors import Chaos, SessionActor, explained
from pg_app_batch import app_batch
from pg_context import Conn, Lost, PgContext, first_line, is_lost
from pg_probes import probe_nested, probe_own_role_only, probe_reregistration
from pg_server import PgServer
from pg_setup import COMMON_SQL, OWNERS, catalog_features, create_round
from pg_view import PgView
from plan import derive, make_round

SESSION_OWNERS = ("alice", "bob", "su", "alice", "bob", "su", "alice", "bob")


def server_settings(seed, workers):
    rng = random.Random(derive(seed, "pg-settings"))
    sleep = rng.choice(("off", 10, 50))
    return {
        "shared_preload_libraries": "'bgupdate'",
        "max_worker_processes": 16,
        "max_connections": 60,
        "bgupdate.max_workers": workers + 1,
        "bgupdate.max_parallel": workers,
        "bgupdate.naptime_ms": 100,
        "bgupdate.launcher_rescan_ms": 500,
        "bgupdate.sleep_enabled": "off" if sleep == "off" else "on",
        "bgupdate.sleep_duration_ms": 10 if sleep == "off" else sleep,
        # Small batches (many of them, each a chance to meet another runner),
        # never so small that an update passes the history's 1,000 kept rows.
        "bgupdate.default_batch_size": 20,
        "bgupdate.min_batch_size": 5,
        "bgupdate.max_batch_size": 40,
        "bgupdate.retry_backoff_ms": 50,
        "bgupdate.max_backoff_ms": 400,
        "bgupdate.max_failures": 4,
        "bgupdate.health_hold_ms": 200,
        "log_min_messages": "warning",
        # Off while the probes run (ALTER SYSTEM turns it on for the rounds).
        "bgupdate.worker_enabled": "off",
    }


class PgRun:
    def __init__(self, args, report, out=sys.stdout):
        self.args = args
        self.report = report
        self.out = out
        self.seed = args.seed

    def say(self, text):
        print(text, file=self.out, flush=True)

    # -- set-up and probes ------------------------------------------------
    def start(self):
        settings = server_settings(self.seed, self.args.workers)
        self.say("postgresql settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()
                                                   if k.startswith("bgupdate.") and k != "bgupdate.worker_enabled"))
        self.server = PgServer(self.args.pgbin, self.args.port, settings, keep=self.args.keep)
        self.server.start()
        self.su = self.server.wait_ready(dbname="checker", options="-c statement_timeout=60s")
        self.su.autocommit = True
        self.su.cursor().execute(COMMON_SQL)
        features = catalog_features(self.su)
        own, why = probe_own_role_only(self.server)
        features["own_role_only"] = own
        self.say(f"probe own_role_only: {'present' if own else 'absent'} ({why})")
        refused, why = probe_reregistration(self.server, self.report, features["reset"])
        features["rereg_refused"] = refused
        self.say(f"probe rereg_refused: {'present' if refused else 'absent'} ({why})")
        nested, why = probe_nested(self.server)
        features["nested_refused"] = bool(nested)
        self.say(f"probe nested_refused: {'present' if nested else 'absent'} ({why})")
        if nested:
            self.su.cursor().execute("UPDATE chk.knobs SET nested_rate = 0.05")
        self.say("features: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in sorted(features.items())))
        absent = [k for k, v in features.items() if not v]
        if absent:
            # Every one is promised (README "Who runs a batch, and when"): a
            # build without it has lost a guarantee.
            for name in sorted(absent):
                self.report.violation("promised behaviour missing", f"{name}: the probe found it absent")
        self.ctx = PgContext(self.server, self.report, self.seed, features, self.args.without)
        self.su.cursor().execute("ALTER SYSTEM SET bgupdate.worker_enabled = on")
        self.su.cursor().execute("SELECT pg_reload_conf()")

    def su_cursor(self):
        """The checker's own superuser connection, reconnected after a crash
        restart. Its statements time out: the checker must never wait for ever
        on a lock that a hung call holds."""
        if self.su.closed:
            self.su = self.server.wait_ready(dbname="checker", options="-c statement_timeout=60s")
            self.su.autocommit = True
        return self.su.cursor()

    def su_rows(self, sql, params=None):
        for attempt in range(30):
            try:
                cur = self.su_cursor()
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
            except psycopg2.Error as e:
                if e.pgcode == "57014":
                    self.report.violation("checker statement timed out",
                                          f"{sql % (params or ())} waited 60 s (a lock held by a call that hangs?)")
                    return []
                if not is_lost(self.su, e):
                    raise
                try:
                    self.su.close()
                except psycopg2.Error:
                    pass
                time.sleep(0.5)
        raise RuntimeError("the server does not answer")

    # -- a round ------------------------------------------------------------
    def run(self):
        args = self.args
        t0 = time.monotonic()
        deadline = t0 + args.seconds
        if args.ops:
            self.ctx.ops_left = args.ops
        number = 0
        while True:
            number += 1
            rnd = make_round(number, OWNERS, args.rows or 800, random.Random(derive(self.seed, "pg-round", number)))
            self.su_rows("SELECT 1")  # reconnects after a crash restart of the last round
            create_round(self.su_cursor().connection, rnd)
            self.say(f"round {number}: {len(rnd.updates)} updates on {len(rnd.tables)} tables, "
                     f"{sum(len(t.keys) for t in rnd.tables.values())} rows")
            self.chaos_phase(rnd, deadline)
            self.drain(rnd)
            self.check(rnd)
            if time.monotonic() >= deadline or (self.ctx.ops_left is not None and self.ctx.ops_left <= 0):
                break
        self.report.note(f"{number} round(s), {self.ctx.restarts} crash restart(s) of the server, "
                         f"{time.monotonic() - t0:.0f} s")

    def chaos_phase(self, rnd, deadline):
        ctx = self.ctx
        ctx.round = rnd
        ctx.complete = set()
        ctx.stop.clear()
        n = max(1, min(self.args.sessions or 5, len(SESSION_OWNERS)))
        self.actors = [SessionActor(ctx, i, SESSION_OWNERS[i]) for i in range(n)]
        chaos = Chaos(ctx) if not self.args.no_faults else None
        for a in self.actors + ([chaos] if chaos else []):
            a.start()
        started = time.monotonic()
        while not ctx.stop.is_set() and time.monotonic() < deadline:
            time.sleep(1.0)
            done = self.completed(rnd)
            ctx.complete = done
            if all(u.name in done for u in rnd.updates):
                break
        ctx.stop.set()
        self.join_actors(self.actors + ([chaos] if chaos else []))
        left = [u.name for u in rnd.updates if u.name not in ctx.complete]
        self.say(f"round {rnd.number}: chaos phase {time.monotonic() - started:.0f} s, "
                 f"{len(rnd.updates) - len(left)} of {len(rnd.updates)} updates complete")

    def join_actors(self, actors, patience=60.0):
        """Waits for the actors to end their current call. One still in its
        call after `patience` seconds hangs: reported with what every backend
        of the database is doing (who waits for whom), then terminated so
        that the drain and the checks can go on."""
        end = time.monotonic() + patience
        for a in actors:
            a.join(timeout=max(0.1, end - time.monotonic()))
        hung = [a for a in actors if a.is_alive()]
        if not hung:
            return
        picture = self.su_rows(
            "SELECT pid, backend_type, application_name, state, wait_event_type || '/' || wait_event, "
            "round(extract(epoch FROM now() - xact_start))::int, left(query, 100) FROM pg_stat_activity "
            "WHERE datname = 'checker' AND pid <> pg_backend_pid() ORDER BY pid")
        scene = " | ".join(f"pid {p} {bt} {app} {st} wait {w} xact {age}s: {q}" for p, bt, app, st, w, age, q in picture)
        for a in hung:
            what = getattr(a, "current", None)
            doing = f"{what[0]} for {time.monotonic() - what[1]:.0f} s" if what else "?"
            pid = getattr(getattr(a, "db", None), "pid", None)
            self.report.violation("actor hangs", f"{a.name} (backend pid {pid}) still in {doing} {patience:.0f} s after "
                                                 f"the chaos phase ended; the database's backends: {scene}")
            if pid:
                self.su_rows("SELECT pg_terminate_backend(%s)", (pid,))
        for a in hung:
            a.join(timeout=30)

    def completed(self, rnd):
        """The round's updates out of the queue (has_completed); whether
        status agrees is one of the checks."""
        return {r[0] for r in self.su_rows("SELECT n FROM unnest(%s::text[]) n WHERE bgupdate.has_completed(n)",
                                           ([u.name for u in rnd.updates],))}

    def drain(self, rnd):
        """Faults stop; paused updates are resumed, failed ones retried (their
        failures are checked to be injected ones); the worker does the rest and
        the application runs its batches."""
        self.su_rows("DELETE FROM chk.faults")
        app_conns = {o: Conn(self.ctx, o, f"checker-drain-{o}") for o in OWNERS}
        end = time.monotonic() + self.args.drain_seconds
        retried = set()
        while time.monotonic() < end:
            status = {r[0]: r[1] for r in self.su_rows("SELECT update_name, state FROM bgupdate.status")}
            gone = self.completed(rnd)
            open_ = [u for u in rnd.updates if u.name not in gone]
            if not open_:
                break
            for u in open_:
                state = status.get(u.name)
                if state == "paused":
                    self.su_rows("SELECT bgupdate.resume(%s)", (u.name,))
                elif state == "failed":
                    retried.add(u.name)
                    self.su_rows("SELECT bgupdate.retry(%s)", (u.name,))
            for u in open_:
                if u.kind == "app":
                    self.app_batches(app_conns[u.owner], rnd)
            time.sleep(0.3)
        for c in app_conns.values():
            c.drop()
        if retried:
            self.report.note(f"round {rnd.number}: retried after the chaos phase (failed on injected faults): "
                             + ", ".join(sorted(retried)))

    def app_batches(self, db, rnd, limit=400):
        for _ in range(limit):
            try:
                outcome = app_batch(db, rnd, "normal", self.report.violation)
            except Lost:
                return
            except psycopg2.Error as e:
                self.report.violation("unexpected error", f"drain app batch as {db.user}: {e.pgcode} {first_line(e)}")
                return
            if outcome != "committed":
                return
            self.report.op("drain app_batch", outcome)

    # -- checks ---------------------------------------------------------------
    def check(self, rnd):
        r = self.report
        locks = self.su_rows(
            "SELECT l.pid, a.backend_type, a.application_name, a.state, l.classid, l.objid, l.objsubid "
            "FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted")
        r.check(not locks, "advisory locks left behind",
                f"round {rnd.number}: with every update complete, advisory locks are still held: "
                + "; ".join(f"pid {p} ({bt}, {app}, {st}) key {c}/{o}/{s}" for p, bt, app, st, c, o, s in locks[:5]))
        idle_tx = self.su_rows("SELECT pid, backend_type, application_name, state FROM pg_stat_activity "
                               "WHERE state LIKE 'idle in transaction%%'")
        r.check(not idle_tx, "idle in transaction",
                f"round {rnd.number}: sessions idle in a transaction after the run: {idle_tx[:5]}")
        invalid = self.su_rows("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        r.check(not invalid, "invalid index left", f"round {rnd.number}: INVALID indexes: {[i[0] for i in invalid]}")
        final_checks.check_round(r, PgView(self.su_cursor().connection), rnd)
        unexplained = []
        for u in rnd.updates:
            for row in self.su_rows("SELECT event, detail FROM bgupdate.update_history WHERE update_name = %s "
                                    "AND event IN ('failure', 'failed') ORDER BY id", (u.name,)):
                try:
                    d = json.loads(row[1]) if row[1] else {}
                except ValueError:
                    d = {"error": row[1]}
                if not explained(d.get("error"), d.get("sqlstate"), u.name in self.ctx.canceled):
                    unexplained.append(f"{u.name}: {row[0]}: {d.get('sqlstate')} {d.get('error')}")
        r.check(not unexplained, "batch failed for a reason the checker did not inject",
                f"round {rnd.number}: {len(unexplained)} failure(s): " + " | ".join(unexplained[:4]))
        if self.ctx.features.get("nested_refused"):
            rows = self.su_rows("SELECT update_name, outcome, sqlstate, message FROM chk.nested")
            bad = [x for x in rows if x[1] != "refused" or x[2] != "55000"]
            r.check(not bad, "bgupdate call inside a batch not refused",
                    f"round {rnd.number}: {len(bad)} of {len(rows)} calls of step() inside a batch: {bad[:3]}")
            self.su_rows("DELETE FROM chk.nested")
        for a in self.actors:
            a.db.drop()

    def finish(self):
        for kind in ("unexpected error", "session ran another role's update", "finish() gave up on a lock",
                     "re-registration with a different definition accepted", "actor hangs"):
            self.report.none_seen(kind)
        try:
            self.su.close()
        except psycopg2.Error:
            pass
        crashes = [line for line in self.server.log_tail(100000).splitlines()
                   if "terminated by signal 6" in line or "terminated by signal 11" in line or "PANIC" in line
                   or "TRAP" in line]
        self.report.check(not crashes, "server crash", "the server log shows a crash the checker did not cause: "
                          + " | ".join(crashes[:5]))
        if self.args.keep:
            self.say(f"server folder kept: {self.server.dir} (log: {self.server.log})")
        self.server.stop()
