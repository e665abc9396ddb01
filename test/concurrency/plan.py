"""The updates of one round, the same on both engines: every handler kind,
each with a change that shows a repeat or a miss.

  bump       batched update `c = c + 1`: a repeated range leaves 2, a missed one 0
  bump2      batched update `d = d + 1` on the same table, after bump (depends_on)
  gen_array  generic handler appending one element to an array column per row
  gen_log    generic handler inserting one log row per processed row
  app        application batches (batch_begin/end) inserting one log row per row
  vd         validate-and-delete: rows with v NULL break the rule and must go,
             every other row must stay as it was
  idx        an index update on bump's table, after bump
  vc         validate a constraint added NOT VALID (PostgreSQL; a no-op on SQLite)

Keys are random (gaps between them), so a range that is off by one key
shows. Everything is derived from the round's seed."""
import dataclasses
import random

KINDS = ("bump", "bump2", "gen_array", "gen_log", "app", "vd", "idx", "vc")
CHECK_CONSTRAINT = "g_id_positive"  # vc's constraint, on the gen table


@dataclasses.dataclass
class Update:
    name: str
    kind: str
    owner: str          # PostgreSQL role (or "main" on SQLite)
    table: str          # table name inside the owner's schema
    log_table: str = ""  # gen_log, app
    depends_on: str = ""
    ordering: int = 0
    index_name: str = ""

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TableData:
    name: str
    owner: str
    keys: list          # sorted ids
    bad: set            # vd: ids whose v is NULL

    def as_dict(self):
        return {"name": self.name, "owner": self.owner, "keys": self.keys, "bad": sorted(self.bad)}


@dataclasses.dataclass
class Round:
    number: int
    updates: list
    tables: dict        # (owner, name) -> TableData

    def update(self, name):
        for u in self.updates:
            if u.name == name:
                return u
        return None

    def table_of(self, u):
        return self.tables[(u.owner, u.table)]

    def as_dict(self):
        return {"number": self.number, "updates": [u.as_dict() for u in self.updates],
                "tables": [t.as_dict() for t in self.tables.values()]}

    @staticmethod
    def from_dict(d):
        tables = {(t["owner"], t["name"]): TableData(t["name"], t["owner"], t["keys"], set(t["bad"]))
                  for t in d["tables"]}
        return Round(d["number"], [Update(**u) for u in d["updates"]], tables)


def make_round(number, owners, rows, rng):
    """owners: list of owner names (PostgreSQL roles, or one name on SQLite)."""
    updates, tables = [], {}
    r = number

    def table(owner, name, bad_every=0):
        n = max(10, int(rows * rng.uniform(0.7, 1.3)))
        keys = sorted(rng.sample(range(1, n * 7), n))
        bad = {k for k in keys if bad_every and rng.randrange(bad_every) == 0}
        tables[(owner, name)] = TableData(name, owner, keys, bad)

    for i, o in enumerate(owners):
        base = 10 * i
        t, g, a, v = f"t_r{r}", f"g_r{r}", f"a_r{r}", f"v_r{r}"
        table(o, t)
        table(o, g)
        table(o, a)
        table(o, v, bad_every=rng.choice((3, 7, 20)))
        gen_kind = "gen_array" if (i + r) % 2 == 0 else "gen_log"
        updates += [
            Update(f"{o}_bump_r{r}", "bump", o, t, ordering=base + 1),
            Update(f"{o}_bump2_r{r}", "bump2", o, t, depends_on=f"{o}_bump_r{r}", ordering=base + 2),
            Update(f"{o}_idx_r{r}", "idx", o, t, depends_on=f"{o}_bump_r{r}", ordering=base + 3,
                   index_name=f"ix_{o}_r{r}"),
            Update(f"{o}_gen_r{r}", gen_kind, o, g, log_table=f"glog_r{r}" if gen_kind == "gen_log" else "",
                   ordering=base + 4),
            Update(f"{o}_app_r{r}", "app", o, a, log_table=f"alog_r{r}", ordering=base + 5),
            Update(f"{o}_vd_r{r}", "vd", o, v, ordering=base + 6),
            Update(f"{o}_vc_r{r}", "vc", o, g, ordering=base + 7),
        ]
    # Orderings interleave between owners, so that no owner always goes first.
    rng.shuffle(updates)
    for n, u in enumerate(updates):
        if not u.depends_on:
            u.ordering = n
    return Round(number, updates, tables)


def derive(seed, *parts):
    """A child seed for one actor, round or process: stable for a given seed."""
    return random.Random(f"{seed}/" + "/".join(str(p) for p in parts)).randrange(1 << 62)
