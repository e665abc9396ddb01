"""The checks at the end of a round, the same on both engines. `view` reads
the database (pg_view.PgView, sqlite_view.SqliteView): status, history,
and the columns that show how often each row was changed.

  - every row changed exactly once (per handler kind: its counter, array,
    log rows, or for validate-and-delete: breaking rows gone, others intact)
  - items_done equals the rows the update covered, and the history's items
  - the history's batch ranges are disjoint and cover the table
  - dependencies held (a dependent's first batch after its dependency completed)
  - every update complete, the index valid
"""
import collections

import history_ranges as hr
from plan import CHECK_CONSTRAINT

# Batch rows kept per update (README "History": the newest 1,000).
HISTORY_KEPT = 1000


def _ids(ids, limit=8):
    ids = sorted(ids)
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(str(i) for i in ids[:limit]) + more


def _histogram(values):
    return ", ".join(f"{v}: {n} rows" for v, n in sorted(collections.Counter(values).items(), key=str))


def check_exactly_once(report, view, rnd, u):
    t = rnd.table_of(u)
    keys = set(t.keys)
    where = f"{u.name} ({u.kind}, table {u.table})"
    if u.kind in ("bump", "bump2", "gen_array", "gen_log", "app"):
        if u.kind == "bump":
            got = view.column_values(u, "c")
        elif u.kind == "bump2":
            got = view.column_values(u, "d")
        elif u.kind == "gen_array":
            got = view.array_lengths(u)
        else:
            got = collections.Counter(view.log_ids(u))
            got = {k: got.get(k, 0) for k in keys} | {k: n for k, n in got.items() if k not in keys}
        missed = [k for k in keys if got.get(k, 0) == 0]
        repeated = [k for k in keys if (got.get(k) or 0) > 1]
        strangers = [k for k in got if k not in keys]
        ok = not missed and not repeated and not strangers
        msg = (f"{where}: rows changed 0 times: {len(missed)} [{_ids(missed)}]; more than once: {len(repeated)} "
               f"[{_ids(repeated)}]; times changed: {_histogram(got.values())}"
               + (f"; rows that are not in the table: {_ids(strangers)}" if strangers else ""))
        report.check(ok, "repeated or missed rows", msg)
    elif u.kind == "vd":
        rows = view.vd_rows(u)
        left_bad = [k for k, v in rows.items() if v is None]
        good = keys - t.bad
        lost = [k for k in good if k not in rows]
        changed = [k for k, v in rows.items() if v is not None and v != vd_value(k)]
        ok = not left_bad and not lost and not changed and set(rows) <= keys
        report.check(ok, "validate-and-delete wrong rows",
                     f"{where}: rows breaking the rule left: {len(left_bad)} [{_ids(left_bad)}]; good rows deleted: "
                     f"{len(lost)} [{_ids(lost)}]; good rows changed: {len(changed)} [{_ids(changed)}]")
        report.check(view.constraint_validated(u, "v_not_null"), "constraint not validated",
                     f"{where}: the constraint is not marked valid after the update completed")
    elif u.kind == "vc":
        report.check(view.constraint_validated(u, CHECK_CONSTRAINT), "constraint not validated",
                     f"{where}: constraint {CHECK_CONSTRAINT} is not marked valid after the update completed")
    elif u.kind == "idx":
        exists, valid = view.index_state(u)
        report.check(exists and valid, "index not valid",
                     f"{where}: index {u.index_name} exists={exists} valid={valid}")


def vd_value(key):
    """The value a good row of a validate-and-delete table holds (set up so)."""
    return key % 97 + 1


def check_history(report, view, rnd, u, status_row):
    """items_done, batch count and the ranges of the history's batch rows."""
    if u.kind in ("idx", "vc"):
        return  # one batch, no key range
    t = rnd.table_of(u)
    keys = t.keys
    good = sorted(set(keys) - t.bad)
    rows = view.history(u.name)
    batches = [hr.Batch(r["id"], r["batches"], r["items"], r["detail"], u.kind) for r in rows if r["event"] == "batch"]
    where = f"{u.name} ({u.kind})"
    completes = [r for r in rows if r["event"] == "complete"]
    report.check(len(completes) == 1, "history complete rows",
                 f"{where}: {len(completes)} 'complete' rows in the history (expected 1)")
    items_done = status_row.get("items_done") if status_row else None
    n_batches = status_row.get("batches") if status_row else None
    pruned = n_batches is not None and n_batches > len(batches) and len(batches) >= HISTORY_KEPT - 100
    if pruned:
        report.note(f"{where}: {n_batches} batches, the history keeps {len(batches)}: range checks skipped "
                    "(size updates under 1,000 batches)")
        return
    # What the update covered, by its kind (README: a batched update counts rows covered).
    # Validate-and-delete's last check batch counts the rows left in its range.
    expected_clean = len(keys)
    if u.kind == "vd":
        expected_clean -= len([k for k in t.bad if k > _last_full_bound(batches)])
    report.check(items_done == expected_clean, "items_done mismatch",
                 f"{where}: items_done {items_done}, rows covered {expected_clean} (table has {len(keys)} rows)")
    report.check(items_done == sum(b.items for b in batches), "history items mismatch",
                 f"{where}: items_done {items_done}, the history's batch rows add up to {sum(b.items for b in batches)}")
    report.check(n_batches == len(batches), "history batch count mismatch",
                 f"{where}: status batches {n_batches}, history batch rows {len(batches)}")
    from_after = [b for b in batches if b.is_range and b.from_equals_to and b.items > 0]
    if from_after:
        report.check(False, "history from is the progress after the batch",
                     f"{where}: {len(from_after)} of {len(batches)} batch rows have detail.from equal to detail.to "
                     f"(the progress after the batch, not before), e.g. {from_after[0].describe()} "
                     f"detail {from_after[0].detail}; ranges checked by their ends only")
        problems = hr.chain_problems(batches)
    else:
        problems = hr.range_problems(batches)
        wrong_items = [b for b in batches if b.items != hr.items_expected(b, u.kind, keys, good)]
        report.check(not wrong_items, "batch items differ from its range",
                     f"{where}: {len(wrong_items)} batch rows whose items differ from the rows in their range, e.g. "
                     + "; ".join(f"{b.describe()} expected {hr.items_expected(b, u.kind, keys, good)}"
                                 for b in wrong_items[:3]))
    report.check(not problems, "history ranges overlap or leave gaps",
                 f"{where}: " + "; ".join(problems[:4]) + (f"; ... {len(problems) - 4} more" if len(problems) > 4 else ""))


def _last_full_bound(batches):
    """The lower bound of validate-and-delete's last check batch (rows after it
    are counted after deletion); -inf when there is none."""
    finals = [b.lo for b in batches if b.final_check]
    return min(finals) if finals else hr.NEG


def check_dependencies(report, view, rnd):
    for u in rnd.updates:
        if not u.depends_on:
            continue
        dep_rows = view.history(u.depends_on)
        done = [r["id"] for r in dep_rows if r["event"] == "complete"]
        mine = [r["id"] for r in view.history(u.name) if r["event"] in ("batch", "complete")]
        ok = bool(done) and bool(mine) and min(mine) > min(done)
        report.check(ok, "dependency order",
                     f"{u.name} ran before {u.depends_on} completed: its first history row {min(mine) if mine else None},"
                     f" {u.depends_on}'s complete row {min(done) if done else None}")


def check_round(report, view, rnd):
    status = view.status()
    for u in rnd.updates:
        st = status.get(u.name)
        ok = st is not None and st["state"] == "complete"
        report.check(ok, "update not complete in status",
                     "" if ok else f"{u.name}: status state {st['state'] if st else '(no row)'} after the drain"
                     + (f", last_error {st.get('last_error')}" if st else "") + "; " + view.describe(u.name))
        check_exactly_once(report, view, rnd, u)
        check_history(report, view, rnd, u, st)
    check_dependencies(report, view, rnd)
