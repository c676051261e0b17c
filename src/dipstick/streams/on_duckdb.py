"""Discovery of a DuckDB event table as a :class:`Discovery`, from the engine's SQL twin
(:mod:`dipstick.engine.discovery_sql`): three queries whatever the log's size — its shape, the
visits table, every aggregate at once — or, for a large state log, the aggregates from its
typed columns in NumPy (:mod:`dipstick.streams.on_numpy`, the same result). No Narwhals or
pyarrow import: the ``streams`` command runs this straight on the table it read
(docs/decisions.md, "Discovery on DuckDB is SQL" and "A large state log's aggregates in
NumPy")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import duckdb

from dipstick.engine import discovery_sql as q
from dipstick.streams.found import (
    DEFAULT_WAITING,
    ActivityStats,
    Discovery,
    Edge,
    Throughput,
    Variant,
)
from dipstick.waiting import is_waiting

# From this many events a state log's aggregates are NumPy's (:mod:`dipstick.streams.on_numpy`):
# below it, importing NumPy (~40 ms CPU) costs about what it saves (15 k events: 60 ms of SQL
# against 17 ms of NumPy in process); at 65 k and 120 k the command takes ~4 % less CPU, at
# 1.27 M a quarter less (docs/benchmarks.md, session 13).
ARRAYS_FROM = 50_000


def discover_relation(rel: duckdb.DuckDBPyRelation, *, process: str | None = None,
                      waiting: Sequence[str] = DEFAULT_WAITING, collapse: bool = False,
                      top_variants: int = 10, arrays: bool | None = None) -> Discovery:
    """:func:`dipstick.streams.discover.discover` of a DuckDB relation (same arguments);
    ``arrays`` computes the aggregates in NumPy where it can (None: from ``ARRAYS_FROM``
    events), False always in SQL."""
    rel = q.only_process(rel, process)
    log = q.shape(rel)
    waits = tuple(waiting)
    lifecycle = log.lifecycle
    empty = Discovery(process, 0, 0, None, None, lifecycle, collapse, (), {}, {}, (), 0, (),
                      None, None, None, waiting_prefixes=waits)
    if not log.events:
        return empty
    wait_names = [a for a in log.activities if is_waiting(a, waits)]
    found = None
    if (log.events >= ARRAYS_FROM if arrays is None else arrays):
        from dipstick.streams import on_numpy

        if on_numpy.applies(log):
            found = on_numpy.aggregates(rel, log, wait_names, collapse, top_variants)
    if found is None:
        found = q.aggregates(rel, log, wait_names, collapse and not lifecycle, top_variants)
    r = _named(found, log.activities)
    head = r["head"]
    if not head["n"]:
        return empty
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
                              tuple(zip(q.THROUGHPUT_QUANTILES, map(float, t["qs"]),
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
