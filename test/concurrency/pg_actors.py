"""The PostgreSQL actors: sessions of several roles calling step(), run(),
finish(), application batches and the control functions, and the chaos
actor that injects faults (failure windows, cancels, terminations, kill -9
of a runner, which makes PostgreSQL restart every backend). Each actor's
choices come from its own generator derived from the run's seed."""
import os
import signal
import threading
import time

import psycopg2

from control_ops import ControlOps
from pg_app_batch import VARIANTS, app_batch
from pg_context import Conn, Lost, actor_rng, first_line, is_lost, pause_between
from pg_setup import ROLES, qualified

# Failures the checker causes on purpose: a failure window (chk.fault raises
# "injected fault in <update>", batch_fail() says so too), pg_cancel_backend
# and cancel() (57014, "canceling statement due to user request"),
# pg_terminate_backend (57P01), and the application batches it rolls back or
# commits before batch_end() on purpose.
INJECTED_MARKERS = ("injected fault", "canceling statement due to user request", "terminating connection",
                    "the application's transaction was rolled back", "the application committed without calling")
INJECTED_CODES = {"57014", "57P01"}


def explained(error, sqlstate=None, canceled=False):
    """Whether a recorded failure is one the checker injected; canceled: the
    checker called cancel() on that update (whatever its message says)."""
    text = (error or "").lower()
    return (sqlstate in INJECTED_CODES or any(m.lower() in text for m in INJECTED_MARKERS)
            or (canceled and "cancel" in text))


class SessionActor(ControlOps, threading.Thread):
    WEIGHTS = {"step": 30, "step_burst": 8, "run": 8, "finish": 6, "app_batch": 24, "pause": 3, "resume": 4, "retry": 3,
               "cancel": 3, "reregister": 2, "idle": 6}

    def __init__(self, ctx, index, owner):
        super().__init__(name=f"session-{index}-{owner}", daemon=True)
        self.ctx = ctx
        self.owner = owner
        self.rng = actor_rng(ctx.seed, "pg-session", index)
        self.db = Conn(ctx, owner, f"chk-s{index}-{owner}")
        self.current = None  # (operation, since) while one runs
        f = ctx.features
        self.kinds = [k for k in self.WEIGHTS if k not in ctx.without
                      and (k != "cancel" or f.get("cancel")) and (k != "reregister" or f.get("rereg_refused"))]

    # -- helpers ---------------------------------------------------------
    def mine(self, kinds=None):
        """Updates this session may manage: its role's, or all for the superuser."""
        return self.ctx.open_updates(None if self.owner == "su" else self.owner, kinds)

    def unexpected(self, op, e):
        self.ctx.report.violation("unexpected error", f"{op} as {ROLES[self.owner]}: {getattr(e, 'pgcode', '')} "
                                                      f"{first_line(e)} (seed {self.ctx.seed}, actor {self.name})")

    def ran_other_role(self, op, name):
        owner = self.ctx.owner_of(name)
        if self.ctx.features.get("own_role_only") and owner and owner != self.owner:
            self.ctx.report.violation("session ran another role's update",
                                      f"{op} in a session of {ROLES[self.owner]} ran {name} (owned by {ROLES[owner]})")

    # -- the loop --------------------------------------------------------
    def run(self):
        while not self.ctx.stop.is_set():
            kind = self.rng.choices(self.kinds, [self.WEIGHTS[k] for k in self.kinds])[0]
            if not self.ctx.take_op():
                break
            self.current = (kind, time.monotonic())
            try:
                outcome = getattr(self, "op_" + kind)()
            except Lost:
                outcome = "connection lost"
                time.sleep(0.2)
            except psycopg2.Error as e:
                self.db.rollback_quietly()
                self.unexpected(kind, e)
                outcome = "unexpected error"
            self.current = None
            self.ctx.report.op(kind, outcome)
            pause_between(self.rng)

    def op_idle(self):
        time.sleep(self.rng.uniform(0.02, 0.2))
        return "ok"

    def op_step(self):
        try:
            out = self.db.one("SELECT bgupdate.step()")
        except psycopg2.Error as e:
            if e.pgcode == "57014":
                return "canceled"
            raise
        name = out.get("update_name")
        if out.get("error"):
            ok = explained(out["error"], out.get("sqlstate"), out.get("update_name") in self.ctx.canceled)
            return "batch failed" if ok else "batch failed (not injected)"
        if name and not out.get("lock_timeout"):
            self.ran_other_role("step()", name)
            return "ran a batch"
        if out.get("lock_timeout"):
            return "lock timeout"
        return "all done" if out.get("all_done") else "nothing to run"

    def op_step_burst(self):
        """step() back to back, as an application's loop does: the tightest
        way for two runners to meet on one update."""
        outcomes = [self.op_step() for _ in range(self.rng.randint(10, 60))]
        return "ran batches" if "ran a batch" in outcomes else outcomes[-1]

    def op_run(self):
        ms = self.rng.choice((50, 200, 500, 1000))
        try:
            self.db.run(f"CALL bgupdate.run({ms})", fetch=False)
        except psycopg2.Error as e:
            if e.pgcode == "57014":
                return "canceled"
            raise
        return "ok"

    def op_finish(self):
        choices = self.mine()
        if not choices:
            return "nothing open"
        u = self.rng.choice(choices)
        try:
            if self.ctx.features.get("finish_timeout"):
                self.db.run("SELECT bgupdate.finish(%s, %s)", (u.name, self.rng.choice((500, 2000, 5000))))
            else:
                self.db.run("SELECT bgupdate.finish(%s)", (u.name,))
            return "completed"
        except psycopg2.Error as e:
            msg = first_line(e)
            if e.pgcode == "57014" or "injected fault" in msg:
                return "failed (injected)"
            if self.ctx.features.get("finish_timeout") and "lock timeout" not in msg:
                # finish(name, timeout_ms): on a timeout or failure, an error that names the update.
                if u.name not in msg:
                    self.ctx.report.violation("finish() error does not name the update",
                                              f"finish('{u.name}') as {ROLES[self.owner]}: {e.pgcode} {msg}")
                return "timed out" if "time" in msg.lower() else "refused or failed"
            if e.pgcode == "55P03":
                self.ctx.report.violation("finish() gave up on a lock",
                                          f"finish('{u.name}') as {ROLES[self.owner]}: {e.pgcode} {msg} "
                                          "(another runner had the update: finish() must wait for it)")
                return "lock timeout"
            if e.pgcode in ("55000", "38000", "P0001"):
                return "refused or failed"
            raise

    def op_app_batch(self):
        variant = self.rng.choices(list(VARIANTS), list(VARIANTS.values()))[0]
        return app_batch(self.db, self.ctx.round, variant, self.ctx.report.violation)

    def _control(self, fn):
        choices = self.mine()
        if not choices:
            return "nothing open"
        u = self.rng.choice(choices)
        if fn == "cancel":
            self.ctx.canceled.add(u.name)
        try:
            self.db.run(f"SELECT bgupdate.{fn}(%s)", (u.name,))
            return "ok"
        except psycopg2.Error as e:
            if e.pgcode in ("42704", "55000", "57014"):
                return "refused"
            if fn == "cancel" and not is_lost(self.db.conn, e):
                return f"refused ({e.pgcode})"  # nothing running to cancel: how it says so is not the point here
            raise

    def op_reregister(self):
        # Another definition for one of this role's queued updates. The queue
        # row is locked first, so the update cannot complete meanwhile (a
        # completed update may be registered anew; a queued one may not).
        choices = [u for u in self.mine() if u.owner == self.owner or self.owner == "su"]
        if not choices:
            return "nothing open"
        u = self.rng.choice(choices)
        try:
            self.db.run("BEGIN", fetch=False)
            queued = self.db.run("SELECT 1 FROM bgupdate.background_updates WHERE update_name = %s FOR UPDATE",
                                 (u.name,))
            if not queued:
                self.db.run("ROLLBACK", fetch=False)
                return "nothing open"
            self.db.run("SELECT bgupdate.register_batched_update(%s, %s, ARRAY['id'], 'id = id')", (u.name, qualified(u)))
        except psycopg2.Error as e:
            self.db.rollback_quietly()
            if e.pgcode in ("57014",):
                return "canceled"
            return "refused"
        self.db.rollback_quietly()
        self.ctx.report.violation("re-registration with a different definition accepted",
                                  f"{u.name} ({u.kind}) re-registered as a batched update 'id = id' by "
                                  f"{ROLES[self.owner]} while queued: accepted")
        return "accepted"


class Chaos(threading.Thread):
    """Faults at random moments: a failure window on an update, a cancel or
    termination of a runner (session or worker), kill -9 of a runner."""
    WEIGHTS = {"failure_window": 5, "cancel_backend": 3, "terminate_backend": 2, "kill9": 2}
    KILL9_EVERY_S = 10.0  # each one restarts every backend: a few per minute at most

    def __init__(self, ctx, pace=1.0):
        super().__init__(name="chaos", daemon=True)
        self.ctx = ctx
        self.rng = actor_rng(ctx.seed, "pg-chaos")
        self.pace = pace
        self.db = Conn(ctx, "su", "checker-chaos")
        self.last_kill9 = time.monotonic()
        self.kinds = [k for k in self.WEIGHTS if k not in ctx.without]

    def run(self):
        while self.kinds and not self.ctx.stop.wait(self.rng.uniform(0.2, 1.2) * self.pace):
            kind = self.rng.choices(self.kinds, [self.WEIGHTS[k] for k in self.kinds])[0]
            if kind == "kill9" and time.monotonic() - self.last_kill9 < self.KILL9_EVERY_S:
                continue
            try:
                done = getattr(self, "fault_" + kind)()
            except Lost:
                done = None
            except psycopg2.Error as e:
                self.ctx.report.violation("unexpected error", f"chaos {kind}: {getattr(e, 'pgcode', '')} {first_line(e)}")
                done = None
            if done:
                self.ctx.report.fault(done)

    def runners(self):
        return self.db.run(
            "SELECT pid, backend_type, application_name, state FROM pg_stat_activity "
            "WHERE datname = 'checker' AND (backend_type = 'bgupdate worker' OR application_name LIKE 'chk-%%')")

    def pick_runner(self, worker=None):
        rows = self.runners()
        if worker is not None:
            rows = [r for r in rows if (r[1] == "bgupdate worker") == worker]
        busy = [r for r in rows if r[3] == "active"]
        pool = busy or rows
        return self.rng.choice(pool) if pool else None

    def fault_failure_window(self):
        open_ = self.ctx.open_updates(kinds=("bump", "bump2", "gen_array", "gen_log", "app", "vd"))
        if not open_:
            return None
        u = self.rng.choice(open_)
        ms = self.rng.randint(200, 1200)
        self.db.run("INSERT INTO chk.faults VALUES (%s, clock_timestamp() + %s * interval '1 ms') "
                    "ON CONFLICT (update_name) DO UPDATE SET until_at = excluded.until_at", (u.name, ms), fetch=False)
        return "failure window"

    def fault_cancel_backend(self):
        r = self.pick_runner()
        if not r:
            return None
        self.db.run("SELECT pg_cancel_backend(%s)", (r[0],))
        return "cancel " + ("worker" if r[1] == "bgupdate worker" else "session")

    def fault_terminate_backend(self):
        r = self.pick_runner()
        if not r:
            return None
        self.db.run("SELECT pg_terminate_backend(%s)", (r[0],))
        return "terminate " + ("worker" if r[1] == "bgupdate worker" else "session")

    def fault_kill9(self):
        r = self.pick_runner(worker=self.rng.random() < 0.5)
        if not r:
            return None
        try:
            os.kill(r[0], signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.last_kill9 = time.monotonic()
        self.ctx.restarts += 1
        # PostgreSQL now ends every backend and replays WAL; wait until it accepts connections.
        time.sleep(0.5)
        self.db.drop()
        self.ctx.server.wait_ready(dbname="checker").close()
        return "kill -9 " + ("worker" if r[1] == "bgupdate worker" else "session")
