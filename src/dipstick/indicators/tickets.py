"""The ticket facts several indicators judge, aggregated once per check.

Employee experience read the tickets four times (its facts and its resolution by type, each
for the current and the baseline window) and customer experience once more. One query grouped
by service, audience and window gives the same aggregates — each group meets the same rows and
the same aggregate functions as its own query did — and the resolution by type a second; both
are cached on the check's context. Narwhals, so they run on Spark too. On DuckDB one query
fetches the window's tickets instead and both are grouped in NumPy
(:mod:`~dipstick.indicators.ticket_arrays`: ~0.6 s of CPU less on 5.3 M tickets).
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from dipstick.engine import (
    as_text,
    between,
    collect,
    hours_between,
    minutes_between,
    one_of,
)
from dipstick.findings import CacheKey, CheckContext
from dipstick.indicators import ticket_arrays
from dipstick.shifts.groups import early_codes, fetch

CURRENT, BASELINE = "current", "baseline"
INTERNAL, CUSTOMER = "internal", "customer"

Rows = dict[str, dict[str, Any]]
FACTS: CacheKey[dict[tuple[str, str], Rows]] = CacheKey("ticket facts")
Resolution = dict[str, dict[tuple[str, str], dict[str, Any]]]
RESOLUTION: CacheKey[Resolution] = CacheKey("resolution by type")
BOTH: CacheKey[tuple[dict[tuple[str, str], Rows], Resolution]] = CacheKey(
    "ticket facts and resolution by type")


def windowed(lf: nw.LazyFrame[Any], column: str, ctx: CheckContext) -> nw.LazyFrame[Any]:
    """Rows of the baseline and the current window, with ``_window`` naming which: one scan
    for what two queries (one per window) read."""
    w = ctx.window
    return (lf.filter(between(column, w.baseline_start, w.end))
            .with_columns(_window=nw.when(nw.col(column) >= w.start).then(nw.lit(CURRENT))
                          .otherwise(nw.lit(BASELINE))))


def split(rows: list[dict[str, Any]], *keys: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """Rows of a windowed query per window, each indexed by ``keys`` (one key: its value;
    several: a tuple), without the ``_window`` column."""
    out: dict[str, dict[Any, dict[str, Any]]] = {CURRENT: {}, BASELINE: {}}
    for r in rows:
        window = r.pop("_window")
        k = r[keys[0]] if len(keys) == 1 else tuple(r[x] for x in keys)
        out[window][k] = r
    return out


AUDIENCES = (INTERNAL, CUSTOMER)   # by the code :func:`_audience` gives each


def _audience(ctx: CheckContext) -> nw.Expr:
    """``internal`` (0) for incidents and requests of internal people (or of no named group),
    ``customer`` (1) for any ticket of a customer group, else null. A group has one kind, so
    the two never overlap. A code a row, named once per group: a text a row cost the facts'
    grouping ~0.05 s of CPU on 5.3 M tickets."""
    group = nw.col("requester_group")
    inside = one_of("type", ["incident", "request"]) & (
        group.is_null() | one_of("requester_group", _groups(ctx, "internal")))
    internal = nw.when(inside).then(nw.lit(0))
    customers = _groups(ctx, "customer")
    if not customers:
        return internal
    return nw.when(one_of("requester_group", customers)).then(nw.lit(1)).otherwise(internal)


def _groups(ctx: CheckContext, kind: str) -> list[str]:
    return [g.id for g in ctx.model.stakeholder_groups if g.kind == kind]


def ticket_facts(ctx: CheckContext, audience: str, window: str) -> Rows:
    """Per service, of the tickets of ``audience`` opened in ``window``: count, mean
    satisfaction, lost hours, median resolution hours, reopen share, mean reassignments (the
    ticket facts several causes use); {} without a tickets table."""
    return ctx.cache.get(FACTS, lambda: _facts(ctx)).get((audience, window), {})


def _facts(ctx: CheckContext) -> dict[tuple[str, str], Rows]:
    if not ctx.signals.has("tickets"):
        return {}
    if _in_numpy(ctx):
        return ctx.cache.get(BOTH, lambda: _both(ctx))[0]
    return engine_facts(ctx)


def engine_facts(ctx: CheckContext) -> dict[tuple[str, str], Rows]:
    """:func:`_facts` by the engine's grouped query (Spark; on DuckDB, the tests' yardstick
    for :mod:`~dipstick.indicators.ticket_arrays`)."""
    out: dict[tuple[str, str], Rows] = {}
    # the median holds its values in memory: per set of services where the bound needs it
    for frame in ctx.signals.each_part("tickets", "service", coded=True):
        for r in collect(as_text(_facts_of(frame, ctx), "service")):
            key = AUDIENCES[r.pop("_audience")], CURRENT if r.pop("_current") else BASELINE
            out.setdefault(key, {})[r["service"]] = r
    return out


def _facts_of(frame: nw.LazyFrame[Any], ctx: CheckContext) -> nw.LazyFrame[Any]:
    w = ctx.window
    return (frame.filter(between("opened_at", w.baseline_start, w.end))
            .with_columns(_audience=_audience(ctx), _current=nw.col("opened_at") >= w.start)
            .filter(~nw.col("_audience").is_null())
            .with_columns(
                resolution_h=hours_between("opened_at", "resolved_at", frame),
                was_reopened=nw.when(nw.col("reopened").cast(nw.Float64) >= 1).then(1.0)
                .otherwise(0.0))
            .group_by("service", "_audience", "_current")
            .agg(n=nw.len(),
                 rated=nw.col("satisfaction").count(),
                 satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                 satisfaction_sd=nw.col("satisfaction").cast(nw.Float64).std(),
                 lost_hours=nw.col("lost_minutes").cast(nw.Float64).sum() / 60.0,
                 lost_n=nw.col("lost_minutes").count(),
                 lost_mean=nw.col("lost_minutes").cast(nw.Float64).mean(),
                 lost_sd=nw.col("lost_minutes").cast(nw.Float64).std(),
                 resolution_h=nw.col("resolution_h").median(),
                 reopened=nw.col("was_reopened").sum(),
                 reopen_share=nw.col("was_reopened").mean(),
                 assigned=nw.col("reassignments").count(),
                 reassignments=nw.col("reassignments").cast(nw.Float64).mean(),
                 reassignments_sd=nw.col("reassignments").cast(nw.Float64).std()))


def internal_resolution(ctx: CheckContext, window: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Median resolution hours of internal incidents and requests per service and ticket type
    in ``window``: pooled incidents and requests have two humps, and a shift in their mix alone
    would move a pooled median twofold. With the mean and sd of log(hours + 1), on which a
    ratio of typical times is tested (Welch)."""
    return ctx.cache.get(RESOLUTION, lambda: _resolution(ctx)).get(window, {})


def _resolution(ctx: CheckContext) -> Resolution:
    if not ctx.signals.has("tickets"):
        return {}
    if _in_numpy(ctx):
        return ctx.cache.get(BOTH, lambda: _both(ctx))[1]
    return engine_resolution(ctx)


def engine_resolution(ctx: CheckContext) -> Resolution:
    """:func:`_resolution` by the engine's grouped query (as :func:`engine_facts`)."""
    group = nw.col("requester_group")
    rows: list[dict[str, Any]] = []
    for frame in ctx.signals.each_part("tickets", "service", coded=True):
        lf = frame.filter(one_of("type", ["incident", "request"])
                          & (group.is_null() | one_of("requester_group", _groups(ctx, "internal")))
                          & ~nw.col("resolved_at").is_null())
        rows += collect(as_text(windowed(lf, "opened_at", ctx)
                        .with_columns(h=hours_between("opened_at", "resolved_at", lf))
                        .with_columns(log_h=(nw.col("h").clip(lower_bound=0.0) + 1.0).log())
                        .group_by("service", "type", "_window")
                        .agg(n=nw.len(), median=nw.col("h").median(),
                             log_mean=nw.col("log_h").mean(), log_sd=nw.col("log_h").std()),
                                "service", "type"))
    return split(rows, "service", "type")


def _in_numpy(ctx: CheckContext) -> bool:
    """Whether the facts are grouped here (DuckDB) rather than by the engine (Spark, whose
    driver never holds a row per ticket)."""
    return ctx.signals.frame("tickets").implementation is nw.Implementation.DUCKDB


def _both(ctx: CheckContext) -> tuple[dict[tuple[str, str], Rows], Resolution]:
    """The facts and the resolution by type from one fetch of the window's tickets per set
    of services (:mod:`~dipstick.indicators.ticket_arrays`): each a set's own groups."""
    facts: dict[tuple[str, str], Rows] = {}
    res: Resolution = {CURRENT: {}, BASELINE: {}}
    for stored in ctx.signals.each_part("tickets", "service", coded=True):
        # the services as codes from the start: no step binds their 2,040-value ENUM again
        frame, codes = early_codes(stored, ["service"])
        got, labels = fetch(_window_rows(frame, ctx), ["service"], codes)
        names, service = ticket_arrays.service_codes(got, labels)
        for key, rows in ticket_arrays.facts(names, service, got).items():
            facts.setdefault(key, {}).update(rows)
        for window, by_type in ticket_arrays.resolution(names, service, got).items():
            res[window].update(by_type)
    return facts, res


def _window_rows(frame: nw.LazyFrame[Any], ctx: CheckContext) -> nw.LazyFrame[Any]:
    """The window's tickets of either audience, as what :mod:`ticket_arrays` groups."""
    w = ctx.window
    return (frame.filter(between("opened_at", w.baseline_start, w.end))
            .with_columns(_a=_audience(ctx))
            .filter(~nw.col("_a").is_null())
            .select("service", "_a", "satisfaction", "lost_minutes", "reassignments",
                    _c=(nw.col("opened_at") >= w.start).cast(nw.Int8),
                    _r=nw.when(nw.col("type") == "request").then(1).otherwise(0)
                    .cast(nw.Int8),
                    _o=nw.when(nw.col("reopened").cast(nw.Float64) >= 1).then(1).otherwise(0)
                    .cast(nw.Int8),
                    _m=minutes_between("opened_at", "resolved_at", frame)))
