"""The value model of the demo organisation, with the healthy behaviour of every service.

A :class:`ServiceDef` is a catalog entry plus the numbers its signals are generated from while
it is healthy (users, growth, ticket rates, satisfaction, …). The leak plan later overrides some
of them from a leak's onset on; everything not overridden stays well inside the ``ok`` band of
every indicator, which is what "healthy" promises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from dipstick.demo import orgdata as od
from dipstick.demo.timeline import Timeline

TICKET_SCALE = {"internal": 1.0, "customer": 0.05, "partner": 0.5, "supplier": 0.5}


@dataclass
class GroupDef:
    id: str
    name: str
    kind: str
    size: int
    dims: tuple[tuple[str, str, float], ...]


@dataclass
class OutcomeDef:
    id: str
    name: str
    owner: str
    kpi: str
    target: float
    direction: str
    freq: str
    start_ratio: float
    status: str = "active"
    drift_start: int | None = None   # day the KPI starts to drift off target (alignment leak)
    drift_gap: float = 0.0           # relative gap reached on the as-of date
    ended: int | None = None         # day the outcome was retired (KPI actuals stop)
    drift_end: int | None = None     # day the drift reaches its gap (default: as-of)


@dataclass
class ServiceDef:
    id: str
    name: str
    capability: str
    kind: str
    consumers: tuple[str, ...]
    users: float                     # mean daily active users on the as-of date, if healthy
    owner: str
    supports: list[tuple[str, float]]
    growth: float
    cpu: float                       # run cost per active user a month
    util: float                      # active users ÷ licences, if healthy
    licensed: bool
    rates: tuple[float, float, float]  # incidents, requests, questions per 100 users a month
    sat: float                       # mean ticket satisfaction
    rated: float                     # share of tickets with a satisfaction score
    lost: tuple[float, float, float]   # median lost minutes per incident, request, question
    resolve: tuple[float, float, float]  # median resolution hours
    reopen: float
    reassign: float
    survey: float                    # mean pulse-check score
    phase: int                       # days before as-of of the latest pulse-check round
    completion: float                # training completion
    launch_day: int | None = None    # day index of the launch, when inside the timeline
    launched: date | None = None
    end_of_life: date | None = None
    legacy: bool = False

    @property
    def licences(self) -> int | None:
        return round(self.users / self.util) if self.licensed else None

    @property
    def monthly_cost(self) -> float:
        return float(round(self.users * self.cpu, -1))


@dataclass
class TouchpointDef:
    journey: str
    stage: str
    id: str
    name: str
    channel: str
    services: tuple[str, ...]
    visitors: float
    drop: float
    sat: float


@dataclass
class StepDef:
    stream: str
    name: str
    process: float
    wait: float
    ca: float
    services: tuple[str, ...]
    # the step as the earlier map drew it (process, wait, %C&A): what a seeded leak changes
    # from, written as the step's ``baseline``
    base: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        self.base = (self.process, self.wait, self.ca)


@dataclass
class Catalog:
    groups: list[GroupDef]
    outcomes: list[OutcomeDef]
    services: list[ServiceDef]
    streams: list[tuple[str, str, float]]          # id, name, runs a month
    steps: list[StepDef]
    journeys: list[tuple[str, str, str, str]]      # id, name, persona, group
    touchpoints: list[TouchpointDef]
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.index = {s.id: i for i, s in enumerate(self.services)}

    def group(self, gid: str) -> GroupDef:
        return next(g for g in self.groups if g.id == gid)

    def outcome(self, oid: str) -> OutcomeDef:
        return next(o for o in self.outcomes if o.id == oid)

    def exclusive(self, kind: str) -> set[str]:
        """Services whose every touchpoint (``tp``), value-stream step (``step``) or outcome
        (``outcome``) is theirs alone: a leak seeded there touches no other service."""
        if kind == "outcome":
            users: dict[str, set[str]] = {}
            for s in self.services:
                for o, _ in s.supports:
                    users.setdefault(o, set()).add(s.id)
            return {s.id for s in self.services if s.supports
                    and all(users[o] == {s.id} for o, _ in s.supports)}
        holders = ([t.services for t in self.touchpoints] if kind == "tp"
                   else [st.services for st in self.steps])
        seen = {x for h in holders for x in h}
        shared = {x for h in holders if len(h) > 1 for x in h}
        return seen - shared


def owner(rng: np.random.Generator) -> str:
    return f"{rng.choice(od.FIRST_NAMES)}.{rng.choice(od.LAST_NAMES)}@{od.DOMAIN}"


def make_service(rng: np.random.Generator, sid: str, name: str, capability: str, kind: str,
                 consumers: tuple[str, ...], users: float, supports: list[tuple[str, float]],
                 tl: Timeline) -> ServiceDef:
    """A catalog entry with healthy numbers drawn for it."""
    u = rng.uniform
    internal = kind == "internal"
    cpu = (float(np.clip(np.exp(rng.normal(np.log(17), 0.3)), 9, 34)) if internal
           else u(0.6, 3.0) if kind == "customer" else u(8, 24))
    eol = launched = None
    if rng.random() < 0.3:
        eol = tl.as_of + timedelta(days=int(rng.integers(300, 1500)))
    if rng.random() < 0.8:
        launched = tl.start - timedelta(days=int(rng.integers(60, 4000)))
    return ServiceDef(
        id=sid, name=name, capability=capability, kind=kind, consumers=consumers,
        users=float(users), owner=owner(rng), supports=supports,
        growth=u(0.01, 0.08) if internal else u(0.03, 0.12), cpu=cpu, util=u(0.79, 0.9),
        licensed=internal, rates=(u(3.0, 5.0), u(3.0, 5.0), u(1.2, 2.6)),
        sat=u(7.8, 8.4), rated=u(0.38, 0.5), lost=(u(25, 45), u(6, 12), u(8, 15)),
        resolve=(u(4, 9), u(9, 20), u(1, 4)), reopen=u(0.015, 0.035), reassign=u(0.3, 0.7),
        survey=u(8.0, 8.5), phase=int(rng.integers(8, 70)), completion=u(0.9, 0.97),
        end_of_life=eol, launched=launched)


def named(rng: np.random.Generator, tl: Timeline) -> Catalog:
    """Northwind Retail as written in :mod:`dipstick.demo.orgdata`, with numbers drawn."""
    groups = [GroupDef(g, n, k, size, tuple(
        (m[1], m[2], float(m[3])) for m in re.finditer(r"(\w+):([^:]+?):(\d+(?:\.\d+)?)", dims)))
        for g, n, k, size, dims in od.GROUPS]
    links: dict[str, list[tuple[str, float]]] = {}
    outcomes = []
    for oid, name, kpi, target, direction, freq, start, linked in od.OUTCOMES:
        title, _, status = name.partition("|")
        outcomes.append(OutcomeDef(oid, title, owner(rng), kpi, float(target), direction, freq,
                                   start, status or "active"))
        for pair in linked.split():
            sid, c = pair.split(":")
            links.setdefault(sid, []).append((oid, float(c)))
    services = [make_service(rng, sid, name, cap, kind, tuple(cons.split()), users,
                             links[sid], tl)
                for sid, name, cap, kind, cons, users in od.SERVICES]
    for s in services:
        s.legacy = s.id in od.LEGACY
    steps = [StepDef(sid, *_step(text)) for sid, _, _, texts in od.STREAMS for text in texts]
    touchpoints = []
    for jid, _, _, _, texts in od.JOURNEYS:
        for text in texts:
            stage, rest = text.split(": ", 1)
            tid, name, channel, svc, visitors, drop = rest.split("|")
            touchpoints.append(TouchpointDef(jid, stage, tid, name, channel, tuple(svc.split()),
                                             float(visitors), float(drop),
                                             float(rng.uniform(7.6, 8.4))))
    return Catalog(groups, outcomes, services, [(i, n, r) for i, n, r, _ in od.STREAMS], steps,
                   [(i, n, p, g) for i, n, p, g, _ in od.JOURNEYS], touchpoints)


def _step(text: str) -> tuple[str, float, float, float, tuple[str, ...]]:
    name, process, wait, ca, services = text.split("|")
    return name, float(process), float(wait), float(ca), tuple(services.split())

