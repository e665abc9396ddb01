"""The SQLite half of the checker: one WAL database file, several
application processes (sqlite_child.py) stepping, running, finishing and
running application batches, some with the background thread, the parent
SIGKILLing them at random and opening failure windows; then a drain and
the checks, as on PostgreSQL, plus the file's own health (no -journal left,
a clean integrity_check)."""
import glob
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import final_checks
from plan import derive, make_round
from sqlite_setup import COMMON_SQL, NOW, OWNERS, UDF_ERROR, app_batch, connect, create_round, define_handlers
from sqlite_view import SqliteView

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqlite_child.py")
# Failures the checker causes on purpose: its failure windows, and its
# application batches ended by ROLLBACK or COMMIT instead of batch_end().
INJECTED_MARKERS = ("injected fault", "the application rolled it back or committed it",
                    "the application rolled back the batch of background update",
                    "with COMMIT instead of batch_end()")


def settings(seed):
    rng = random.Random(derive(seed, "sqlite-settings"))
    sleep = rng.choice(("off", 10, 50))
    return {"default_batch_size": 20, "min_batch_size": 5, "max_batch_size": 40,
            "sleep_enabled": "false" if sleep == "off" else "true", "sleep_duration_ms": 10 if sleep == "off" else sleep,
            "retry_backoff_ms": 50, "max_backoff_ms": 400, "max_failures": 4, "health_hold_ms": 200}


class SqliteRun:
    def __init__(self, args, report, out=sys.stdout):
        self.args = args
        self.report = report
        self.out = out
        self.seed = args.seed
        self.rng = random.Random(derive(self.seed, "sqlite-chaos"))
        self.children = {}      # index -> (Popen, generation, log path)
        self.logs = []
        self.fault_windows = set()  # updates that had a failure window in this round
        self.canceled = set()       # updates a process called bgupdate_cancel() on

    def say(self, text):
        print(text, file=self.out, flush=True)

    # -- set-up and probes ----------------------------------------------------
    def start(self):
        self.dir = tempfile.mkdtemp(prefix="bgupdate-checker-sqlite.")
        self.path = os.path.join(self.dir, "checker.db")
        self.db = connect(self.path, self.args.extension, timeout=10.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        conf = settings(self.seed)
        for k, v in conf.items():
            self.db.execute("SELECT bgupdate_config(?, ?)", (k, str(v)))
        self.say("sqlite settings: " + ", ".join(f"{k}={v}" for k, v in conf.items()))
        self.db.executescript(COMMON_SQL)
        funcs = {}
        for name, narg in self.db.execute("SELECT name, narg FROM pragma_function_list WHERE name LIKE 'bgupdate_%'"):
            funcs.setdefault(name, set()).add(narg)
        # Functions are registered variadic (narg -1): ask finish() whether it takes a timeout.
        try:
            self.db.execute("SELECT bgupdate_finish('checker: no such update', 1)")
            finish_timeout = True
        except sqlite3.Error as e:
            finish_timeout = "argument" not in str(e)
        self.features = {"cancel": "bgupdate_cancel" in funcs, "reset": "bgupdate_reset" in funcs,
                         "finish_timeout": finish_timeout}
        refused, why = self.probe_reregistration()
        self.features["rereg_refused"] = refused
        self.say(f"probe rereg_refused: {'present' if refused else 'absent'} ({why})")
        nested, why = self.probe_nested()
        self.features["nested_refused"] = bool(nested)
        self.say(f"probe nested_refused: {'present' if nested else 'absent'} ({why})")
        self.say("features: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in sorted(self.features.items())))
        absent = [k for k, v in self.features.items() if not v]
        if absent:
            # Every one is promised (README "Who runs a batch, and when"): a
            # build without it has lost a guarantee.
            for name in sorted(absent):
                self.report.violation("promised behaviour missing", f"{name}: the probe found it absent")

    def probe_reregistration(self):
        db = self.db
        db.execute("CREATE TABLE probe_rereg (id INTEGER PRIMARY KEY, c INT NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO probe_rereg (id) VALUES (1), (2), (3)")
        reg = "SELECT bgupdate_register_batched_update('probe_rereg', 'probe_rereg', '[\"id\"]', ?)"
        db.execute(reg, ("c = c + 1",))
        db.execute("SELECT bgupdate_enqueue('probe_rereg', -100, NULL, '{\"lower_bound\": [1]}')")
        db.execute("SELECT bgupdate_pause('probe_rereg')")
        try:
            db.execute(reg, ("c = c + 1",))
            self.report.check(True, "re-registration with the same definition refused", "")
        except sqlite3.Error as e:
            self.report.check(False, "re-registration with the same definition refused",
                              f"probe_rereg: registering the same definition again failed: {e}")
        try:
            db.execute(reg, ("c = c + 1000",))
            refused, detail = False, "accepted"
        except sqlite3.Error as e:
            refused, detail = True, str(e)
        if refused and self.features["reset"]:
            try:
                db.execute("SELECT bgupdate_reset('probe_rereg')")
                db.execute(reg, ("c = c + 1000",))
                self.report.check(True, "reset does not allow a new definition", "")
            except sqlite3.Error as e:
                self.report.check(False, "reset does not allow a new definition",
                                  f"probe_rereg: reset() then registering a new definition failed: {e}")
        db.execute("DELETE FROM background_updates WHERE update_name = 'probe_rereg'")
        return refused, f"re-registering a paused, half-done update with another set_clause: {detail}"

    def probe_nested(self):
        db = self.db
        seen = []

        def handler(progress, batch_size):
            if not seen:
                seen.append("trying")  # a nested run of this handler stops here
                try:
                    db.execute("SELECT bgupdate_step()").fetchone()
                    seen.append("accepted")
                except sqlite3.Error as e:
                    seen.append(f"refused: {e}")
            db.execute("SELECT bgupdate_end_update('probe_nested')")
            return 1

        db.create_function("h_probe_nested", 2, handler)
        db.execute("SELECT bgupdate_register_update_handler('probe_nested', 'h_probe_nested')")
        db.execute("SELECT bgupdate_enqueue('probe_nested', -100)")
        try:
            db.execute("SELECT bgupdate_finish('probe_nested')")
        except sqlite3.Error as e:
            return None, f"finish('probe_nested') failed: {e}"
        if len(seen) < 2:
            return None, "the probe's handler recorded nothing"
        return seen[1].startswith("refused"), f"bgupdate_step() inside a batch: {seen[1]}"

    # -- rounds ---------------------------------------------------------------
    def run(self):
        args = self.args
        t0 = time.monotonic()
        deadline = t0 + args.seconds
        number, self.kills = 0, 0
        self.ops_seen = 0
        while True:
            number += 1
            rnd = make_round(number, list(OWNERS), args.rows or 1500,
                             random.Random(derive(self.seed, "sqlite-round", number)))
            define_handlers(self.db, rnd)
            create_round(self.db, rnd)
            self.say(f"round {number}: {len(rnd.updates)} updates on {len(rnd.tables)} tables, "
                     f"{sum(len(t.keys) for t in rnd.tables.values())} rows")
            self.chaos_phase(rnd, deadline)
            self.drain(rnd)
            self.check(rnd)
            if time.monotonic() >= deadline or (args.ops and self.ops_seen >= args.ops):
                break
        self.report.note(f"{number} round(s), {time.monotonic() - t0:.0f} s")

    def spawn(self, rnd_files, index, generation):
        log = os.path.join(self.dir, f"child-{index}-{generation}.log")
        self.logs.append(log)
        seed = derive(self.seed, "sqlite-child", self.round_no, index, generation)
        argv = [sys.executable, CHILD, "--db", self.path, "--extension", self.args.extension,
                "--plan", rnd_files[0], "--features", rnd_files[1], "--log", log, "--stop", rnd_files[2],
                "--seed", str(seed), "--index", str(index), "--generation", str(generation),
                "--parent", str(os.getpid()), "--without", ",".join(sorted(self.args.without))]
        self.children[index] = (subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log + ".err", "w")),
                                generation, log)

    def chaos_phase(self, rnd, deadline):
        self.round_no = rnd.number
        self.fault_windows = set()
        self.canceled = set()
        files = [os.path.join(self.dir, f"r{rnd.number}.{x}") for x in ("plan.json", "features.json", "stop")]
        json.dump(rnd.as_dict(), open(files[0], "w"))
        json.dump(self.features, open(files[1], "w"))
        n = max(1, min(self.args.sessions or 4, 8))
        for i in range(n):
            self.spawn(files, i, 0)
        started = time.monotonic()
        last_kill, next_look = started, started + 1.0
        faults = not self.args.no_faults
        while time.monotonic() < deadline:
            time.sleep(self.rng.uniform(0.2, 1.0))
            now = time.monotonic()
            if faults and "failure_window" not in self.args.without and self.rng.random() < 0.5:
                open_ = [u for u in rnd.updates if u.kind != "idx" and not self.completed(u.name)]
                if open_:
                    u = self.rng.choice(open_)
                    self.db.execute(f"INSERT OR REPLACE INTO chk_faults VALUES (?, {NOW} + ?)",
                                    (u.name, self.rng.uniform(0.2, 1.2)))
                    self.fault_windows.add(u.name)
                    self.report.fault("failure window")
            if faults and "sigkill" not in self.args.without and now - last_kill > self.rng.uniform(2.0, 6.0):
                i = self.rng.randrange(n)
                proc, gen, _ = self.children[i]
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                self.report.fault("SIGKILL of a process")
                self.spawn(files, i, gen + 1)
                last_kill = now
            for i, (proc, gen, log) in list(self.children.items()):
                if proc.poll() is not None:  # died by itself: a crash of the extension or the child
                    self.report.violation("process died", f"process {i}.{gen} exited with {proc.returncode}: "
                                          + open(log + ".err").read()[-800:])
                    self.spawn(files, i, gen + 1)
            if now >= next_look:
                next_look = now + 1.0
                if self.args.ops:
                    self.ops_seen = sum(self.count_lines(log) for log in self.logs)
                    if self.ops_seen >= self.args.ops:
                        break
                if all(self.completed(u.name) for u in rnd.updates):
                    break
        open(files[2], "w").close()  # children stop after their current operation
        for i, (proc, gen, log) in self.children.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.report.violation("process hangs", f"process {i}.{gen} did not stop within 60 s")
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, None):
                self.report.violation("process died", f"process {i}.{gen} exited with {proc.returncode} at stop: "
                                      + open(log + ".err").read()[-800:])
        self.children = {}
        self.collect_logs()
        left = [u.name for u in rnd.updates if not self.completed(u.name)]
        self.say(f"round {rnd.number}: chaos phase {time.monotonic() - started:.0f} s, "
                 f"{len(rnd.updates) - len(left)} of {len(rnd.updates)} updates complete")

    @staticmethod
    def count_lines(path):
        try:
            with open(path) as f:
                return sum(1 for line in f if line.startswith("op\t"))
        except OSError:
            return 0

    def collect_logs(self):
        ops = {}
        for log in self.logs:
            with open(log) as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) != 3:
                        continue  # a line cut by SIGKILL
                    if parts[0] == "op":
                        ops.setdefault(parts[1], {}).setdefault(parts[2], 0)
                        ops[parts[1]][parts[2]] += 1
                    elif parts[0] == "violation":
                        self.report.violation(parts[1], parts[2])
                    elif parts[0] == "canceled":
                        self.canceled.add(parts[1])
        self.report.merge_ops(ops)
        self.ops_seen = sum(sum(c.values()) for c in ops.values())
        self.logs = []

    def completed(self, name):
        return bool(self.db.execute("SELECT bgupdate_has_completed(?)", (name,)).fetchone()[0])

    def drain(self, rnd):
        db = self.db
        db.execute("DELETE FROM chk_faults")
        end = time.monotonic() + self.args.drain_seconds
        retried = set()
        while time.monotonic() < end:
            open_ = [u for u in rnd.updates if not self.completed(u.name)]
            if not open_:
                break
            states = dict(db.execute("SELECT update_name, state FROM bgupdate_status").fetchall())
            for u in open_:
                if states.get(u.name) == "paused":
                    db.execute("SELECT bgupdate_resume(?)", (u.name,))
                elif states.get(u.name) == "failed":
                    retried.add(u.name)
                    db.execute("SELECT bgupdate_retry(?)", (u.name,))
            db.execute("SELECT bgupdate_run(300)")
            for _ in range(200):
                if app_batch(db, rnd) in ("nothing to run", "not the round's", "lock timeout"):
                    break
                self.report.op("drain app_batch", "ran")
            time.sleep(0.05)
        if retried:
            self.report.note(f"round {rnd.number}: retried after the chaos phase (failed on injected faults): "
                             + ", ".join(sorted(retried)))

    # -- checks -----------------------------------------------------------------
    def explained(self, name, error):
        """Whether a recorded failure is one the checker injected: a failure
        window (a trigger raised, or a generic handler's statement did, which
        Python's sqlite3 reports as UDF_ERROR), an application batch rolled
        back or failed on purpose, or a bgupdate_cancel() of that update."""
        text = error or ""
        return (any(m in text for m in INJECTED_MARKERS) or (UDF_ERROR in text and name in self.fault_windows)
                or (name in self.canceled and ("cancel" in text.lower() or "interrupt" in text.lower())))

    def check(self, rnd):
        r = self.report
        final_checks.check_round(r, SqliteView(self.db), rnd)
        unexplained = []
        for u in rnd.updates:
            for event, detail in self.db.execute("SELECT event, detail FROM bgupdate_history WHERE update_name = ? "
                                                 "AND event IN ('failure', 'failed') ORDER BY id", (u.name,)):
                try:
                    d = json.loads(detail) if detail else {}
                except ValueError:
                    d = {"error": detail}
                if not self.explained(u.name, d.get("error")):
                    unexplained.append(f"{u.name}: {event}: {d.get('error')}")
        r.check(not unexplained, "batch failed for a reason the checker did not inject",
                f"round {rnd.number}: {len(unexplained)} failure(s): " + " | ".join(unexplained[:4]))
        integrity = self.db.execute("PRAGMA integrity_check").fetchall()
        r.check(integrity == [("ok",)], "integrity_check", f"round {rnd.number}: integrity_check says {integrity[:5]}")
        journals = glob.glob(self.path + "-journal")
        r.check(not journals, "journal left behind", f"round {rnd.number}: {journals} exists (a rollback journal "
                                                     "in a WAL database: a transaction was left hot)")

    def finish(self):
        for proc, _, _ in self.children.values():
            proc.kill()
        for kind in ("unexpected error", "process died", "process hangs",
                     "re-registration with a different definition accepted"):
            self.report.none_seen(kind)
        try:
            self.db.close()
        except Exception:
            pass
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.say(f"database kept: {self.path}")
