"""The value model of one simulated organisation: groups, outcomes, ~40 services, streams, journeys.

Written from the data contract alone (shared/DATA_PACKAGE.md), with its own distributions:
services differ by nature — cost per active user spans two orders of magnitude, base how-to
rates one, ticket volumes run from a handful a week to hundreds — because a real portfolio does,
and an indicator that only works on a uniform one is not worth its light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# (name stem, capability, nature) — nature drives the distributions below.
KINDS: list[tuple[str, str, str]] = [
    ("ERP Finance", "finance", "complex"), ("ERP Logistics", "supply-chain", "complex"),
    ("Payroll", "hr", "complex"), ("HR Portal", "hr", "simple"),
    ("E-mail", "collaboration", "commodity"), ("Chat", "collaboration", "commodity"),
    ("Intranet", "collaboration", "simple"), ("Document Store", "collaboration", "simple"),
    ("Video Calls", "collaboration", "commodity"), ("CRM", "customer-relationship", "complex"),
    ("Service Desk", "it-operations", "simple"), ("Monitoring", "it-operations", "complex"),
    ("BI Reports", "analytics", "complex"), ("Data Warehouse", "analytics", "complex"),
    ("Expense Claims", "finance", "simple"), ("Procurement", "supply-chain", "complex"),
    ("Contract Register", "legal", "simple"), ("Time Sheets", "hr", "simple"),
    ("Learning Platform", "hr", "simple"), ("Identity", "it-operations", "commodity"),
    ("VPN", "it-operations", "commodity"), ("Printing", "workplace", "commodity"),
    ("Room Booking", "workplace", "simple"), ("Fleet", "workplace", "simple"),
    ("Source Control", "engineering", "complex"), ("CI Pipelines", "engineering", "complex"),
    ("Project Planning", "engineering", "simple"), ("Lab System", "research", "complex"),
    ("CAD", "engineering", "complex"), ("Warehouse Scanner", "supply-chain", "simple"),
]
# Services behind customer touchpoints: consumed by external groups.
FACING: list[tuple[str, str]] = [
    ("Web Shop", "sales"), ("Mobile App", "sales"), ("Customer Portal", "customer-service"),
    ("Payments", "sales"), ("Chatbot", "customer-service"), ("Partner Portal", "partners"),
    ("Order Tracking", "customer-service"), ("Supplier Portal", "supply-chain"),
    ("Appointment Booking", "customer-service"), ("Loyalty App", "sales"),
]
DIMENSIONS = [("time_saved", "Time saved"), ("reliability", "Reliability"),
              ("ease", "Ease of use"), ("insight", "Insight"), ("revenue", "Revenue enabled"),
              ("speed", "Speed"), ("trust", "Trust")]


@dataclass
class Group:
    id: str
    name: str
    kind: str
    size: int
    dimensions: list[str]


@dataclass
class Service:
    """A service and the parameters of its healthy behaviour (the leaks are laid on top)."""

    id: str
    name: str
    capability: str
    nature: str            # complex | simple | commodity | facing
    users: float           # typical daily active users
    monthly_cost: float
    licences: int | None
    weekly_tickets: float  # all types, at typical usage
    howto_share: float     # share of tickets that are questions
    incident_share: float
    resolve_hours: float   # median resolution time
    satisfaction: float    # mean ticket satisfaction
    rated: float           # share of tickets with a satisfaction score
    reopen: float          # probability a ticket is reopened
    lost_minutes: float    # mean minutes lost per incident
    growth: float          # relative change of users over the whole span (benign)
    weekend: float         # weekend usage relative to weekdays
    summer: float          # depth of the summer dip
    consumers: list[str]
    lifecycle: str = "live"
    launched_week: int = 0
    end_of_life: str | None = None
    supports: list[tuple[str, float]] = field(default_factory=list)
    surveyed_every: int = 0   # weeks between pulse checks (0: never)
    release_every: float = 6.0


@dataclass
class Outcome:
    id: str
    name: str
    target: float
    direction: str
    level: float   # where the KPI runs when healthy, relative to the target


@dataclass
class Touchpoint:
    id: str
    name: str
    journey: str
    channel: str
    services: list[str]
    visitors: float      # per week
    drop: float          # base drop-off rate
    satisfaction: float


@dataclass
class Step:
    name: str
    service: str
    work_minutes: float
    wait_hours: float
    rework: float


@dataclass
class Stream:
    id: str
    name: str
    cases_per_week: float
    steps: list[Step]


@dataclass
class Org:
    name: str
    hourly_rate: float
    groups: list[Group]
    outcomes: list[Outcome]
    services: list[Service]
    touchpoints: list[Touchpoint]
    journeys: list[dict[str, Any]]
    streams: list[Stream]
    hand_streams: list[dict[str, Any]]
    tables: set[str]


def _logu(rng: np.random.Generator, low: float, high: float) -> float:
    """Log-uniform: natural for quantities that differ by orders of magnitude."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def build(rng: np.random.Generator, n_services: int, weeks: int, tables: set[str]) -> Org:
    """Draw one organisation's value model."""
    internal = [Group(f"staff_{i}", str(name), "internal", int(_logu(rng, 40, 4000)),
                      [str(d) for d in rng.choice([d for d, _ in DIMENSIONS], 3, replace=False)])
                for i, name in enumerate(rng.choice(
                    ["Finance", "Sales", "Operations", "Engineering", "HR", "Logistics",
                     "Research", "Support", "Legal"], int(rng.integers(5, 9)), replace=False))]
    external = [Group("customers", "Customers", "customer", int(_logu(rng, 20_000, 300_000)),
                      ["ease", "speed", "trust"]),
                Group("partners", "Partners", "partner", int(rng.integers(30, 400)),
                      ["revenue", "reliability"]),
                Group("suppliers", "Suppliers", "supplier", int(rng.integers(50, 600)),
                      ["speed", "reliability"])]
    groups = internal + external
    n_facing = int(rng.integers(7, 10))
    n_inner = n_services - n_facing
    # e-mail in every organisation: the big, cheap-per-user end of the portfolio
    kinds = [KINDS[4]] + [KINDS[i] for i in rng.choice(
        [i for i in range(len(KINDS)) if i != 4], min(n_inner, len(KINDS)) - 1, replace=False)]
    while len(kinds) < n_inner:   # more services than stems: a second instance of one
        stem, cap, nature = KINDS[int(rng.integers(len(KINDS)))]
        kinds.append((f"{stem} {len(kinds)}", cap, nature))
    facing = [FACING[i] for i in rng.choice(len(FACING), n_facing, replace=False)]
    services: list[Service] = []
    for i, (name, cap, nature) in enumerate(kinds):
        services.append(_service(rng, f"s{i:02d}", name, cap, nature, internal, weeks))
    for j, (name, cap) in enumerate(facing):
        services.append(_service(rng, f"s{n_inner + j:02d}", name, cap, "facing", internal, weeks))
        services[-1].consumers = (["customers"] if cap != "partners" else ["partners"]) + (
            ["suppliers"] if cap == "supply-chain" else [])
        if rng.random() < 0.4:   # some facing services have internal users too (agents)
            services[-1].consumers.append(str(rng.choice([g.id for g in internal])))
    outcomes = _outcomes(rng, services)
    touchpoints, journeys = _journeys(rng, services)
    streams = _streams(rng, services)
    hand = _hand_stream(rng, services) if rng.random() < 0.6 else []
    return Org(f"Simulated Org {int(rng.integers(1000, 9999))}", float(rng.choice([45, 60, 80])),
               groups, outcomes, services, touchpoints, journeys, streams, hand, tables)


def _service(rng: np.random.Generator, sid: str, name: str, cap: str, nature: str,
             internal: list[Group], weeks: int) -> Service:
    users, per_user, howto = {
        "commodity": ((1500, 8000) if name == "E-mail" else (800, 8000), (1.5, 12),
                      (0.03, 0.12)),
        "simple": ((60, 1500), (8, 60), (0.10, 0.30)),
        "complex": ((30, 600), (60, 900), (0.20, 0.50)),
        "facing": ((40, 600), (15, 200), (0.05, 0.25)),   # users = staff and agents on it
    }[nature]
    u = _logu(rng, *users)
    # tickets per active user a week: complex services draw more, big ones fewer per user
    # small services: 5–20 tickets a week; big ones scale with users, up to a few hundred
    weekly = max(_logu(rng, 5, 20),
                 min(350.0, u * _logu(rng, 0.01, 0.05) * (2.0 if nature == "complex" else 1.0)))
    lic = int(u * rng.uniform(1.05, 1.5)) if rng.random() < 0.75 else None
    k = int(rng.integers(1, 4))
    consumers = [g.id for g in rng.choice(np.asarray(internal, dtype=object),
                                          min(k, len(internal)), replace=False)]
    s = Service(
        sid, name, cap, nature, u, round(u * _logu(rng, *per_user), -1), lic, weekly,
        rng.uniform(*howto), rng.uniform(0.25, 0.55), _logu(rng, 3, 96), rng.uniform(6.6, 8.8),
        rng.uniform(0.12, 0.45), rng.uniform(0.01, 0.07), _logu(rng, 8, 90),
        rng.uniform(-0.1, 0.35), rng.uniform(0.05, 0.4) if nature != "facing" else 0.9,
        rng.uniform(0.05, 0.3), consumers)
    s.release_every = _logu(rng, 2, 12)
    s.surveyed_every = int(rng.choice([4, 4, 6, 8, 13]))
    r = rng.random()
    if r < 0.06:
        s.lifecycle, s.launched_week = "live", int(rng.integers(10, weeks // 3))
    elif r < 0.12:
        s.lifecycle = "retiring"
        s.end_of_life = f"{2027 + int(rng.integers(0, 2))}-{int(rng.integers(1, 13)):02d}-28"
    elif rng.random() < 0.3:
        s.end_of_life = f"{2028 + int(rng.integers(0, 4))}-12-31"
    return s


def _outcomes(rng: np.random.Generator, services: list[Service]) -> list[Outcome]:
    """A few shared outcomes and, for about a third of the services, one of their own."""
    shared = [Outcome(f"o_shared_{i}", name, round(_logu(rng, 50, 50_000)), d, 1.0)
              for i, (name, d) in enumerate([
                  ("Productivity: hours saved per month", "up"),
                  ("Customer orders per month", "up"),
                  ("Cost to serve per order", "down"),
                  ("Days to close the books", "down"),
                  ("Employee engagement index", "up")])]
    for o in shared:
        o.level = rng.uniform(1.02, 1.1) if o.direction == "up" else rng.uniform(0.9, 0.98)
    own: list[Outcome] = []
    for s in services:
        if rng.random() < 0.4:
            d = "up" if rng.random() < 0.7 else "down"
            o = Outcome(f"o_{s.id}", f"{s.name}: target KPI", round(_logu(rng, 20, 20_000)), d,
                        rng.uniform(1.03, 1.12) if d == "up" else rng.uniform(0.88, 0.97))
            own.append(o)
            s.supports = [(o.id, round(rng.uniform(0.3, 0.9), 2))]
        else:
            picks = rng.choice(len(shared), int(rng.integers(1, 3)), replace=False)
            s.supports = [(shared[int(i)].id, round(rng.uniform(0.05, 0.4), 2)) for i in picks]
    return shared + own


def _journeys(rng: np.random.Generator,
              services: list[Service]) -> tuple[list[Touchpoint], list[dict[str, Any]]]:
    facing = [s for s in services if s.nature == "facing" and "customers" in s.consumers]
    tps: list[Touchpoint] = []
    journeys: list[dict[str, Any]] = []
    plans = [("buy", "Buy online", ["Discover", "Choose", "Pay", "Receive"]),
             ("help", "Get help", ["Ask", "Resolve"])]
    for jid, jname, stages in plans:
        jstages = []
        for st in stages:
            tp_list = []
            for _ in range(int(rng.integers(1, 3))):
                backers = [facing[int(rng.integers(len(facing)))].id]
                if rng.random() < 0.15:   # a few touchpoints sit on two services
                    backers.append(facing[int(rng.integers(len(facing)))].id)
                tid = f"{jid}_{len(tps)}"
                tp = Touchpoint(tid, f"{st} step {len(tps)}", jid,
                                str(rng.choice(["web", "app", "phone", "store"])),
                                sorted(set(backers)), _logu(rng, 150, 20_000),
                                rng.uniform(0.03, 0.3), rng.uniform(6.2, 8.7))
                tps.append(tp)
                tp_list.append({"id": tid, "name": tp.name, "channel": tp.channel,
                                "services": tp.services})
            jstages.append({"name": st, "touchpoints": tp_list})
        journeys.append({"id": jid, "name": jname, "persona": "Retail customer",
                         "stakeholder_group": "customers", "stages": jstages})
    # every facing customer service backs at least one touchpoint on its own
    backed = {t.services[0] for t in tps if len(t.services) == 1}
    for s in facing:
        if s.id not in backed:
            tid = f"help_{len(tps)}"
            tp = Touchpoint(tid, f"{s.name} self-service", "help", "web", [s.id],
                            _logu(rng, 150, 8000), rng.uniform(0.03, 0.3),
                            rng.uniform(6.2, 8.7))
            tps.append(tp)
            journeys[1]["stages"][-1]["touchpoints"].append(
                {"id": tid, "name": tp.name, "channel": "web", "services": [s.id]})
    return tps, journeys


def _streams(rng: np.random.Generator, services: list[Service]) -> list[Stream]:
    """Two or three processes discovered from events; each step backed by one service."""
    pool = [s for s in services if s.nature != "commodity"]
    order = list(rng.permutation(len(pool)))
    out = []
    plans = [("hire", "Hire and equip"), ("order", "Order to cash"),
             ("claim", "Claim to payment")]
    for sid, name in plans[:int(rng.integers(2, 4))]:
        steps = []
        for _ in range(int(rng.integers(3, 6))):
            s = pool[order.pop()]
            steps.append(Step(f"{s.name} work", s.id, _logu(rng, 10, 240),
                              _logu(rng, 1, 48), rng.uniform(0.01, 0.08)))
        out.append(Stream(sid, name, _logu(rng, 8, 60), steps))
    return out


def _hand_stream(rng: np.random.Generator, services: list[Service]) -> list[dict[str, Any]]:
    """A hand-drawn map, as workshops produce: static, typical figures, no leak in it."""
    pick = rng.choice(len(services), 3, replace=False)
    steps = [{"name": f"Step {i + 1}", "process_minutes": round(_logu(rng, 20, 120)),
              "wait_minutes": round(_logu(rng, 30, 600)),
              "complete_accurate": round(rng.uniform(0.9, 0.99), 2),
              "services": [services[int(j)].id]} for i, j in enumerate(pick)]
    return [{"id": "handbook", "name": "Publish a policy (workshop map)", "steps": steps}]
