"""A :class:`Discovery` from the aggregates of an engine's SQL discovery — DuckDB's
(:mod:`dipstick.engine.discovery_sql`, or NumPy's from its columns) or Spark's
(:mod:`dipstick.engine.discovery_spark`), one dictionary keyed by ``discovery_sql.KEYS`` with
activities as 1-based codes in name order. No engine import: each engine's module hands it
plain Python values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dipstick.engine.discovery_sql import THROUGHPUT_QUANTILES, LogShape
from dipstick.streams.found import ActivityStats, Discovery, Edge, Throughput, Variant


def empty(process: str | None, lifecycle: bool, collapse: bool,
          waits: tuple[str, ...]) -> Discovery:
    """A log (or window) without events: nothing found, as the portable path says it."""
    return Discovery(process, 0, 0, None, None, lifecycle, collapse, (), {}, {}, (), 0, (),
                     None, None, None, waiting_prefixes=waits)


def discovered(found: dict[str, Any], log: LogShape, process: str | None,
               waits: tuple[str, ...], collapse: bool, wait_names: Sequence[str]) -> Discovery:
    """The :class:`Discovery` the aggregates ``found`` describe (of a log of ``log``'s shape,
    read with ``collapse`` and the waiting activities ``wait_names``)."""
    lifecycle = log.lifecycle
    r = _named(found, log.activities)
    head = r["head"]
    if not head["n"]:
        return empty(process, lifecycle, collapse, waits)
    cases = int(head["cases"])
    t = r["throughput"]
    hand = r["handovers"]
    known = hand is not None and hand["known"]
    return Discovery(
        process=process, events=log.events, cases=cases, first=head["first"],
        last=head["last"], lifecycle=lifecycle, collapsed=collapse and not lifecycle,
        edges=_edges(r["edges"]),
        start_activities=_counts(r["start_activities"]),
        end_activities=_counts(r["end_activities"]),
        variants=_variants(r, cases),
        variant_count=int(r["variant_count"]),
        activities=_activities(r, set(wait_names), lifecycle),
        throughput=Throughput(cases, float(t["mean"]),
                              tuple(zip(THROUGHPUT_QUANTILES, map(float, t["qs"]),
                                        strict=True)), float(t["max"])),
        handovers_per_case=float(hand["total"]) / max(cases, 1) if known else None,
        cases_with_handover=int(hand["cases"] or 0) if known else None,
        unpaired_starts=max(log.starts - int(head["paired"] or 0), 0) if lifecycle else 0,
        last_start=t["last_start"], waiting_prefixes=waits)


def _named(r: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The aggregates with activity codes (1-based, in name order: the SQL groups and sorts
    integers, not text) turned back into the activities' names."""
    def name(code: int | None) -> str | None:
        return None if code is None else names[code - 1]

    for key in ("edges", "start_activities", "end_activities", "activities", "rework_cases",
                "services"):
        for x in r[key] or ():
            x["activity"] = name(x["activity"])
            if "next_act" in x:
                x["next_act"] = name(x["next_act"])
    for x in r["sequences"] or ():
        x["acts"] = [name(c) for c in x["acts"]]
    return r


def _variants(r: dict[str, Any], cases: int) -> tuple[Variant, ...]:
    seqs = {x["case_id"]: tuple(x["acts"]) for x in r["sequences"] or ()}
    return tuple(Variant(seqs[x["rep"]], int(x["cases"]), x["cases"] / cases, float(x["tp"]))
                 for x in r["variants"] or ())


def _edges(rows: list[dict[str, Any]] | None) -> tuple[Edge, ...]:
    out = [Edge(r["activity"], r["next_act"], int(r["n"]), float(r["mean"]), float(r["median"]),
                float(r["lo"]), float(r["hi"])) for r in rows or ()]
    return tuple(sorted(out, key=lambda e: (-e.count, e.source, e.target)))


def _counts(rows: list[dict[str, Any]] | None) -> dict[str, int]:
    pairs = sorted(((r["activity"], int(r["n"])) for r in rows or ()),
                   key=lambda p: (-p[1], p[0]))
    return dict(pairs)


def _activities(r: dict[str, Any], wait_names: set[str],
                lifecycle: bool) -> tuple[ActivityStats, ...]:
    reworked = {x["activity"]: int(x["n"]) for x in r["rework_cases"] or ()}
    services: dict[str, tuple[str, ...]] = {}
    for x in sorted(r["services"] or (), key=lambda x: (-x["n"], x["service"])):
        services[x["activity"]] = (*services.get(x["activity"], ()), x["service"])
    out = [ActivityStats(
        name=a["activity"], waiting=a["activity"] in wait_names, visits=int(a["visits"]),
        cases=int(a["cases"]), order=float(a["order"]),
        process_seconds_mean=float(a["process"]) if lifecycle else None,
        to_next_seconds_mean=_opt(a["to_next"]), to_next_seconds_median=_opt(a["to_next_med"]),
        work_seconds=float(a["work"] or 0), wait_seconds=float(a["wait"] or 0),
        rework_visits=int(a["rework_visits"] or 0),
        rework_cases=reworked.get(a["activity"], 0),
        rework_seconds=float(a["rework_s"] or 0), services=services.get(a["activity"], ()),
        wait_seconds_sq=float(a["wait_sq"] or 0))
        for a in r["activities"] or ()]
    return tuple(sorted(out, key=lambda a: (a.order, -a.visits, a.name)))


def _opt(x: object) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)  # type: ignore[arg-type]
