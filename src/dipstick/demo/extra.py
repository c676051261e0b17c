"""The large organisation: the named catalog plus about two thousand generated services.

Generated services follow the named ones' patterns — business units run their own portals,
analytics and workflows — and get the same kinds of exclusive structure (their own touchpoint,
value-stream step or business-case outcome, and a few capabilities bought twice), so the leak
plan seeds them with the very same logic as the named ones.
"""

from __future__ import annotations

import re

import numpy as np

from dipstick.demo.catalog import (
    Catalog,
    OutcomeDef,
    ServiceDef,
    StepDef,
    TouchpointDef,
    make_service,
    owner,
)
from dipstick.demo.timeline import Timeline

DOMAINS = ("Claims", "Billing", "Fleet", "Quality", "Risk", "Compliance", "Audit", "Inventory",
           "Campaign", "Store", "Product", "Asset", "Facility", "Energy", "Safety", "Legal",
           "Pricing", "Logistics", "Returns", "Sourcing", "Planning", "Talent", "Learning",
           "Service", "Catalogue", "Payments", "Loyalty", "Warranty", "Spare parts", "Workforce")
FUNCTIONS = ("Portal", "Analytics", "Workflow", "App", "API", "Dashboard", "Scheduler",
             "Archive", "Reporting", "Connector", "Planner", "Tracker", "Hub", "Data mart")
UNITS = ("EMEA", "Americas", "APAC", "Nordics", "DACH", "Benelux", "Iberia", "UK & Ireland",
         "France", "Italy")
SHARED_OUTCOMES = ("online_revenue", "customer_nps", "win_rate", "partner_revenue",
                   "time_to_hire", "engagement", "close_days", "order_cycle", "stock_accuracy",
                   "supplier_otif", "first_contact", "it_productivity", "release_speed")
INTERNAL = ("sales", "finance", "people", "operations", "customer_service", "marketing", "it",
            "staff")
EXTERNAL = {"customer": ("online_shoppers", "app_users", "business_customers"),
            "partner": ("resellers", "carriers"), "supplier": ("suppliers",)}
PAIRS = 20


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def grow(cat: Catalog, total: int, rng: np.random.Generator, tl: Timeline) -> None:
    """Add generated services (and their journeys, streams, outcomes) until ``total``."""
    combos = [(d, f, un) for d in DOMAINS for f in FUNCTIONS for un in UNITS]
    order = rng.permutation(len(combos))[: total - len(cat.services)]
    new: list[ServiceDef] = []
    for k in order:
        domain, function, unit = combos[int(k)]
        kind = str(rng.choice(["internal", "customer", "partner", "supplier"],
                              p=[0.78, 0.1, 0.06, 0.06]))
        if kind == "internal":
            picks = rng.choice(INTERNAL, size=int(rng.integers(1, 3)), replace=False)
            consumers = tuple(str(g) for g in picks)
            users = float(np.clip(np.exp(rng.normal(np.log(520), 0.7)), 80, 4000))
        else:
            inside = "sales" if kind != "supplier" else "operations"
            consumers = (str(rng.choice(EXTERNAL[kind])), inside)
            users = float(np.exp(rng.normal(np.log(5000 if kind == "customer" else 300), 0.5)))
        name = f"{domain} {function} ({unit})"
        links = rng.choice(SHARED_OUTCOMES, size=int(rng.integers(1, 3)), replace=False)
        supports = [(str(o), round(float(rng.uniform(0.2, 0.7)), 1)) for o in links]
        s = make_service(rng, slug(name), name, slug(f"{domain}-{function}-{unit}"), kind,
                         consumers, round(users), supports, tl)
        s.legacy = kind == "internal" and rng.random() < 0.04
        new.append(s)
    _business_cases(cat, new, rng)
    _journeys(cat, [s for s in new if s.kind != "internal"], rng)
    _streams(cat, [s for s in new if s.kind == "internal" and rng.random() < 0.25], rng)
    internal = [s for s in new if s.kind == "internal" and not s.legacy]
    for a, b in zip(internal[: PAIRS], internal[PAIRS: 2 * PAIRS], strict=True):
        b.capability = a.capability
    cat.services.extend(new)
    cat.reindex()


def _business_cases(cat: Catalog, services: list[ServiceDef], rng: np.random.Generator) -> None:
    """Some services are justified by one business case of their own."""
    for s in services:
        if rng.random() < 0.08:
            oid = f"case_{s.id}"
            cat.outcomes.append(OutcomeDef(oid, f"Business case: {s.name}", owner(rng),
                                           "Benefits realised (%)", 100.0, "up", "M",
                                           round(float(rng.uniform(0.5, 0.8)), 2)))
            s.supports = [(oid, 0.8)]


def _journeys(cat: Catalog, services: list[ServiceDef], rng: np.random.Generator) -> None:
    """One journey per external group and unit; each service backs its own touchpoint."""
    seen: set[str] = {j[0] for j in cat.journeys}
    for s in services:
        group = s.consumers[0]
        unit = s.name.rsplit("(", 1)[1].rstrip(")")
        jid = slug(f"{group} {unit}")
        if jid not in seen:
            seen.add(jid)
            cat.journeys.append((jid, f"{cat.group(group).name} in {unit}",
                                 cat.group(group).name, group))
        visitors = float(np.clip(s.users * rng.uniform(0.8, 3.0), 60, 90000))
        cat.touchpoints.append(TouchpointDef(
            jid, "Self-service" if s.kind == "customer" else "Collaborate", s.id,
            f"Use {s.name}",
            "web" if s.kind == "customer" else "portal", (s.id,), round(visitors),
            round(float(rng.uniform(0.05, 0.14)), 3), float(rng.uniform(7.6, 8.4))))


def _streams(cat: Catalog, services: list[ServiceDef], rng: np.random.Generator) -> None:
    """Value streams of five generated services each, with a manual hand-over between."""
    for k in range(0, len(services) - 4, 5):
        chunk = services[k: k + 5]
        sid = f"stream_{k // 5 + 1:03d}"
        cat.streams.append((sid, f"{chunk[0].name.split(' (')[0]} to "
                                 f"{chunk[-1].name.split(' (')[0]} hand-off",
                            float(rng.integers(20, 2000))))
        for i, s in enumerate(chunk):
            process = float(rng.integers(5, 90))
            wait = round(process * float(rng.uniform(0.3, 1.8)))
            cat.steps.append(StepDef(sid, f"Work in {s.name}", process, wait,
                                     round(float(rng.uniform(0.96, 0.995)), 3), (s.id,)))
            if i == 2:
                cat.steps.append(StepDef(sid, "Hand over", 5.0, float(rng.integers(240, 4000)),
                                         0.95, ()))
