"""Discover a value stream from an event log: process map, variants, waits, rework, lead time.

Every aggregation is a Narwhals expression over the events (window functions partitioned by case
and ordered by timestamp, then group-bys), so it runs in the engine — DuckDB by default — and
never loops over events in Python. Python only touches the aggregates: one row per activity, per
directly-follows pair, per variant.

The input is the canonical event frame of :mod:`dipstick.streams.logs` and the ``events`` table:
``case_id``, ``activity``, ``timestamp``, ``seq`` (the tie-break for equal timestamps: the
export's own order), and optionally ``lifecycle``, ``resource``, ``service``, ``process``.

Two readings of a log, chosen by the data (formulas in docs/streams.md):

* **Lifecycle logs** (some events have ``lifecycle = start``): an activity *visit* runs from its
  start to its complete; the work is ``complete − start``, the wait before it is the gap since the
  case's previous visit ended. Starts pair with completes of the same activity in order.
* **State logs** (no start events — ServiceNow's audit trail, most ticket exports): an event puts
  the case into a state (the activity) that lasts until its next event; time in a waiting state
  (``Awaiting …``) is wait, time in any other state is counted as work — an upper bound, so flow
  efficiency is too. With ``collapse``, consecutive events in the same state are one visit (an
  audit trail records every update, not every change of state).

Rework is a repeated visit to an activity, unless the case comes straight back from a waiting
state (being parked is not being redone); an activity's %C&A is the share of its cases without
rework there.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import narwhals as nw

from dipstick.engine import collect, is_spark
from dipstick.engine.discovery_sql import VARIANT_HASH
from dipstick.streams.found import (
    DAYS_PER_MONTH,
    THROUGHPUT_QUANTILES,
    ActivityStats,
    Discovery,
    Edge,
    Throughput,
    Variant,
)
from dipstick.streams.on_duckdb import discover_relation
from dipstick.streams.visits import (
    DEFAULT_WAITING,
    ORDER,
    count_starts,
    has_starts,
    seconds,
    timed,
    visits,
)

__all__ = ["DAYS_PER_MONTH", "ActivityStats", "Discovery", "Edge", "Throughput", "Variant",
           "discover", "discover_dfg", "discover_portable", "edges"]
_HASH = VARIANT_HASH   # the variant key: one definition for both formulations


# --- the engine part ------------------------------------------------------------------------

def edges(v: nw.LazyFrame[Any]) -> tuple[Edge, ...]:
    """The directly-follows graph with frequencies and durations, most frequent first."""
    rows = collect(v.filter(~nw.col("next_act").is_null())
                   .group_by("activity", "next_act")
                   .agg(n=nw.len(), mean=nw.col("to_next_s").mean(),
                        median=nw.col("to_next_s").median(), lo=nw.col("to_next_s").min(),
                        hi=nw.col("to_next_s").max()))
    out = [Edge(r["activity"], r["next_act"], int(r["n"]), float(r["mean"]),
                float(r["median"]), float(r["lo"]), float(r["hi"])) for r in rows]
    return tuple(sorted(out, key=lambda e: (-e.count, e.source, e.target)))


def discover_dfg(events: nw.LazyFrame[Any], *, collapse: bool = False) -> tuple[Edge, ...]:
    """Only the directly-follows graph (frequencies and durations): what pm4py's
    ``discover_dfg`` + ``discover_performance_dfg`` give, for comparison and benchmarks."""
    return edges(visits(events, lifecycle=has_starts(events), collapse=collapse, full=False))


def discover(
    events: nw.LazyFrame[Any],
    *,
    process: str | None = None,
    waiting: Sequence[str] = DEFAULT_WAITING,
    collapse: bool = False,
    top_variants: int = 10,
) -> Discovery:
    """Everything the value stream map and the flow indicator need from one process's log.
    On DuckDB as three SQL queries (:mod:`dipstick.streams.on_duckdb`), on Spark as two Spark
    SQL statements (:mod:`dipstick.streams.on_spark`); on another engine by the portable
    Narwhals formulation, :func:`discover_portable`."""
    native = events.to_native()
    if isinstance(native, duckdb.DuckDBPyRelation):
        return discover_relation(native, process=process, waiting=waiting, collapse=collapse,
                                 top_variants=top_variants)
    if is_spark(events):
        from dipstick.streams.on_spark import discover_frame

        return discover_frame(native, process=process, waiting=waiting, collapse=collapse,
                              top_variants=top_variants)
    return discover_portable(events, process=process, waiting=waiting, collapse=collapse,
                             top_variants=top_variants)


def discover_portable(
    events: nw.LazyFrame[Any],
    *,
    process: str | None = None,
    waiting: Sequence[str] = DEFAULT_WAITING,
    collapse: bool = False,
    top_variants: int = 10,
) -> Discovery:
    """:func:`discover` as Narwhals expressions, for any engine (a dozen queries)."""
    if process is not None and "process" in events.collect_schema().names():
        events = events.filter(nw.col("process") == process)
    lifecycle = has_starts(events)
    v, wait_names = timed(events, waiting, lifecycle, collapse)
    with _materialised(v) as v:
        return _discover(events, v, process, tuple(waiting), wait_names, lifecycle, collapse,
                         top_variants)


def _discover(events: nw.LazyFrame[Any], v: nw.LazyFrame[Any], process: str | None,
              waiting: tuple[str, ...], wait_names: list[str], lifecycle: bool, collapse: bool,
              top_variants: int) -> Discovery:

    head = collect(v.select(n=nw.len(), cases=nw.col("case_id").n_unique(),
                            first=nw.col("start").min(), last=nw.col("end").max()))[0]
    if not head["n"]:
        return Discovery(process, 0, 0, None, None, lifecycle, collapse, (), {}, {}, (), 0, (),
                         None, None, None, waiting_prefixes=tuple(waiting))
    events_n = int(collect(events.select(n=nw.len()))[0]["n"])
    cases = int(head["cases"])
    acts = _activities(v, wait_names, lifecycle, cases)
    per_case = (v.group_by("case_id")
                .agg(*[_hash(i).sum().alias(f"h{i}") for i in range(len(_HASH))],
                     n=nw.len(), first=nw.col("start").min(), last=nw.col("end").max())
                .with_columns(tp=seconds("last", "first")))
    variants, variant_count = _variants(v, per_case, cases, top_variants)
    hand = (_handovers(events, cases) if "resource" in events.collect_schema().names()
            else None)
    last_start = collect(per_case.select(nw.col("first").max()))[0]["first"]
    return Discovery(
        process=process, events=events_n, cases=cases, first=head["first"], last=head["last"],
        lifecycle=lifecycle, collapsed=collapse and not lifecycle, edges=edges(v),
        start_activities=_counts(v.filter(nw.col("pos") == 1)),
        end_activities=_counts(v.filter(nw.col("next_act").is_null())),
        variants=variants, variant_count=variant_count, activities=acts,
        throughput=_throughput(per_case, cases),
        handovers_per_case=hand[0] if hand else None, cases_with_handover=hand[1] if hand else None,
        unpaired_starts=_unpaired(events, v) if lifecycle else 0, last_start=last_start,
        waiting_prefixes=tuple(waiting),
    )


@contextmanager
def _materialised(v: nw.LazyFrame[Any]) -> Iterator[nw.LazyFrame[Any]]:
    """Compute the visits once: a dozen aggregations read them, and a lazy frame would redo the
    window functions for each. On DuckDB a temp table on the frame's own connection; elsewhere
    (Spark) the lazy frame as it is, for the engine to cache."""
    native = v.to_native()
    if not isinstance(native, duckdb.DuckDBPyRelation):
        yield v
        return
    name = f"_visits_{uuid.uuid4().hex[:12]}"
    _sql(native, f"CREATE TEMP TABLE {name} AS SELECT * FROM _v")
    try:
        yield nw.from_native(native.query("_v", f"SELECT * FROM {name}"))
    finally:
        _sql(native, f"DROP TABLE IF EXISTS {name}")


def _sql(rel: duckdb.DuckDBPyRelation, sql: str) -> None:
    """Run a statement on a relation's own connection (DuckDB 2 wants results drained)."""
    res = rel.query("_v", sql)
    if res is not None:
        res.fetchall()


def _handovers(events: nw.LazyFrame[Any], cases: int) -> tuple[float, int] | None:
    """Resource changes between a case's events with a known resource (reassignments), counted
    on the raw events — a reassignment inside one state is still a handover, and A → unknown →
    B is one. None when no event names a resource: not known, not zero."""
    known = events.filter(~nw.col("resource").is_null())
    prev = nw.col("resource").shift(1).over("case_id", order_by=ORDER)
    changed = (~prev.is_null() & (nw.col("resource") != prev)).cast(nw.Int64)
    per_case = known.select("case_id", h=changed).group_by("case_id").agg(nw.col("h").sum())
    r = collect(per_case.select(total=nw.col("h").sum(),
                                cases=(nw.col("h") > 0).cast(nw.Int64).sum(),
                                known=nw.len()))[0]
    if not r["known"]:          # no event with a resource (a log without that column)
        return None
    return float(r["total"]) / max(cases, 1), int(r["cases"] or 0)


def _hash(i: int) -> nw.Expr:
    a, b, c, p = _HASH[i]
    code, pos = nw.col("code").cast(nw.Int64), nw.col("pos").cast(nw.Int64)  # Spark ranks: int32
    x = (code * a + pos * b + c) % p
    y = (x * x) % p
    return ((y + pos * 31) % p * ((y % 65_521) + 1)) % p


def _counts(v: nw.LazyFrame[Any]) -> dict[str, int]:
    rows = collect(v.group_by("activity").agg(n=nw.len()))
    rows.sort(key=lambda r: (-r["n"], r["activity"]))
    return {r["activity"]: int(r["n"]) for r in rows}


def _activities(v: nw.LazyFrame[Any], wait_names: list[str], lifecycle: bool,
                cases: int) -> tuple[ActivityStats, ...]:
    rows = collect(v.group_by("activity").agg(
        visits=nw.len(), cases=nw.col("case_id").n_unique(),
        process=nw.col("process_s").mean(), to_next=nw.col("to_next_s").mean(),
        to_next_med=nw.col("to_next_s").median(), work=nw.col("work_s").sum(),
        wait=nw.col("wait_s").sum(),
        wait_sq=(nw.col("wait_s").cast(nw.Float64) * nw.col("wait_s").cast(nw.Float64)).sum(),
        rework_visits=nw.col("rework").cast(nw.Int64).sum(),
        rework_s=nw.col("rework_s").sum()))
    first_pos = collect(v.group_by("case_id", "activity").agg(first=nw.col("pos").min(),
                                                              rw=nw.col("rework").max())
                        .group_by("activity").agg(order=nw.col("first").mean(),
                                                  rework_cases=nw.col("rw").cast(nw.Int64).sum()))
    pos = {r["activity"]: r for r in first_pos}
    services: dict[str, tuple[str, ...]] = {}
    if "service" in v.columns:
        srows = collect(v.filter(~nw.col("service").is_null())
                        .group_by("activity", "service").agg(n=nw.len()))
        for r in sorted(srows, key=lambda r: (-r["n"], r["service"])):
            services[r["activity"]] = (*services.get(r["activity"], ()), r["service"])
    out = [ActivityStats(
        name=r["activity"], waiting=r["activity"] in wait_names, visits=int(r["visits"]),
        cases=int(r["cases"]), order=float(pos[r["activity"]]["order"]),
        process_seconds_mean=float(r["process"]) if lifecycle else None,
        to_next_seconds_mean=_opt(r["to_next"]), to_next_seconds_median=_opt(r["to_next_med"]),
        work_seconds=float(r["work"] or 0), wait_seconds=float(r["wait"] or 0),
        rework_visits=int(r["rework_visits"] or 0),
        rework_cases=int(pos[r["activity"]]["rework_cases"] or 0),
        rework_seconds=float(r["rework_s"] or 0), services=services.get(r["activity"], ()),
        wait_seconds_sq=float(r["wait_sq"] or 0))
        for r in rows]
    return tuple(sorted(out, key=lambda a: (a.order, -a.visits, a.name)))


def _opt(x: object) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)  # type: ignore[arg-type]


def _throughput(per_case: nw.LazyFrame[Any], cases: int) -> Throughput:
    qs = {f"q{i}": nw.col("tp").quantile(q, interpolation="linear")
          for i, q in enumerate(THROUGHPUT_QUANTILES)}
    r = collect(per_case.select(mean=nw.col("tp").mean(), max=nw.col("tp").max(), **qs))[0]
    return Throughput(cases, float(r["mean"]),
                      tuple((q, float(r[f"q{i}"])) for i, q in enumerate(THROUGHPUT_QUANTILES)),
                      float(r["max"]))


def _variants(v: nw.LazyFrame[Any], per_case: nw.LazyFrame[Any], cases: int,
              top: int) -> tuple[tuple[Variant, ...], int]:
    keys = ["n", *[f"h{i}" for i in range(len(_HASH))]]
    grouped = per_case.group_by(*keys).agg(cases=nw.len(), tp=nw.col("tp").mean(),
                                           rep=nw.col("case_id").min())
    count = int(collect(grouped.select(n=nw.len()))[0]["n"])
    best = collect(grouped.sort(["cases", "rep"], descending=[True, False]).head(top))
    reps = [r["rep"] for r in best]
    seq_rows = collect(v.filter(nw.col("case_id").is_in(reps)).select("case_id", "pos", "activity")
                       .sort("case_id", "pos"))
    seqs: dict[str, list[str]] = {}
    for r in seq_rows:  # only the representative cases of the top variants
        seqs.setdefault(r["case_id"], []).append(r["activity"])
    out = tuple(Variant(tuple(seqs[r["rep"]]), int(r["cases"]), r["cases"] / cases, float(r["tp"]))
                for r in best)
    return out, count


def _unpaired(events: nw.LazyFrame[Any], v: nw.LazyFrame[Any]) -> int:
    paired = collect(v.select(nw.col("paired").cast(nw.Int64).sum().alias("n")))[0]["n"]
    return max(count_starts(events) - int(paired or 0), 0)
