"""An event log read as activity visits: when each visit of a case starts and ends, and how
much of it counts as work, as wait and as rework (the two readings — lifecycle and state logs —
of :mod:`dipstick.streams.discover`). One Narwhals pipeline per log, run in the engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw

from dipstick.engine import collect, epoch_us
from dipstick.waiting import WAITING_PREFIXES, is_waiting

DEFAULT_WAITING = WAITING_PREFIXES
"""Activity name prefixes (case-insensitive) that mark a waiting state."""

ORDER = ["timestamp", "seq"]


def seconds(later: str, earlier: str) -> nw.Expr:
    return (epoch_us(later) - epoch_us(earlier)) / 1_000_000


def _nonneg(e: nw.Expr) -> nw.Expr:
    return nw.when(e < 0).then(0.0).otherwise(e)


def has_starts(events: nw.LazyFrame[Any]) -> bool:
    if "lifecycle" not in events.collect_schema().names():
        return False
    return bool(count_starts(events))


def count_starts(events: nw.LazyFrame[Any]) -> int:
    starts = (nw.col("lifecycle") == "start").cast(nw.Int64).sum()
    return int(collect(events.select(starts.alias("n")))[0]["n"] or 0)


def visits(events: nw.LazyFrame[Any], *, lifecycle: bool, collapse: bool,
           full: bool = True) -> nw.LazyFrame[Any]:
    """One row per activity visit: ``case_id, activity, start, end, seq`` (+ resource, service)
    and the next visit; ``full`` adds ``pos`` (1-based within the case), ``occ`` (the visit's
    number among the case's visits to that activity), the previous visit and ``process_s``."""
    names = events.collect_schema().names()
    extra = [c for c in ("resource", "service") if c in names]
    ev = events.select("case_id", "activity", "timestamp", "seq", *extra,
                       *(["lifecycle"] if lifecycle else []))
    if lifecycle:
        per_act = ("case_id", "activity")
        starts = (ev.filter(nw.col("lifecycle") == "start")
                  .with_columns(k=nw.col("seq").cum_count().over(*per_act, order_by=ORDER))
                  .select("case_id", "activity", "k", start=nw.col("timestamp")))
        ends = (ev.filter((nw.col("lifecycle") != "start") | nw.col("lifecycle").is_null())
                .with_columns(k=nw.col("seq").cum_count().over(*per_act, order_by=ORDER)))
        v = (ends.join(starts, on=["case_id", "activity", "k"], how="left")
             .with_columns(paired=~nw.col("start").is_null(),
                           start=nw.when(nw.col("start").is_null()
                                         | (nw.col("start") > nw.col("timestamp")))
                           .then(nw.col("timestamp")).otherwise(nw.col("start")))
             .rename({"timestamp": "end"}).drop("k", "lifecycle"))
    else:
        v = ev.with_columns(start=nw.col("timestamp")).rename({"timestamp": "end"})
        if collapse:
            prev = nw.col("activity").shift(1).over("case_id", order_by=["end", "seq"])
            v = (v.with_columns(_prev=prev)
                 .filter(nw.col("_prev").is_null() | (nw.col("_prev") != nw.col("activity")))
                 .drop("_prev"))
    order = ["end", "seq"]
    v = v.with_columns(next_act=nw.col("activity").shift(-1).over("case_id", order_by=order),
                       next_start=nw.col("start").shift(-1).over("case_id", order_by=order))
    v = v.with_columns(to_next_s=_nonneg(seconds("next_start", "end")))
    if not full:  # the directly-follows graph needs no more
        return v
    v = v.with_columns(
        pos=nw.col("seq").cum_count().over("case_id", order_by=order),
        occ=nw.col("seq").cum_count().over("case_id", "activity", order_by=order),
        prev_act=nw.col("activity").shift(1).over("case_id", order_by=order),
        prev_end=nw.col("end").shift(1).over("case_id", order_by=order),
    )
    return v.with_columns(process_s=seconds("end", "start"),
                          gap_s=_nonneg(seconds("start", "prev_end")))


def _waiting_names(v: nw.LazyFrame[Any], prefixes: Sequence[str]) -> list[str]:
    names = [r["activity"] for r in collect(v.select("activity").unique())]
    return sorted(n for n in names if is_waiting(n, prefixes))


def timed_visits(events: nw.LazyFrame[Any], *, process: str | None = None,
                 waiting: Sequence[str] = DEFAULT_WAITING,
                 collapse: bool = False) -> nw.LazyFrame[Any]:
    """The visits of one process's log with the time each counts as work and as wait and
    whether it is rework (``work_s``, ``wait_s``, ``rework``): what :func:`discover` sums, for
    callers that slice it differently (the flow indicator's weekly series)."""
    if process is not None and "process" in events.collect_schema().names():
        events = events.filter(nw.col("process") == process)
    return timed(events, waiting, has_starts(events), collapse)[0]


def timed(events: nw.LazyFrame[Any], waiting: Sequence[str], lifecycle: bool,
           collapse: bool) -> tuple[nw.LazyFrame[Any], list[str]]:
    v = visits(events, lifecycle=lifecycle, collapse=collapse)
    wait_names = _waiting_names(v, waiting)
    is_wait = nw.col("activity").is_in(wait_names)
    # State logs: the time to the next event is the time in the state. Lifecycle logs: the gap
    # before a visit is its wait, start → complete its work (unless it is a waiting activity).
    if lifecycle:
        spent = nw.col("process_s")
        wait = nw.col("gap_s").fill_null(0.0) + nw.when(is_wait).then(spent).otherwise(0.0)
    else:
        spent = nw.col("to_next_s").fill_null(0.0)
        wait = nw.when(is_wait).then(spent).otherwise(0.0)
    work = nw.when(is_wait).then(0.0).otherwise(spent)
    rework = (nw.col("occ") > 1) & ~(nw.col("prev_act").is_in(wait_names).fill_null(False))
    return v.with_columns(work_s=work, wait_s=wait, rework=rework,
                          rework_s=nw.when(rework).then(work).otherwise(0.0),
                          code=nw.col("activity").rank("dense")), wait_names
