"""Seeded leaks: which service leaks, from which cause, since when, how much — and how it shows.

Every cause is seeded twice per leaking organisation, once clear and once subtle, each on its own
service. A leak is one root cause even when it moves several signals: a bad release (``change``)
cuts usage, raises incidents and how-to tickets and drops satisfaction together; the truth holds
one leak, and whatever other cause those moves resemble is a symptom, not a second leak.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from .catalog import Org, Service

CAUSES = ("alignment", "change", "customer_experience", "employee_experience", "flow",
          "perception", "retirement", "training")


@dataclass(frozen=True)
class SeededLeak:
    service: str
    cause: str
    onset: date
    clear: bool
    magnitude: dict[str, float]
    note: str

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["onset"] = self.onset.isoformat()
        return d


def _ones(days: int) -> np.ndarray:
    return np.ones(days)


@dataclass
class Effects:
    """Per-day multipliers and shifts the signal writers apply on top of healthy behaviour."""

    days: int
    svc: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    touch: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    kpi: dict[str, np.ndarray] = field(default_factory=dict)
    step: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    completion: dict[str, np.ndarray] = field(default_factory=dict)   # NaN: healthy
    changes: list[dict[str, Any]] = field(default_factory=list)
    quiet: dict[str, tuple[int, int]] = field(default_factory=dict)   # no releases in [a, b)

    def service(self, sid: str, key: str) -> np.ndarray:
        default = 0.0 if key.endswith("shift") else 1.0
        return self.svc.setdefault(sid, {}).setdefault(key, np.full(self.days, default))

    def touchpoint(self, tid: str, key: str) -> np.ndarray:
        default = 0.0 if key.endswith("shift") else 1.0
        return self.touch.setdefault(tid, {}).setdefault(key, np.full(self.days, default))

    def stepx(self, stream: str, i: int, key: str) -> np.ndarray:
        default = 0.0 if key.endswith("add") else 1.0
        return self.step.setdefault((stream, i), {}).setdefault(key, np.full(self.days, default))


def ramp(days: int, onset: int, length: int) -> np.ndarray:
    """0 before the onset, rising linearly to 1 over ``length`` days."""
    t = (np.arange(days) - onset + 1) / max(length, 1)
    return np.clip(t, 0.0, 1.0)


def seed(rng: np.random.Generator, org: Org, start: date, days: int,
         onsets: list[int]) -> tuple[list[SeededLeak], Effects]:
    """Place two leaks per cause (clear, subtle) on distinct services; ``onsets`` holds one day
    index per leak (16), consumed in order."""
    fx = Effects(days)
    used: set[str] = set()
    single_tp = {t.services[0]: t for t in org.touchpoints if len(t.services) == 1}
    step_of = {st.service: (s.id, i) for s in org.streams for i, st in enumerate(s.steps)}
    own_outcome = {s.id: s.supports[0][0] for s in org.services
                   if len(s.supports) == 1 and s.supports[0][0] == f"o_{s.id}"}
    internal = {g.id for g in org.groups if g.kind == "internal"}
    late = {s.id for s in org.services if s.launched_week > 0}
    eligible: dict[str, list[Service]] = {
        "customer_experience": [s for s in org.services if s.id in single_tp],
        "flow": [s for s in org.services if s.id in step_of],
        "alignment": [s for s in org.services if s.id in own_outcome],
        "employee_experience": [s for s in org.services if set(s.consumers) & internal],
        "perception": [s for s in org.services if s.surveyed_every and s.surveyed_every <= 8],
        "training": [s for s in org.services if set(s.consumers) & internal],
        "change": list(org.services),
        "retirement": [s for s in org.services if s.lifecycle == "live"],
    }
    leaks: list[SeededLeak] = []
    slots = list(onsets)
    for cause in sorted(eligible, key=lambda c: len(eligible[c])):
        for clear in (True, False):
            pool = [s for s in eligible[cause] if s.id not in used and s.id not in late]
            if not pool:
                raise RuntimeError(f"orgsim: no service left for a {cause} leak")
            s = pool[int(rng.integers(len(pool)))]
            used.add(s.id)
            on = int(slots.pop())
            mag, note = _apply(rng, fx, org, s, cause, clear, on, single_tp, step_of,
                               own_outcome, start)
            leaks.append(SeededLeak(s.id, cause, start + timedelta(days=on), clear, mag, note))
    return leaks, fx


def _apply(rng: np.random.Generator, fx: Effects, org: Org, s: Service, cause: str, clear: bool,
           on: int, single_tp: dict[str, Any], step_of: dict[str, tuple[str, int]],
           own_outcome: dict[str, str], start: date) -> tuple[dict[str, float], str]:
    d = fx.days
    u = rng.uniform
    if cause == "change":
        r = ramp(d, on, 3)
        m = {"usage": -(u(0.25, 0.35) if clear else u(0.1, 0.15)),
             "incidents": u(0.9, 1.4) if clear else u(0.4, 0.6),
             "howto": u(1.6, 2.4) if clear else u(0.5, 0.8),
             "satisfaction": -(u(1.6, 2.4) if clear else u(0.7, 1.0))}
        fx.service(s.id, "usage")[:] *= 1 + m["usage"] * r
        fx.service(s.id, "incident")[:] *= 1 + m["incidents"] * r
        fx.service(s.id, "question")[:] *= 1 + m["howto"] * r
        fx.service(s.id, "sat_shift")[:] += m["satisfaction"] * r
        fx.service(s.id, "survey_shift")[:] += 0.5 * m["satisfaction"] * r
        tp = single_tp.get(s.id)
        if tp is not None:   # customers feel a bad release too
            fx.touchpoint(tp.id, "drop")[:] *= 1 + 0.5 * m["incidents"] * r
            fx.touchpoint(tp.id, "sat_shift")[:] += 0.5 * m["satisfaction"] * r
        fx.changes.append({"id": f"CHG-LEAK-{s.id}", "service": s.id,
                           "date": (start + timedelta(days=on)).isoformat(), "kind": "release",
                           "success": not clear, "communicated": False})
        fx.quiet[s.id] = (on - 21, on + 21)
        return m, "bad release: usage, incidents, how-to and satisfaction move together"
    if cause == "retirement":
        m = {"usage": -(u(0.55, 0.7) if clear else u(0.25, 0.35))}
        fx.service(s.id, "usage")[:] *= 1 + m["usage"] * ramp(d, on, int(u(42, 84)))
        if clear and rng.random() < 0.5:   # the vendor's support ends as use falls away
            s.end_of_life = (start + timedelta(days=on)).isoformat()
            return m, "end of life passes on the onset; use declines while the cost stays"
        return m, "use declines while the cost stays"
    if cause == "training":
        m = {"howto": u(1.3, 1.8) if clear else u(0.5, 0.7),
             "completion": u(0.4, 0.55) if clear else u(0.6, 0.72)}
        fx.service(s.id, "question")[:] *= 1 + m["howto"] * ramp(d, on, int(u(14, 35)))
        comp = np.full(d, np.nan)
        comp[on:] = m["completion"]
        fx.completion[s.id] = comp
        fx.quiet[s.id] = (on - 56, d)
        return m, "how-to tickets per user rise with no release; training completion falls"
    if cause == "employee_experience":
        r = ramp(d, on, int(u(7, 28)))
        m = {"resolve": u(1.2, 1.8) if clear else u(0.45, 0.65),
             "lost": u(1.2, 1.8) if clear else u(0.45, 0.65),
             "reopen": u(2.5, 4.0) if clear else u(1.0, 1.5),
             "satisfaction": -(u(1.5, 2.2) if clear else u(0.6, 0.9))}
        fx.service(s.id, "resolve")[:] *= 1 + m["resolve"] * r
        fx.service(s.id, "lost")[:] *= 1 + m["lost"] * r
        fx.service(s.id, "reopen")[:] *= 1 + m["reopen"] * r
        fx.service(s.id, "sat_shift")[:] += m["satisfaction"] * r
        return m, "slower resolution, more lost time and reopens, lower satisfaction"
    if cause == "customer_experience":
        tp = single_tp[s.id]
        r = ramp(d, on, int(u(7, 21)))
        m = {"dropoff": u(1.0, 1.5) if clear else u(0.35, 0.5),
             "satisfaction": -(u(1.4, 2.0) if clear else u(0.5, 0.8))}
        fx.touchpoint(tp.id, "drop")[:] *= 1 + m["dropoff"] * r
        fx.touchpoint(tp.id, "sat_shift")[:] += m["satisfaction"] * r
        return m, f"touchpoint {tp.id}: more drop-offs, lower satisfaction"
    if cause == "perception":
        m = {"score": -(u(2.2, 3.0) if clear else u(1.0, 1.4))}
        fx.service(s.id, "survey_shift")[:] += m["score"] * ramp(d, on, int(u(14, 42)))
        return m, "pulse-check value scores fall"
    if cause == "alignment":
        oid = own_outcome[s.id]
        o = next(x for x in org.outcomes if x.id == oid)
        gap = u(0.25, 0.35) if clear else u(0.1, 0.14)   # below target, in the bad direction
        m = {"kpi_vs_target": 1 - gap if o.direction == "up" else 1 + gap}
        r = ramp(d, on, int(u(21, 49)))
        fx.kpi[oid] = (1 - r) * o.level + r * m["kpi_vs_target"]
        return m, f"outcome {oid} KPI falls off its target"
    if cause == "flow":
        sid, i = step_of[s.id]
        r = ramp(d, on, int(u(7, 21)))
        m = {"wait": u(2.0, 3.0) if clear else u(0.6, 0.9),
             "rework": u(0.25, 0.35) if clear else u(0.08, 0.12)}
        fx.stepx(sid, i, "wait")[:] *= 1 + m["wait"] * r
        fx.stepx(sid, i, "rework_add")[:] += m["rework"] * r
        return m, f"stream {sid}: longer waits and rework at the step this service backs"
    raise ValueError(cause)
