"""Benchmark organisations: small, random, with known leaks — or none — to grade detection on.

The default demo seeds fixed recipes at fixed places: good for a test, useless for measuring
how often and how soon dipstick finds a leak. ``generate_bench`` draws a fresh small
organisation per seed instead: 8–15 services taken from Northwind's catalog, a random handful
of causes seeded at random onsets (8–40 weeks before the end of the data) with a random
*magnitude* between the default demo's subtle recipe (just past the leak line) and its strong
one, and a random *noise* level scaling usage, touchpoint, KPI and survey noise. With
``stable=True`` nothing is seeded: every `leak` found there is a false alarm.

Besides ``ground_truth.json`` it writes ``bench.json`` (noise, and each leak's magnitude), so a
benchmark can break its results down by how strong a leak was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from dipstick.demo import catalog, leaks, signals, tickets, voices, writer
from dipstick.demo.catalog import Catalog, ServiceDef
from dipstick.demo.sampling import mean_for_pmd
from dipstick.demo.timeline import Timeline
from dipstick.demo.truth import GroundTruth
from dipstick.model import ValueModel
from dipstick.package.tables import FORMATS, TABLES

CAUSES = ("alignment", "change", "customer_experience", "employee_experience", "flow",
          "perception", "retirement", "training")
SERVICES = (8, 15)       # services per organisation (inclusive)
LEAKS = (2, 5)           # seeded leaks per leaking organisation (inclusive)
ONSET_WEEKS = (8, 40)    # onset, weeks before the end of the data (inclusive)
RAMP_WEEKS = (4, 16)     # a usage decline or KPI drift reaches its level in this many weeks
NOISE = (0.5, 2.0)       # noise multiplier, drawn log-uniform
KPI_START = 0.12         # a KPI starts at most this far off target (the demo's start
                         # 60 % off, so its first year is legitimately `leak`)
BENCH_FILE = "bench.json"


@dataclass(frozen=True)
class Seeded:
    service: str
    cause: str
    magnitude: float     # 0 = the subtle recipe (just past the leak line), 1 = the strong one


def generate_bench(path: str | Path, seed: int, stable: bool = False) -> GroundTruth:
    """Write one benchmark organisation into ``path`` and return its ground truth."""
    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, 1000 + stream, int(stable)])

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    full = catalog.named(rng(1), tl)
    for o in full.outcomes:   # healthy KPIs near target all along, not just at the end
        o.start_ratio = 1 + float(np.clip(o.start_ratio - 1, -KPI_START, KPI_START))
    draw = rng(3)
    p = _BenchPlanner(full, tl, draw)
    if not stable:
        p.seed_leaks(int(draw.integers(LEAKS[0], LEAKS[1] + 1)))
    n = int(draw.integers(SERVICES[0], SERVICES[1] + 1))
    kept = _choose(full, p.taken, n, draw)
    noise = float(np.exp(draw.uniform(np.log(NOISE[0]), np.log(NOISE[1]))))
    cat, knobs = _subset(full, p.k, kept)
    dau = signals.users_matrix(cat, knobs, tl, rng(4), noise=noise)
    doc = writer.value_model(cat, tl)
    ValueModel.model_validate(doc)
    for table in TABLES:
        for ext in FORMATS:
            (folder / f"{table}{ext}").unlink(missing_ok=True)
    writer.write_model(folder, doc)
    builders: dict[str, Callable[[], pa.Table]] = {
        "usage": lambda: signals.usage_table(cat, dau, tl),
        "costs": lambda: signals.costs_table(cat, tl, rng(5)),
        "training": lambda: signals.training_table(cat, knobs, tl, rng(6)),
        "changes": lambda: signals.changes_table(cat, knobs, tl, rng(7)),
        "tickets": lambda: tickets.tickets_table(cat, knobs, dau, tl, rng(8)),
        "surveys": lambda: voices.surveys_table(cat, knobs, tl, rng(9),
                                                sd=leaks.SURVEY_SD * noise),
        "kpis": lambda: voices.kpis_table(cat, tl, rng(10), noise=noise),
        "touchpoints": lambda: voices.touchpoints_table(cat, knobs, tl, rng(11), noise=noise),
    }
    for name, build in builders.items():
        writer.write_table(folder, name, build(), "csv")
    seeded = sorted(p.leaks, key=lambda x: (x.cause, x.service))
    truth = GroundTruth(seed, "stable" if stable else "bench", tl.as_of, seeded,
                        [s.id for s in cat.services if s.id not in p.taken])
    truth.dump(folder)
    extra = {"noise": round(noise, 3), "leaks": [
        {"service": x.service, "cause": x.cause, "magnitude": round(x.magnitude, 3)}
        for x in sorted(p.seeded, key=lambda x: (x.cause, x.service))]}
    (folder / BENCH_FILE).write_text(json.dumps(extra, indent=2) + "\n", encoding="utf-8")
    return truth


def _choose(cat: Catalog, taken: set[str], n: int, rng: np.random.Generator) -> list[str]:
    """The seeded services plus random others, ``n`` in all, in catalog order."""
    rest = [s.id for s in cat.services if s.id not in taken and not s.legacy]
    extra = [rest[int(i)] for i in rng.permutation(len(rest))[: max(0, n - len(taken))]]
    keep = taken | set(extra)
    return [s.id for s in cat.services if s.id in keep]


def _subset(full: Catalog, k: leaks.Knobs, kept: list[str]) -> tuple[Catalog, leaks.Knobs]:
    """The catalog cut down to ``kept`` (their outcomes, streams and journeys) and the knobs
    re-indexed to match."""
    keep = set(kept)
    services = [s for s in full.services if s.id in keep]
    old = [full.index[s.id] for s in services]
    new_of = {o: i for i, o in enumerate(old)}
    linked = {o for s in services for o, _ in s.supports}
    outcomes = [o for o in full.outcomes if o.id in linked]
    steps = [st for st in full.steps if keep & set(st.services)]
    streams = {st.stream for st in steps}
    steps = [replace(st, services=tuple(x for x in st.services if x in keep))
             for st in full.steps if st.stream in streams]
    for copy, orig in zip(steps, (st for st in full.steps if st.stream in streams),
                          strict=True):
        copy.base = orig.base         # the earlier map's figures, from before the leak
    tps = [t for t in full.touchpoints if keep & set(t.services)]
    for t in tps:
        t.services = tuple(x for x in t.services if x in keep)
    journeys = {t.journey for t in tps}
    cat = Catalog(full.groups, outcomes, services, [s for s in full.streams if s[0] in streams],
                  steps, [j for j in full.journeys if j[0] in journeys], tps)
    idx = np.array(old, dtype=np.int64)
    kn = leaks.Knobs(k.onset[idx], k.decline[idx], k.questions[idx], k.incidents[idx],
                     k.sat_all[idx], k.sat_internal[idx], k.sat_customer[idx], k.lost[idx],
                     k.resolve[idx], k.reopen[idx], k.reassign[idx], k.completion[idx],
                     k.quiet[idx],
                     survey={(new_of[x], g): v for (x, g), v in k.survey.items()},
                     touchpoints=dict(k.touchpoints),
                     changes=[leaks.Change(new_of[c.service], c.day, c.kind, c.success,
                                           c.communicated) for c in k.changes],
                     ramp_end={new_of[x]: e for x, e in k.ramp_end.items()})
    return cat, kn


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


class _BenchPlanner(leaks._Planner):
    """The demo's seeding recipes with a random onset and a magnitude between the subtle and
    the strong recipe, instead of the fixed onset ranges and the subtle/strong switch."""

    def __init__(self, cat: Catalog, tl: Timeline, rng: np.random.Generator) -> None:
        super().__init__(cat, tl, rng, "default")
        self.seeded: list[Seeded] = []
        self.day = 0

    def onset(self, lo: int, hi: int) -> int:
        return self.day

    def seed_leaks(self, n: int) -> None:
        exclusive = {kind: self.cat.exclusive(kind) for kind in ("outcome", "tp", "step")}
        internal = {g.id for g in self.cat.groups if g.kind == "internal"}
        pools: dict[str, list[ServiceDef]] = {
            "alignment": [s for s in self.cat.services if s.id in exclusive["outcome"]],
            "customer_experience": [s for s in self.cat.services if s.id in exclusive["tp"]
                                    and s.kind != "internal"],
            "flow": [s for s in self.cat.services if s.id in exclusive["step"]],
            "retirement": [s for s in self.cat.services if not s.legacy],
        }
        signal = [s for s in self.cat.services if s.kind == "internal" and not s.legacy
                  and internal & set(s.consumers)]
        for _ in range(n):
            cause = str(self.rng.choice(CAUSES))
            picked = self.pick(pools.get(cause, signal), 1)
            if not picked:
                continue
            s, u = picked[0], float(self.rng.random())
            weeks = int(self.rng.integers(ONSET_WEEKS[0], ONSET_WEEKS[1] + 1))
            self.day = self.tl.days_before(7 * weeks)
            self.seeded.append(Seeded(s.id, cause, u))
            getattr(self, f"_{cause}")(s, self.cat.index[s.id], u)

    def _ramp(self) -> int:
        weeks = int(self.rng.integers(RAMP_WEEKS[0], RAMP_WEEKS[1] + 1))
        return min(self.day + 7 * weeks, self.tl.days - 1 - 14)

    def _perception(self, s: ServiceDef, x: int, u: float) -> None:
        group = str(self.rng.choice(s.consumers))
        mean = round(_lerp(mean_for_pmd(-45, leaks.SURVEY_SD), 4.9, u), 2)
        self.k.survey[(x, group)] = (self.day, mean)
        self.add(s, "perception", self.day, u < 0.5, f"{group} rate {s.name} ~{mean:.1f}/10.")

    def _training(self, s: ServiceDef, x: int, u: float) -> None:
        self.k.onset[x] = self.day
        self.k.questions[x] = _lerp(s.rates[2] * 1.4, 13.0, u)
        self.k.completion[x] = _lerp(0.55, 0.42, u)
        self.add(s, "training", self.day, u < 0.5, f"{s.name}: how-to tickets "
                 f"{self.k.questions[x]:.1f}/100 users, completion {self.k.completion[x]:.0%}.")

    def _change(self, s: ServiceDef, x: int, u: float) -> None:
        day = self.day - int(self.tl.weekday[self.day] >= 5) * (
            int(self.tl.weekday[self.day]) - 3)
        office = self.tl.office
        season = office[day - 56: day].mean() / office[day: day + 56].mean()
        ratio = _lerp(1.72, 1.95, u)
        self.k.onset[x] = day
        self.k.incidents[x] = ratio * season
        self.k.sat_all[x] = _lerp(s.sat - 0.5, 6.55, u)
        kind = str(self.rng.choice(["release", "organisational"]))
        self.k.changes.append(leaks.Change(x, day, kind, u < 0.5 or self.rng.random() < 0.5,
                                           False))
        self.add(s, "change", day, u < 0.5, f"A {kind} change of {s.name}: incidents "
                 f"×{ratio:.2f}, satisfaction ~{self.k.sat_all[x]:.1f}.")

    def _employee_experience(self, s: ServiceDef, x: int, u: float) -> None:
        k = self.k
        k.onset[x] = self.day
        k.reopen[x] = _lerp(0.19, 0.21, u)
        k.sat_internal[x] = _lerp(s.sat - 0.4, 5.4, u)
        k.lost[x], k.resolve[x] = _lerp(1.3, 2.6, u), _lerp(1.3, 2.5, u)
        k.reassign[x] = _lerp(s.reassign * 1.5, 2.9, u)
        self.add(s, "employee_experience", self.day, u < 0.5, f"{s.name}: reopen "
                 f"{k.reopen[x]:.0%}, satisfaction ~{k.sat_internal[x]:.1f}.")

    def _customer_experience(self, s: ServiceDef, x: int, u: float) -> None:
        for t in (t for t in self.cat.touchpoints if s.id in t.services):
            self.k.touchpoints[(t.journey, t.id)] = (self.day, _lerp(t.sat - 0.6, 5.3, u),
                                                     _lerp(1.7, 2.2, u))
        self.k.onset[x] = self.day
        if u >= 0.5:
            self.k.sat_customer[x] = 5.4
        self.add(s, "customer_experience", self.day, u < 0.5, f"{s.name}'s touchpoints: "
                 f"drop-off ×{_lerp(1.7, 2.2, u):.2f}.")

    def _retirement(self, s: ServiceDef, x: int, u: float) -> None:
        if not s.licensed or self.rng.random() < 0.25:
            self.end_of_life(s, False, "benchmark")
            return
        target = _lerp(0.355, 0.22, u)
        self.k.onset[x] = self.day
        self.k.decline[x] = target / s.util
        self.k.ramp_end[x] = self._ramp()
        self.add(s, "retirement", self.day, u < 0.5, f"{s.name}: usage declines to "
                 f"{target:.0%} of its licences by {self.tl.date(self.k.ramp_end[x])}.")

    def _alignment(self, s: ServiceDef, x: int, u: float) -> None:
        o = self.cat.outcome(s.supports[0][0])
        if self.rng.random() < 0.25:
            o.status, o.ended = "retired", self.day
            self.add(s, "alignment", self.day, False, f"'{o.name}' retired.")
            return
        o.drift_start, o.drift_gap, o.drift_end = self.day, _lerp(0.29, 0.4, u), self._ramp()
        self.add(s, "alignment", self.day, u < 0.5, f"KPI of '{o.name}' drifts to a "
                 f"{o.drift_gap:.0%} gap by {self.tl.date(o.drift_end)}.")

    def _flow(self, s: ServiceDef, x: int, u: float) -> None:
        steps = [st for st in self.cat.steps if s.id in st.services]
        if self.rng.random() < 0.5:
            eff = _lerp(0.085, 0.03, u)
            for st in steps:
                st.wait = round(st.process * (1 / eff - 1))
        else:
            for st in steps:
                st.ca = round(_lerp(0.78, 0.68, u), 3)
        self.k.changes.append(leaks.Change(x, self.day, "process", True, True))
        self.add(s, "flow", self.day, u < 0.5, f"{s.name}'s value-stream steps degrade.")


def tickets_csv(path: Path, rows: int, services: int = 50) -> Path:
    """A canonical tickets CSV of ``rows`` rows over services ``svc-0…``, written by DuckDB
    (no Python loop): the input of the import benchmark and of the tests that need a big file."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("""COPY (SELECT 'T' || i AS id, 'svc-' || (i % $services) AS service,
            TIMESTAMP '2025-01-01' + INTERVAL (i % 500000) MINUTE AS opened_at,
            TIMESTAMP '2025-01-01' + INTERVAL (i % 500000 + 90) MINUTE AS resolved_at,
            CASE i % 3 WHEN 0 THEN 'incident' WHEN 1 THEN 'request' ELSE 'question' END AS type,
            i % 4 AS reopened, i % 7 AS reassignments
            FROM range($rows) t(i)) TO $path (FORMAT csv, HEADER true)""",
                    {"services": int(services), "rows": int(rows), "path": str(path)}).fetchall()
    finally:
        con.close()
    return path
