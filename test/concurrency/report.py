"""What a checker run saw: operations by kind and outcome, faults injected,
checks passed and failed, and every violation with what is needed to replay
it. Actors in several threads write to one Report, so it locks."""
import collections
import threading

# Violations of one kind beyond this many are counted, not all printed.
_EXAMPLES_PER_KIND = 5


class Report:
    def __init__(self):
        self._lock = threading.Lock()
        self.ops = collections.defaultdict(collections.Counter)  # kind -> outcome -> count
        self.faults = collections.Counter()
        self.violations = []  # (kind, message)
        self.notes = []
        self.passed = 0
        self.failed = 0

    def op(self, kind, outcome="ok", n=1):
        with self._lock:
            self.ops[kind][outcome] += n

    def fault(self, kind, n=1):
        with self._lock:
            self.faults[kind] += n

    def note(self, text):
        with self._lock:
            self.notes.append(text)

    def violation(self, kind, message):
        with self._lock:
            self.violations.append((kind, message))

    def check(self, ok, kind, message):
        """One named check: counted as passed, or failed with a violation."""
        with self._lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                self.violations.append((kind, message))
        return ok

    def count(self, kind):
        with self._lock:
            return sum(1 for k, _ in self.violations if k == kind)

    def none_seen(self, kind):
        """A check over the whole run: no violation of this kind was recorded
        while the actors ran (each one is listed with its details)."""
        n = self.count(kind)
        with self._lock:
            if n:
                self.failed += 1
            else:
                self.passed += 1
        return n == 0

    def op_total(self):
        with self._lock:
            return sum(sum(c.values()) for c in self.ops.values())

    def merge_ops(self, counts):
        """counts: {kind: {outcome: n}} (from a process that logged its own)."""
        with self._lock:
            for kind, outcomes in counts.items():
                for outcome, n in outcomes.items():
                    self.ops[kind][outcome] += n

    def print(self, out, title):
        with self._lock:
            print(f"-- {title}: operations", file=out)
            for kind in sorted(self.ops):
                c = self.ops[kind]
                parts = ", ".join(f"{o} {n}" for o, n in sorted(c.items(), key=lambda x: -x[1]))
                print(f"   {kind:<22} {sum(c.values()):>7}  ({parts})", file=out)
            print(f"-- {title}: faults injected", file=out)
            if not self.faults:
                print("   none", file=out)
            for kind, n in sorted(self.faults.items()):
                print(f"   {kind:<22} {n:>7}", file=out)
            for n in self.notes:
                print(f"-- {title}: {n}", file=out)
            by_kind = collections.defaultdict(list)
            for kind, message in self.violations:
                by_kind[kind].append(message)
            print(f"-- {title}: {len(self.violations)} violation(s)", file=out)
            for kind, messages in by_kind.items():
                print(f"   [{kind}] {len(messages)} time(s)", file=out)
                for m in messages[:_EXAMPLES_PER_KIND]:
                    print(f"      {m}", file=out)
                if len(messages) > _EXAMPLES_PER_KIND:
                    print(f"      ... {len(messages) - _EXAMPLES_PER_KIND} more of this kind", file=out)
            print(f"-- {title}: checks {self.passed} passed, {self.failed} failed", file=out)
