#!/usr/bin/python3
"""Randomized concurrency checker for bgupdate: every runner at once, with
faults, then proof that every row was changed exactly once, that status and
history tell the truth, and that nothing is stuck or left behind.

  /usr/bin/python3 test/concurrency/checker.py [--engine pg|sqlite|both]
      [--seconds N] [--ops N] [--seed N] [--rows N] [--sessions N]

The seed (printed first; random unless given) fixes every actor's sequence
of choices, the data, the settings and the fault schedule; the interleaving
of actors still depends on timing, so a replay repeats the same mix, not
the same schedule. Exit status 1 on any violation; the last line is
"N passed, N failed" (checks)."""
import argparse
import os
import random
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from report import Report  # noqa: E402


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=("pg", "sqlite", "both"), default="both")
    p.add_argument("--seconds", type=float, default=60, help="chaos time per engine (default 60)")
    p.add_argument("--pg-seconds", type=float, default=None, help="PostgreSQL's chaos time (default: --seconds)")
    p.add_argument("--sqlite-seconds", type=float, default=None, help="SQLite's chaos time (default: --seconds)")
    p.add_argument("--ops", type=int, default=0, help="stop each engine after this many operations (0: by time)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--rows", type=int, default=None, help="rows per table (default: PostgreSQL 800, SQLite 1500)")
    p.add_argument("--sessions", type=int, default=None, help="PostgreSQL sessions / SQLite processes (default 5 / 4)")
    p.add_argument("--workers", type=int, default=3, help="PostgreSQL: bgupdate.max_parallel, workers of the "
                                                          "database at once (default 3)")
    p.add_argument("--drain-seconds", type=float, default=120, help="how long the drain may take before an update "
                                                                     "counts as stuck (default 120)")
    p.add_argument("--no-faults", action="store_true", help="runners only, no injected faults")
    p.add_argument("--without", default="", help="comma-separated operation or fault kinds to leave out, to narrow "
                   "down a violation (step, step_burst, run, finish, app_batch, pause, resume, retry, cancel, "
                   "reregister, start_thread, stop_thread; failure_window, cancel_backend, terminate_backend, "
                   "kill9, sigkill)")
    p.add_argument("--pgbin", default=os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
    p.add_argument("--port", type=int, default=int(os.environ.get("CHECKER_PORT", "54380")))
    p.add_argument("--extension", default=os.path.join(ROOT, "sqlite_extension", "bgupdate.so"))
    p.add_argument("--keep", action="store_true", help="keep the server folder / database file")
    a = p.parse_args(argv)
    a.without = {w.strip() for w in a.without.split(",") if w.strip()}
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 10 ** 9)
    return a


def run_engine(name, runner_cls, args, out, seconds):
    report = Report()
    args = argparse.Namespace(**vars(args))
    args.seconds = seconds
    print(f"== {name}: seed {args.seed}", file=out, flush=True)
    runner = runner_cls(args, report, out)
    try:
        runner.start()
        runner.run()
    except Exception as e:  # the checker itself broke: a failure, with its trace
        report.check(False, "checker error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        try:
            runner.finish()
        except Exception as e:
            report.check(False, "checker error", f"while finishing: {type(e).__name__}: {e}")
    report.print(out, name)
    return report


def main(argv):
    args = parse(argv)
    out = sys.stdout
    print(f"bgupdate concurrency checker: seed {args.seed}, engine {args.engine}, "
          f"{args.pg_seconds or args.seconds:g} s PostgreSQL / {args.sqlite_seconds or args.seconds:g} s SQLite"
          + (f", {args.ops} operations" if args.ops else ""), flush=True)
    seconds = {"pg": args.pg_seconds or args.seconds, "sqlite": args.sqlite_seconds or args.seconds}
    replay = (f"/usr/bin/python3 test/concurrency/checker.py --engine {{engine}} --seed {args.seed} "
              f"--seconds {{seconds:g}} --workers {args.workers}"
              + (f" --sessions {args.sessions}" if args.sessions else "")
              + (f" --ops {args.ops}" if args.ops else "") + (f" --rows {args.rows}" if args.rows else "")
              + (f" --without {','.join(sorted(args.without))}" if args.without else "")
              + (" --no-faults" if args.no_faults else ""))
    reports = []
    t0 = time.monotonic()
    if args.engine in ("pg", "both"):
        from pg_run import PgRun
        r = run_engine("postgresql", PgRun, args, out, seconds["pg"])
        reports.append(("pg", r))
    if args.engine in ("sqlite", "both"):
        from sqlite_run import SqliteRun
        r = run_engine("sqlite", SqliteRun, args, out, seconds["sqlite"])
        reports.append(("sqlite", r))
    passed = sum(r.passed for _, r in reports)
    failed = sum(r.failed for _, r in reports)
    for engine, r in reports:
        if r.failed:
            print(f"replay {engine}: " + replay.format(engine=engine, seconds=seconds[engine]))
    print(f"total time {time.monotonic() - t0:.0f} s, seed {args.seed}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
