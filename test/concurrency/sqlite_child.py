"""One SQLite application process of the checker: a connection to the
shared WAL file calling bgupdate_step()/run()/finish(), application batches,
pause/resume/retry, and sometimes the background thread (bgupdate_start()).
The parent SIGKILLs such processes at random moments. Every operation's
outcome, and every violation seen, is appended to this process's log file
one line at a time (a killed process loses nothing it wrote)."""
import argparse
import json
import os
import random
import sqlite3
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

sqlite3.enable_callback_tracebacks(True)  # a handler's exception goes to this process's .err file

from control_ops import ControlOps  # noqa: E402
from plan import Round  # noqa: E402
from sqlite_setup import APP_VARIANTS, UDF_ERROR, app_batch, connect, define_handlers, table_name  # noqa: E402

WEIGHTS = {"step": 30, "step_burst": 8, "run": 8, "finish": 6, "app_batch": 22, "pause": 3, "resume": 4,
           "retry": 3, "cancel": 2, "reregister": 2, "start_thread": 2, "stop_thread": 1, "idle": 5}

EXPECTED_ERRORS = ("database is locked", "injected fault", UDF_ERROR, "is marked failed", "run by the application",
                   "no batch is open", "failed (attempt")


class Child(ControlOps):
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.rnd = Round.from_dict(json.load(open(a.plan)))
        self.features = json.load(open(a.features))
        self.log = open(a.log, "a", buffering=1)
        self.db = connect(a.db, a.extension, timeout=2.0)
        self.db.execute("PRAGMA synchronous=NORMAL")
        define_handlers(self.db, self.rnd, self.nested if self.features.get("nested_refused") else None)
        self.thread = False
        without = set(filter(None, a.without.split(",")))
        self.kinds = [k for k in WEIGHTS if k not in without and (k != "reregister" or self.features.get("rereg_refused"))
                      and (k != "cancel" or self.features.get("cancel"))]

    def write(self, *fields):
        self.log.write("\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields) + "\n")

    def violation(self, kind, message):
        self.write("violation", kind, f"{message} (process {self.a.index}.{self.a.generation}, seed {self.a.seed})")

    def nested(self, name):
        """A call into bgupdate from inside a running batch must be refused."""
        if self.rng.random() >= 0.05:
            return
        try:
            self.db.execute("SELECT bgupdate_step()").fetchone()
        except sqlite3.Error:
            self.write("op", "nested call", "refused")
            return
        self.violation("bgupdate call inside a batch not refused", f"bgupdate_step() inside a batch of {name} ran")

    def open_updates(self):
        queued = {r[0] for r in self.db.execute("SELECT update_name FROM background_updates")}
        return [u for u in self.rnd.updates if u.name in queued]

    def main(self):
        while not os.path.exists(self.a.stop) and os.getppid() == self.a.parent:
            kind = self.rng.choices(self.kinds, [WEIGHTS[k] for k in self.kinds])[0]
            try:
                outcome = getattr(self, "op_" + kind)()
            except sqlite3.Error as e:
                outcome = self.classify(kind, e)
            self.write("op", kind, outcome)
            time.sleep(self.rng.uniform(0, 0.02))
        if self.thread:
            self.db.execute("SELECT bgupdate_stop()")
        self.db.close()

    def classify(self, kind, e):
        msg = str(e)
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if kind == "app_batch":
            try:  # an application batch left open by the error: close it (recorded as a failure)
                self.db.execute("SELECT bgupdate_batch_end(0)")
            except sqlite3.Error:
                pass
        for m in EXPECTED_ERRORS:
            if m in msg:
                return "error: " + m
        self.violation("unexpected error", f"{kind}: {msg}")
        return "unexpected error"

    def one(self, sql, params=()):
        return self.db.execute(sql, params).fetchone()[0]

    def op_idle(self):
        time.sleep(self.rng.uniform(0.02, 0.2))
        return "ok"

    def op_step(self):
        out = json.loads(self.one("SELECT bgupdate_step()"))
        if out.get("error"):
            return "batch failed"
        if out.get("lock_timeout"):
            return "lock timeout"
        if out.get("update_name"):
            return "ran a batch"
        return "all done" if out.get("all_done") else "nothing to run"

    def op_step_burst(self):
        outcomes = [self.op_step() for _ in range(self.rng.randint(10, 60))]
        return "ran batches" if "ran a batch" in outcomes else outcomes[-1]

    def op_run(self):
        out = json.loads(self.one("SELECT bgupdate_run(?)", (self.rng.choice((50, 200, 500)),)))
        return "ran batches" if out.get("batches") else "nothing to run"

    def op_finish(self):
        choices = [u for u in self.open_updates() if u.kind != "app"]
        if not choices:
            return "nothing open"
        name = self.rng.choice(choices).name
        if self.features.get("finish_timeout"):
            self.one("SELECT bgupdate_finish(?, ?)", (name, self.rng.choice((500, 2000, 5000))))
        else:
            self.one("SELECT bgupdate_finish(?)", (name,))
        return "completed"

    def op_app_batch(self):
        variant = self.rng.choices(list(APP_VARIANTS), list(APP_VARIANTS.values()))[0]
        outcome = app_batch(self.db, self.rnd, variant)
        if "accepted" in outcome:
            self.violation("batch_end() outside its transaction accepted", f"app batch {variant}: {outcome}")
        return outcome

    def _control(self, fn):
        choices = self.open_updates()
        if not choices:
            return "nothing open"
        name = self.rng.choice(choices).name
        if fn == "cancel":
            self.write("canceled", name, "")
        self.one(f"SELECT bgupdate_{fn}(?)", (name,))
        return "ok"

    def op_reregister(self):
        choices = self.open_updates()
        if not choices:
            return "nothing open"
        u = self.rng.choice(choices)
        try:
            self.one("SELECT bgupdate_register_batched_update(?, ?, '[\"id\"]', 'id = id')", (u.name, table_name(u)))
        except sqlite3.Error:
            return "refused"
        self.violation("re-registration with a different definition accepted",
                       f"{u.name} ({u.kind}) re-registered as a batched update 'id = id' while queued: accepted")
        return "accepted"

    def op_start_thread(self):
        if self.thread:
            return "already running"
        self.one("SELECT bgupdate_start()")
        self.thread = True
        return "started"

    def op_stop_thread(self):
        if not self.thread:
            return "not running"
        self.one("SELECT bgupdate_stop()")
        self.thread = False
        return "stopped"


def main(argv):
    p = argparse.ArgumentParser()
    for name in ("db", "extension", "plan", "features", "log", "stop"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--without", default="")
    for name in ("seed", "index", "generation", "parent"):
        p.add_argument("--" + name, type=int, required=True)
    Child(p.parse_args(argv)).main()


if __name__ == "__main__":
    main(sys.argv[1:])
