"""Write one simulated organisation as a data package, with its ground truth beside it."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from . import signals
from .catalog import Org, build
from .leaks import CAUSES, Effects, SeededLeak, seed

WEEKS = 130           # two and a half years: a year of baseline before the earliest onset
HORIZON_DAYS = 91     # recall is judged 13 weeks (+0–6 days) after each onset
STEP_DAYS = 28        # onsets sit 13 weeks + 0..1 × 4 weeks (+0–6 days) before the end
SLOTS = 2             # so a benchmark checks each leaking organisation on two dates only
OPTIONAL = ("training", "surveys", "touchpoints", "events", "costs")


@dataclass(frozen=True)
class Truth:
    """What was seeded: read by the benchmark, never by dipstick (ground_truth.json)."""

    seed: int
    stable: bool
    start: date
    as_of: date
    services: int
    tables: tuple[str, ...]
    leaks: tuple[SeededLeak, ...]

    def check_dates(self) -> list[date]:
        """The as-of dates every seeded onset + 13 weeks (+ its 0–6 jitter days) lands on."""
        return [self.as_of - timedelta(days=STEP_DAYS * k) for k in range(SLOTS - 1, -1, -1)]


def generate(folder: Path, seed_: int, stable: bool = False, n_services: int = 40,
             weeks: int = WEEKS) -> Truth:
    """Generate organisation ``seed_`` into ``folder`` (created) and return its truth."""
    rng = np.random.default_rng([seed_, int(stable), 20261213])
    days = weeks * 7
    end = date(2026, 3, 1) + timedelta(days=int(rng.integers(0, 300)))
    start = end - timedelta(days=days - 1)
    tables = {"tickets", "usage", "changes", "kpis", *OPTIONAL}
    for t in OPTIONAL:
        leaking_may_drop = t in ("training", "costs")
        if (stable or leaking_may_drop) and rng.random() < 0.3:
            tables.discard(t)
    org = build(rng, n_services, weeks, tables)
    noise = float(rng.uniform(0.6, 1.8))
    if stable:
        leaks: list[SeededLeak] = []
        fx = Effects(days)
    else:
        onsets = [days - 1 - HORIZON_DAYS - STEP_DAYS * int(rng.integers(0, SLOTS))
                  - int(rng.integers(0, 7)) for _ in range(2 * len(CAUSES))]
        leaks, fx = seed(rng, org, start, days, onsets)
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, rng, org, fx, start, days, end, noise)
    truth = Truth(seed_, stable, start, end, len(org.services), tuple(sorted(tables)),
                  tuple(leaks))
    (folder / "ground_truth.json").write_text(json.dumps({
        "generator": "orgsim", "seed": seed_, "stable": stable, "start": start.isoformat(),
        "as_of": end.isoformat(), "services": len(org.services), "tables": sorted(tables),
        "noise": round(noise, 3), "leaks": [x.as_json() for x in leaks]}, indent=1))
    return truth


def read_truth(folder: Path) -> Truth:
    raw = json.loads((folder / "ground_truth.json").read_text())
    leaks = tuple(SeededLeak(x["service"], x["cause"], date.fromisoformat(x["onset"]),
                             x["clear"], x["magnitude"], x["note"]) for x in raw["leaks"])
    return Truth(raw["seed"], raw["stable"], date.fromisoformat(raw["start"]),
                 date.fromisoformat(raw["as_of"]), raw["services"], tuple(raw["tables"]), leaks)


def _write(folder: Path, rng: np.random.Generator, org: Org, fx: Effects, start: date,
           days: int, end: date, noise: float) -> None:
    tables = org.tables
    _yaml(folder, rng, org, end)
    usage: dict[str, list[Any]] = {"date": [], "service": [], "active_users": []}
    tickets: dict[str, list[Any]] = {}
    first = 1
    for s in org.services:
        level = signals.usage_level(rng, s, fx, start, days, noise)
        for k, v in signals.usage_rows(rng, s, level, start, noise).items():
            usage[k] += v
        cols = signals.ticket_rows(rng, s, level, fx, start, s.consumers, first)
        first += len(cols["id"])
        for k, v in cols.items():
            tickets.setdefault(k, []).extend(v)
    _parquet(folder / "usage.parquet", usage, {"date": pa.date32()})
    _parquet(folder / "tickets.parquet", tickets,
             {"opened_at": pa.timestamp("s"), "resolved_at": pa.timestamp("s"),
              "satisfaction": pa.int64()})
    _csv(folder / "changes.csv", signals.change_rows(rng, org, fx, start, days))
    _csv(folder / "kpis.csv", signals.kpi_rows(rng, org, fx, start, days, noise))
    if "costs" in tables:
        _csv(folder / "costs.csv", signals.cost_rows(rng, org, start, days))
    if "training" in tables:
        _csv(folder / "training.csv", signals.training_rows(rng, org, fx, start, days))
    if "surveys" in tables:
        _parquet(folder / "surveys.parquet", signals.survey_rows(rng, org, fx, start, days),
                 {"date": pa.date32()})
    if "touchpoints" in tables:
        _csv(folder / "touchpoints.csv",
             signals.touchpoint_rows(rng, org, fx, start, days, noise))
    if "events" in tables:
        _parquet(folder / "events.parquet", signals.event_rows(rng, org, fx, start, days),
                 {"timestamp": pa.timestamp("s")})


def _yaml(folder: Path, rng: np.random.Generator, org: Org, end: date) -> None:
    services = []
    for s in org.services:
        d: dict[str, Any] = {
            "id": s.id, "name": s.name, "owner": f"owner.{s.id}@org.example",
            "lifecycle": s.lifecycle, "capability": s.capability,
            "monthly_cost": float(s.monthly_cost)}
        if s.licences:
            d["licences"] = s.licences
            d["licence_cost_monthly"] = round(float(rng.uniform(2, 80)), 1)
        if s.end_of_life:
            d["end_of_life"] = s.end_of_life
        if s.launched_week:
            d["launched"] = (end - timedelta(weeks=WEEKS - s.launched_week)).isoformat()
        d["consumers"] = list(s.consumers)
        d["supports"] = [{"outcome": o, "contribution": c} for o, c in s.supports]
        services.append(d)
    model: dict[str, Any] = {
        "organisation": {"name": org.name, "currency": "EUR", "hourly_rate": org.hourly_rate,
                         "as_of": end.isoformat()},
        "stakeholder_groups": [
            {"id": g.id, "name": g.name, "kind": g.kind, "size": g.size,
             "value_dimensions": [{"id": d, "name": d.replace("_", " ").title(),
                                   "weight": int(rng.integers(1, 4))} for d in g.dimensions]}
            for g in org.groups],
        "outcomes": [{"id": o.id, "name": o.name, "owner": "cfo@org.example",
                      "status": "active",
                      "kpi": {"name": o.name, "target": o.target, "direction": o.direction}}
                     for o in org.outcomes],
        "services": services,
    }
    streams: list[dict[str, Any]] = list(org.hand_streams)
    if "events" in org.tables:
        streams += [{"id": s.id, "name": s.name,
                     "runs_per_month": round(s.cases_per_week * 52 / 12, 1),
                     "event_log": {"process": s.id}} for s in org.streams]
    if streams:
        model["value_streams"] = streams
    if "touchpoints" in org.tables:
        model["journeys"] = org.journeys
    (folder / "dipstick.yaml").write_text(yaml.safe_dump(model, sort_keys=False))


def _parquet(path: Path, cols: dict[str, list[Any]], types: dict[str, pa.DataType]) -> None:
    arrays = {k: pa.array(v, type=types.get(k)) for k, v in cols.items()}
    pq.write_table(pa.table(arrays), path)


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
