"""The seeding plan: which services leak, why, since when, and by how much.

Each cause has a recipe that moves its own indicator's metric past the leak threshold — far past
it, or just past it for a *subtle* leak — and keeps every other cause's metrics below theirs
(a change leak raises incidents, but not enough to double the lost hours employee experience
watches). Signal recipes are :class:`Knobs`: per-service values that replace the healthy ones
from the onset on. Structural recipes (an end-of-life date, a drifting outcome, a slow value
stream step) edit the catalog in place. Everything a recipe did is listed in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dipstick.demo.catalog import Catalog, ServiceDef
from dipstick.demo.sampling import mean_for_pmd
from dipstick.demo.timeline import BoolArray, FloatArray, IntArray, Timeline
from dipstick.demo.truth import Leak

SURVEY_SD = 1.2
COUNTS = {  # seeded leaks per cause besides retirement (retirement: every twin and legacy)
    "default": {"alignment": 3, "customer_experience": 2, "flow": 3, "perception": 3,
                "training": 3, "change": 3, "employee_experience": 3},
    "large": {"alignment": 40, "customer_experience": 40, "flow": 40, "perception": 70,
              "training": 70, "change": 70, "employee_experience": 70},
}
NEW_SERVICES = {"default": 2, "large": 20}


@dataclass(frozen=True)
class Change:
    service: int
    day: int
    kind: str
    success: bool
    communicated: bool


@dataclass
class Knobs:
    """Per-service values that apply from ``onset`` on (NaN: the healthy value stays)."""

    onset: IntArray
    decline: FloatArray        # share of its users a service has left on the as-of date
    questions: FloatArray      # how-to tickets per 100 users a month
    incidents: FloatArray      # × incident rate
    sat_all: FloatArray        # mean ticket satisfaction, every requester
    sat_internal: FloatArray
    sat_customer: FloatArray
    lost: FloatArray           # × lost minutes
    resolve: FloatArray        # × resolution time
    reopen: FloatArray
    reassign: FloatArray
    completion: FloatArray
    quiet: BoolArray           # no change in the last 200 days but the seeded ones
    survey: dict[tuple[int, str], tuple[int, float]] = field(default_factory=dict)
    stale: set[tuple[int, str]] = field(default_factory=set)
    touchpoints: dict[tuple[str, str], tuple[int, float, float]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    ramp_end: dict[int, int] = field(default_factory=dict)  # decline complete on this day

    @classmethod
    def healthy(cls, n: int, days: int) -> Knobs:
        def nan() -> FloatArray:
            return np.full(n, np.nan)
        return cls(np.full(n, days, dtype=np.int64), np.ones(n), nan(), np.ones(n), nan(),
                   nan(), nan(), np.ones(n), np.ones(n), nan(), nan(), nan(),
                   np.zeros(n, dtype=bool))


@dataclass
class Plan:
    knobs: Knobs
    leaks: list[Leak]
    healthy: list[str]


class _Planner:
    def __init__(self, cat: Catalog, tl: Timeline, rng: np.random.Generator, size: str) -> None:
        self.cat, self.tl, self.rng, self.size = cat, tl, rng, size
        self.k = Knobs.healthy(len(cat.services), tl.days)
        self.leaks: list[Leak] = []
        self.taken: set[str] = set()

    def onset(self, lo: int, hi: int) -> int:
        return self.tl.days_before(int(self.rng.integers(lo, hi + 1)))

    def add(self, s: ServiceDef, cause: str, day: int, subtle: bool, text: str) -> None:
        self.taken.add(s.id)
        self.k.quiet[self.cat.index[s.id]] = True
        self.leaks.append(Leak(s.id, cause, self.tl.date(day), subtle, text))

    def pick(self, pool: list[ServiceDef], n: int) -> list[ServiceDef]:
        free = [s for s in pool if s.id not in self.taken]
        order = self.rng.permutation(len(free))[:n]
        return [free[int(i)] for i in order]

    # -- structural causes -------------------------------------------------------------

    def retirement(self) -> None:
        by_cap: dict[str, list[ServiceDef]] = {}
        for s in self.cat.services:
            by_cap.setdefault(s.capability, []).append(s)
        twins = [grp for grp in by_cap.values() if len(grp) > 1]
        for grp in twins:
            self.decline(grp[0], False, f"duplicates {grp[1].name}")
            for other in grp[1:]:
                how = self.decline if self.rng.random() < 0.5 else self.end_of_life
                how(other, True, f"duplicates {grp[0].name}")
        for i, s in enumerate(x for x in self.cat.services if x.legacy and x.id not in self.taken):
            (self.end_of_life if i % 2 == 0 else self.decline)(s, True, "a legacy service")

    def decline(self, s: ServiceDef, subtle: bool, why: str) -> None:
        if not s.licensed:      # no licences to leave unused: show its age instead
            self.end_of_life(s, subtle, why)
            return
        day = self.onset(150, 330)
        target = 0.355 if subtle else 0.22
        self.k.onset[self.cat.index[s.id]] = day
        self.k.decline[self.cat.index[s.id]] = target / s.util
        self.add(s, "retirement", day, subtle, f"{s.name} ({why}): usage declines from "
                 f"{self.tl.date(day)} until only {target:.0%} of its licences are in use.")

    def end_of_life(self, s: ServiceDef, subtle: bool, why: str) -> None:
        day = self.onset(95, 330)
        s.end_of_life = self.tl.date(day)
        self.add(s, "retirement", day, False, f"{s.name} ({why}) is still live after its "
                 f"end of life on {s.end_of_life}.")

    def alignment(self, n: int) -> None:
        mine = self.cat.exclusive("outcome")
        pool = [s for s in self.cat.services if s.id in mine]
        for i, s in enumerate(self.pick(pool, n)):
            o = self.cat.outcome(s.supports[0][0])
            if i % 3 == 0:
                day = self.onset(95, 330)
                o.status, o.ended = "retired", day
                self.add(s, "alignment", day, False, f"{s.name} supports only '{o.name}', "
                         f"retired on {self.tl.date(day)}; it still costs money.")
            else:
                subtle = i % 3 == 2
                day = self.onset(120, 330)
                o.drift_start, o.drift_gap = day, 0.29 if subtle else 0.4
                self.add(s, "alignment", day, subtle, f"The KPI of '{o.name}', the outcome "
                         f"{s.name} serves, drifts off target from {self.tl.date(day)} to a "
                         f"{o.drift_gap:.0%} gap.")

    def customer_experience(self, n: int) -> None:
        mine = self.cat.exclusive("tp")
        pool = [s for s in self.cat.services if s.id in mine and s.kind != "internal"]
        for i, s in enumerate(self.pick(pool, n)):
            subtle = i % 2 == 1
            day = self.onset(95, 108) if subtle else self.onset(95, 300)
            tps = [t for t in self.cat.touchpoints if s.id in t.services]
            for t in tps:
                after = (t.sat - 0.6, 1.7) if subtle else (5.3, 2.2)
                self.k.touchpoints[(t.journey, t.id)] = (day, *after)
            self.k.onset[self.cat.index[s.id]] = day
            if not subtle:
                self.k.sat_customer[self.cat.index[s.id]] = 5.4
            what = ("drop-off rises 1.7×" if subtle else
                    "satisfaction falls to ~5.3 and drop-off more than doubles")
            self.add(s, "customer_experience", day, subtle, f"At {', '.join(t.name for t in tps)}"
                     f" (backed by {s.name}) {what} from {self.tl.date(day)}.")

    def flow(self, n: int) -> None:
        mine = self.cat.exclusive("step")
        pool = [s for s in self.cat.services if s.id in mine]
        names = {sid: name for sid, name, _ in self.cat.streams}
        for i, s in enumerate(self.pick(pool, n)):
            subtle = i % 3 == 2
            day = self.onset(190, 330)
            steps = [st for st in self.cat.steps if s.id in st.services]
            if self.rng.random() < 0.5:
                eff = 0.085 if subtle else 0.03
                for st in steps:
                    st.wait = round(st.process * (1 / eff - 1))
                what = f"flow efficiency falls to {eff:.1%} (long waits)"
            else:
                ca = 0.78 if subtle else 0.68
                for st in steps:
                    st.ca = ca
                what = f"only {ca:.0%} of the work is complete and accurate (rework)"
            self.k.changes.append(Change(self.cat.index[s.id], day, "process", True, True))
            streams = sorted({names[st.stream] for st in steps})
            self.add(s, "flow", day, subtle, f"At {s.name}'s steps in {', '.join(streams)}, "
                     f"{what}. Start = the day the stream was last changed (a process change).")

    # -- signal causes -----------------------------------------------------------------

    def signals(self, counts: dict[str, int]) -> None:
        pool = [s for s in self.cat.services if s.kind == "internal" and not s.legacy
                and any(self.cat.group(g).kind == "internal" for g in s.consumers)]
        for cause in ("perception", "training", "change", "employee_experience"):
            for i, s in enumerate(self.pick(pool, counts[cause])):
                subtle = i % 3 == 2
                getattr(self, cause)(s, self.cat.index[s.id], subtle)

    def perception(self, s: ServiceDef, x: int, subtle: bool) -> None:
        day = self.onset(95, 330)
        group = str(self.rng.choice(s.consumers))
        mean = mean_for_pmd(-45, SURVEY_SD) if subtle else 4.9
        self.k.survey[(x, group)] = (day, mean)
        self.add(s, "perception", day, subtle, f"{self.cat.group(group).name} rate {s.name} "
                 f"~{mean:.1f}/10 in pulse checks from {self.tl.date(day)} (was ~{s.survey:.1f}).")

    def training(self, s: ServiceDef, x: int, subtle: bool) -> None:
        day = self.onset(95, 300)
        self.k.onset[x] = day
        self.k.questions[x] = s.rates[2] * 1.4 if subtle else 13.0
        self.k.completion[x] = 0.55 if subtle else 0.42
        what = ("training completion falls to 55%" if subtle else "how-to tickets jump to ~13 "
                "per 100 users a month and training completion falls to 42%")
        self.add(s, "training", day, subtle, f"After a new version of {s.name} on "
                 f"{self.tl.date(day)}, {what}.")

    def change(self, s: ServiceDef, x: int, subtle: bool) -> None:
        day = self.onset(140, 175)    # inside the 182-day lookback, 8 whole weeks after it
        day -= int(self.tl.weekday[day] >= 5) * (int(self.tl.weekday[day]) - 3)
        kind = str(self.rng.choice(["release", "organisational"]))
        ratio = 1.72 if subtle else 1.85
        # Compare like with like: the summer dip would otherwise hide part of the jump.
        office = self.tl.office
        season = office[day - 56: day].mean() / office[day: day + 56].mean()
        self.k.onset[x] = day
        self.k.incidents[x] = ratio * season
        self.k.sat_all[x] = s.sat - 0.5 if subtle else 6.55
        self.k.changes.append(Change(x, day, kind, subtle or self.rng.random() < 0.5, False))
        self.add(s, "change", day, subtle, f"A poorly communicated {kind} change of {s.name} on "
                 f"{self.tl.date(day)}: incidents ×{ratio:.2f} and ticket "
                 f"satisfaction ~{self.k.sat_all[x]:.1f} since (employee experience may show "
                 "`watch`).")

    def employee_experience(self, s: ServiceDef, x: int, subtle: bool) -> None:
        day = self.onset(95, 300)
        k = self.k
        k.onset[x] = day
        if subtle:
            k.reopen[x], k.sat_internal[x] = 0.19, s.sat - 0.4
            k.lost[x], k.resolve[x], k.reassign[x] = 1.3, 1.3, s.reassign * 1.5
            what = "19% of internal tickets are reopened"
        else:
            k.reopen[x], k.sat_internal[x], k.reassign[x] = 0.21, 5.4, 2.9
            k.lost[x], k.resolve[x] = 2.6, 2.5
            what = ("internal ticket satisfaction falls to ~5.4, 21% are reopened, 2.9 "
                    "reassignments each, lost time ×2.6")
        self.add(s, "employee_experience", day, subtle, f"From {self.tl.date(day)} at "
                 f"{s.name}: {what}.")

    # -- finishing -----------------------------------------------------------------------

    def stale_checkins(self, n: int) -> None:
        """Forget to ask one group about a few leaking services (perception shows `watch`)."""
        leaking = sorted({x.service for x in self.leaks if x.cause != "perception"})
        for i in self.rng.permutation(len(leaking))[:n]:
            s = self.cat.services[self.cat.index[leaking[int(i)]]]
            self.k.stale.add((self.cat.index[s.id], str(self.rng.choice(s.consumers))))

    def launches(self, n: int) -> None:
        """A few healthy services went live just under a year ago."""
        pool = [s for s in self.cat.services if s.kind == "internal" and s.id not in self.taken]
        for s in self.pick(pool, n):
            s.launch_day = self.tl.days_before(int(self.rng.integers(350, 363)))
            s.launched = self.tl.date(s.launch_day)


def plan(cat: Catalog, tl: Timeline, rng: np.random.Generator, size: str) -> Plan:
    p = _Planner(cat, tl, rng, size)
    counts = COUNTS[size]
    p.retirement()
    p.alignment(counts["alignment"])
    p.customer_experience(counts["customer_experience"])
    p.flow(counts["flow"])
    p.signals(counts)
    p.stale_checkins(max(2, len(p.leaks) // 25))
    leaking = {x.service for x in p.leaks}
    p.taken = set(leaking)
    p.launches(NEW_SERVICES[size])
    p.leaks.sort(key=lambda x: (x.cause, x.service))
    healthy = [s.id for s in cat.services if s.id not in leaking]
    return Plan(p.k, p.leaks, healthy)

