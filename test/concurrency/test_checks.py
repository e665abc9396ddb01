"""The checker's own checks, on made-up databases: each kind of wrong
history or data is found, and a right one passes. (The checker is only as
good as these: once the product is right it always passes, and a check that
had stopped seeing anything would go unnoticed.) Ends with "N passed, N failed"."""
import sys
import unittest

sys.dont_write_bytecode = True

import final_checks  # noqa: E402
from plan import Round, TableData, Update  # noqa: E402
from report import Report  # noqa: E402

KEYS = [3, 5, 8, 13, 21, 34, 55, 89]


def batch(i, lo, hi, items, number=None, to_null=False):
    frm = {} if lo is None else {"lower_bound": [lo]}
    to = None if to_null else {"lower_bound": [hi]}
    return {"id": i, "event": "batch", "batches": number or i, "items": items,
            "detail": {"from": frm, "to": to, "batch_size": 3}}


def complete(i, total):
    return {"id": i, "event": "complete", "batches": None, "items": total, "detail": None}


class FakeView:
    def __init__(self, history, values, status, extra=None):
        self.h, self.values, self.st = history, values, status
        self.extra = extra or {}

    def status(self):
        return self.st

    def describe(self, name):
        return "fake"

    def history(self, name):
        return self.h.get(name, [])

    def column_values(self, u, column):
        return self.values[u.name]

    def vd_rows(self, u):
        return self.values[u.name]

    def constraint_validated(self, u, name):
        return True


def bump_round(kind="bump"):
    u = Update("u", kind, "o", "t_r1", ordering=1)
    return Round(1, [u], {("o", "t_r1"): TableData("t_r1", "o", KEYS, set())})


def clean_history():
    return [batch(1, None, 8, 3), batch(2, 8, 34, 3), batch(3, 34, None, 2, to_null=True), complete(4, 8)]


def run_checks(rnd, view):
    r = Report()
    final_checks.check_round(r, view, rnd)
    return r, {k for k, _ in r.violations}


class Checks(unittest.TestCase):
    def status(self, items=8, batches=3, state="complete"):
        return {"u": {"state": state, "items_done": items, "batches": batches}}

    def test_a_right_run_passes(self):
        r, kinds = run_checks(bump_round(), FakeView({"u": clean_history()}, {"u": {k: 1 for k in KEYS}}, self.status()))
        self.assertEqual(kinds, set(), r.violations)
        self.assertGreater(r.passed, 5)

    def test_a_repeated_batch_is_found(self):
        h = clean_history()
        h.insert(2, batch(9, 8, 34, 3, number=2))  # batch 2 ran twice: keys 13, 21, 34 changed twice
        values = {k: 2 if 8 < k <= 34 else 1 for k in KEYS}
        r, kinds = run_checks(bump_round(), FakeView({"u": h}, {"u": values}, self.status(items=11, batches=3)))
        self.assertTrue({"repeated or missed rows", "history ranges overlap or leave gaps", "items_done mismatch",
                         "history batch count mismatch"} <= kinds, kinds)
        self.assertIn("13, 21, 34", " ".join(m for k, m in r.violations if k == "repeated or missed rows"))

    def test_a_skipped_range_is_found(self):
        h = [batch(1, None, 8, 3), batch(3, 34, None, 2, to_null=True), complete(4, 5)]
        values = {k: 0 if 8 < k <= 34 else 1 for k in KEYS}
        r, kinds = run_checks(bump_round(), FakeView({"u": h}, {"u": values}, self.status(items=5, batches=2)))
        self.assertTrue({"repeated or missed rows", "history ranges overlap or leave gaps"} <= kinds, kinds)
        self.assertIn("gap", " ".join(m for k, m in r.violations if k == "history ranges overlap or leave gaps"))

    def test_items_that_do_not_match_the_range_are_found(self):
        h = clean_history()
        h[1] = batch(2, 8, 34, 4)
        _, kinds = run_checks(bump_round(), FakeView({"u": h}, {"u": {k: 1 for k in KEYS}}, self.status(items=9)))
        self.assertIn("batch items differ from its range", kinds)

    def test_a_from_that_is_the_progress_after_still_shows_a_repeat(self):
        h = [batch(1, 8, 8, 3), batch(2, 34, 34, 3), batch(3, 34, 34, 3, number=2),
             batch(4, 34, None, 2, to_null=True), complete(5, 11)]
        _, kinds = run_checks(bump_round(), FakeView({"u": h}, {"u": {k: 1 for k in KEYS}}, self.status(11, 4)))
        self.assertIn("history from is the progress after the batch", kinds)
        self.assertIn("history ranges overlap or leave gaps", kinds)

    def test_an_update_missing_from_status_is_found(self):
        _, kinds = run_checks(bump_round(), FakeView({"u": clean_history()}, {"u": {k: 1 for k in KEYS}}, {}))
        self.assertIn("update not complete in status", kinds)

    def test_validate_and_delete_rows(self):
        u = Update("v", "vd", "o", "v_r1")
        rnd = Round(1, [u], {("o", "v_r1"): TableData("v_r1", "o", KEYS, {5, 55})})
        good = {k: final_checks.vd_value(k) for k in KEYS if k not in (5, 55)}
        h = [{"id": 1, "event": "batch", "batches": 1, "items": 4,
              "detail": {"from": {}, "to": {"state": "check", "lower_bound": [13]}}},
             {"id": 2, "event": "batch", "batches": 2, "items": 3,
              "detail": {"from": {"state": "check", "lower_bound": [13]}, "to": {"state": "validate"}}},
             {"id": 3, "event": "batch", "batches": 3, "items": 0, "detail": {"from": {"state": "validate"}, "to": None}},
             complete(4, 7)]
        st = {"v": {"state": "complete", "items_done": 7, "batches": 3}}
        r, kinds = run_checks(rnd, FakeView({"v": h}, {"v": good}, st))
        self.assertEqual(kinds, set(), r.violations)
        wrong = dict(good)
        wrong[55] = None      # a breaking row left
        del wrong[89]         # a good row deleted
        _, kinds = run_checks(rnd, FakeView({"v": h}, {"v": wrong}, st))
        self.assertIn("validate-and-delete wrong rows", kinds)

    def test_a_dependent_that_ran_first_is_found(self):
        a = Update("a", "bump", "o", "t_r1")
        b = Update("b", "bump2", "o", "t_r1", depends_on="a")
        rnd = Round(1, [a, b], {("o", "t_r1"): TableData("t_r1", "o", KEYS, set())})
        ha = [batch(1, None, None, 8, to_null=True), complete(5, 8)]
        hb = [batch(3, None, None, 8, to_null=True), complete(6, 8)]
        st = {n: {"state": "complete", "items_done": 8, "batches": 1} for n in ("a", "b")}
        _, kinds = run_checks(rnd, FakeView({"a": ha, "b": hb}, {"a": {k: 1 for k in KEYS}, "b": {k: 1 for k in KEYS}},
                                            st))
        self.assertIn("dependency order", kinds)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
