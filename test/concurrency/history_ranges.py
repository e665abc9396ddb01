"""The key ranges that a history's `batch` rows say were done, and whether
they are disjoint and cover the table (README "History": `detail` holds
`from`, the progress before the batch, and `to`, the progress after it,
null when the batch completed the update).

A range is (lo, hi]: lo is the last key done before the batch (-inf at the
start), hi the last key the batch did (+inf for the batch that reached the
end). Pure functions, no database."""
import bisect
import math

NEG, POS = -math.inf, math.inf


def _bound(progress, kind):
    """The last key done according to a progress object (None: nothing yet)."""
    if not isinstance(progress, dict):
        return None
    if kind in ("gen_array", "gen_log", "app"):
        v = progress.get("last_id")
    else:
        lb = progress.get("lower_bound")
        v = lb[0] if isinstance(lb, list) and lb else None
    return None if v is None else int(v)


class Batch:
    """One `batch` row of the history, as a key range (or not a range: the
    validate step of validate-and-delete)."""

    def __init__(self, hist_id, number, items, detail, kind):
        self.id = hist_id
        self.number = number
        self.items = items
        self.detail = detail
        frm = detail.get("from") if isinstance(detail, dict) else None
        to = detail.get("to") if isinstance(detail, dict) else None
        self.is_range = True
        self.final_check = False
        if kind == "vd" and isinstance(frm, dict) and frm.get("state") == "validate":
            self.is_range = False  # VALIDATE CONSTRAINT: no keys
        lo = _bound(frm, kind)
        self.lo = NEG if lo is None else lo
        if to is None:
            self.hi = POS
        elif kind == "vd" and isinstance(to, dict) and to.get("state") == "validate":
            self.hi = POS
            self.final_check = True
        else:
            hi = _bound(to, kind)
            self.hi = POS if hi is None else hi
        self.from_equals_to = isinstance(to, dict) and frm == to

    def describe(self):
        return f"history id {self.id} (batch #{self.number}, {self.items} items, keys ({_fmt(self.lo)}, {_fmt(self.hi)}])"


def _fmt(v):
    return "-inf" if v == NEG else "+inf" if v == POS else str(v)


def keys_in(keys, lo, hi):
    """How many of the sorted keys lie in (lo, hi]."""
    a = 0 if lo == NEG else bisect.bisect_right(keys, lo)
    b = len(keys) if hi == POS else bisect.bisect_right(keys, hi)
    return max(0, b - a)


def range_problems(batches):
    """Overlaps and gaps among the ranges; [] when they are disjoint and
    cover (-inf, +inf)."""
    ranges = sorted((b for b in batches if b.is_range), key=lambda b: (b.lo, b.hi, b.id))
    problems = []
    reach, last = NEG, None
    for b in ranges:
        if b.lo < reach:
            problems.append(f"overlap: {b.describe()} repeats keys of {last.describe()}")
        elif b.lo > reach:
            problems.append(f"gap: keys ({_fmt(reach)}, {_fmt(b.lo)}] are in no batch (next: {b.describe()})")
        if b.hi >= reach:
            reach, last = b.hi, b
    if reach != POS:
        problems.append(f"gap: keys after {_fmt(reach)} are in no batch")
    return problems


def chain_problems(batches):
    """When `from` cannot be trusted: in commit order (history id) each
    batch must end after the one before, and only the last reaches the end.
    A repeated batch ends where an earlier one did."""
    problems = []
    prev = None
    for b in sorted((b for b in batches if b.is_range), key=lambda b: b.id):
        if prev is not None and b.hi <= prev.hi:
            problems.append(f"repeat: {b.describe()} ends no later than {prev.describe()}")
        prev = b
    if prev is not None and prev.hi != POS:
        problems.append(f"gap: the last batch {prev.describe()} did not reach the end")
    return problems


def items_expected(b, kind, keys, good_keys):
    """Items a batch should report for its range: the rows it covered (for
    the final check batch of validate-and-delete: the rows left in it)."""
    if not b.is_range:
        return 0
    if kind == "vd" and b.final_check:
        return keys_in(good_keys, b.lo, b.hi)
    return keys_in(keys, b.lo, b.hi)
