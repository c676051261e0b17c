"""Measures several indicators share, computed once per check and cached on the context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import narwhals as nw

from dipstick.engine import between, collect, hours_between, keyed
from dipstick.findings import CacheKey, CheckContext, Evidence, Status, Threshold, evidence
from dipstick.shifts import SeriesKey, Shift, detect_all
from dipstick.streams.package import PackageStream, package_streams

HANDLING = "handling_minutes"
# the measures shared by several indicators, computed once per check
COSTS: CacheKey[dict[str, float]] = CacheKey("costs")
USERS: CacheKey[dict[tuple[datetime, datetime], dict[str, float]]] = CacheKey("active users")
FIRST_SEEN: CacheKey[dict[str, datetime]] = CacheKey("first seen")
STREAMS: CacheKey[tuple[PackageStream, ...]] = CacheKey("streams")

# what each weekly series is called where a shift in it is shown as evidence
LABELS = {
    "users": "active users", "incidents_per_user": "incidents per user",
    "requests_per_user": "requests per user", "questions_per_user": "how-to tickets per user",
    "satisfaction": "ticket satisfaction", "lost_hours_per_user": "lost hours per user",
    "resolution_hours": "resolution hours", "reopen_share": "reopen share",
    "cost_per_user": "cost per active user", "training_completion": "training completion",
    "value_score": "value score", "kpi": "KPI actual",
    "touchpoint_satisfaction": "touchpoint satisfaction", "drop_off_rate": "drop-off rate",
}


def describe(shift: Shift) -> str:
    key = shift.series_key
    what = LABELS.get(key.metric, key.metric)
    where = key.subject if key.kind != "service" else ""
    part = f" ({key.part})" if key.part else ""
    return f"{what}{part}" + (f" of {where}" if where else "")


def shift_evidence(shift: Shift, status: Status, note: str = "") -> Evidence:
    """A shift as a row of evidence: what moved, from what to what, and how sure we are."""
    return Evidence(
        metric=f"shift:{shift.series_key}", label=f"Shift in {describe(shift)}",
        value=round(shift.relative_change, 4), period=f"week of {shift.date}", status=status,
        score=0.0, unit="", threshold=None, baseline=round(shift.before, 4),
        note=note or (f"from {shift.before:.3g} to {shift.after:.3g} "
                      f"({shift.relative_change:+.0%}), confidence {shift.confidence:.0%}"))


def monthly_costs(ctx: CheckContext) -> dict[str, float]:
    """Run cost per service: the latest month of the ``costs`` table within the current window,
    else ``monthly_cost`` from dipstick.yaml."""
    return ctx.cache.get(COSTS, lambda: _monthly_costs(ctx))


def _monthly_costs(ctx: CheckContext) -> dict[str, float]:
    costs = {s.id: s.monthly_cost for s in ctx.model.services}
    if ctx.signals.has("costs"):
        w = ctx.window
        lf = (ctx.signals.frame("costs").filter(between("month", w.start - timedelta(days=31),
                                                        w.end))
              .with_columns(nw.col("amount").cast(nw.Float64))
              .with_columns(last=nw.col("month").max().over("service"))
              .filter(nw.col("month") == nw.col("last"))
              .group_by("service").agg(nw.col("amount").sum()))
        costs.update({r["service"]: float(r["amount"]) for r in collect(lf)})
    return costs


def active_users(ctx: CheckContext, start: datetime, end: datetime) -> dict[str, float]:
    """Mean daily active users per service over ``[start, end)``."""
    known = ctx.cache.get(USERS, dict)
    if (start, end) not in known:
        out: dict[str, float] = {}
        if ctx.signals.has("usage"):
            lf = (ctx.signals.frame("usage").filter(between("date", start, end))
                  .group_by("service").agg(nw.col("active_users").cast(nw.Float64).mean()))
            out = {r["service"]: r["active_users"] for r in collect(lf)}
        known[(start, end)] = out
    return known[(start, end)]


def recent_users(ctx: CheckContext, days: int = 28) -> dict[str, float]:
    return active_users(ctx, ctx.window.end - timedelta(days=days), ctx.window.end)


def groups_of_kind(ctx: CheckContext, *kinds: str) -> list[str]:
    return [g.id for g in ctx.model.stakeholder_groups if g.kind in kinds]


def ticket_stats(
    ctx: CheckContext, lf: nw.LazyFrame[Any], start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """Per service over ``[start, end)``: count, mean satisfaction, lost hours, median
    resolution hours, reopen share, mean reassignments (the ticket facts several causes use)."""
    agg = (lf.filter(between("opened_at", start, end))
           .with_columns(
               resolution_h=hours_between("opened_at", "resolved_at"),
               was_reopened=nw.when(nw.col("reopened").cast(nw.Float64) >= 1).then(1.0)
               .otherwise(0.0))
           .group_by("service")
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
    return keyed(collect(agg), "service")


def resolution_by_type(
    lf: nw.LazyFrame[Any], start: datetime, end: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    """Median resolution hours per service and ticket type: pooled incidents and requests have
    two humps, and a shift in their mix alone would move a pooled median twofold. With the mean
    and sd of log(hours + 1), on which a ratio of typical times is tested (Welch)."""
    agg = (lf.filter(between("opened_at", start, end) & ~nw.col("resolved_at").is_null())
           .with_columns(h=hours_between("opened_at", "resolved_at"))
           .with_columns(log_h=(nw.col("h").clip(lower_bound=0.0) + 1.0).log())
           .group_by("service", "type").agg(n=nw.len(), median=nw.col("h").median(),
                                             log_mean=nw.col("log_h").mean(),
                                             log_sd=nw.col("log_h").std()))
    return keyed(collect(agg), "service", "type")


def per_month(value: float | None, days: float) -> float | None:
    return None if value is None or days <= 0 else value / (days / (365.25 / 12))


def first_seen(ctx: CheckContext) -> dict[str, datetime]:
    """The first day each service shows up in usage or tickets (or its launch date)."""
    return ctx.cache.get(FIRST_SEEN, lambda: _first_seen(ctx))


def _first_seen(ctx: CheckContext) -> dict[str, datetime]:
    seen: dict[str, datetime] = {}
    for table, column in (("usage", "date"), ("tickets", "opened_at")):
        if ctx.signals.has(table):
            lf = ctx.signals.frame(table).group_by("service").agg(nw.col(column).min())
            for r in collect(lf):
                seen[r["service"]] = min(seen.get(r["service"], r[column]), r[column])
    for s in ctx.model.services:
        if s.launched:
            launched = datetime.combine(s.launched, datetime.min.time())
            seen[s.id] = max(seen.get(s.id, launched), launched)
    return seen


def covered_days(ctx: CheckContext, service: str, start: datetime, end: datetime) -> float:
    """Days of ``[start, end)`` the service existed: a rate over a baseline that began before
    the service did must not be divided by days it was not there (it would look like growth)."""
    begin = max(start, first_seen(ctx).get(service, start))
    return max(0.0, (end - begin).total_seconds() / 86400)


def ratio(current: float | None, baseline: float | None) -> float | None:
    if current is None or baseline is None or baseline <= 0:
        return None
    return current / baseline


def settled_shift(ctx: CheckContext, kind: str, subject: str, metric: str,
                  part: str = "") -> Shift | None:
    """The confirmed shift for the worse a weekly series is still at, if it began inside the
    current window.

    The window mean lags a step by weeks (a step halfway through a 13-week window shows at half
    its size); the level the series settled at after a confirmed shift is known as soon as the
    detector confirms it, so indicators also judge that level against their thresholds.
    """
    index = detect_all(ctx)
    key = SeriesKey(kind, subject, metric, part)
    if key not in index.series_by_key:
        return None
    shifts = index.shifts_of(key)
    # only a shift still standing: the series' last one (a later recovery undoes it)
    last = shifts[-1] if shifts else None
    if last is None or not last.bad or last.confidence < SETTLED_CONFIDENCE:
        return None
    return last if last.date >= ctx.window.start.date() else None


SETTLED_CONFIDENCE = 0.9


def settled_evidence(metric: str, label: str, shift: Shift | None, threshold: Threshold,
                     *, as_ratio: bool = False, denominator: float | None = None,
                     unit: str = "") -> list[Evidence]:
    """Evidence on the level after a settled shift: the level itself, its ratio to the level
    before (``as_ratio``), or the level over ``denominator`` (e.g. licences)."""
    if shift is None:
        return []
    if as_ratio:
        value = shift.after / shift.before if shift.before else None
    elif denominator:
        value = shift.after / denominator
    else:
        value = shift.after
    return [evidence(f"{metric}_since_shift", f"{label} since the shift", value, threshold,
                     f"since {shift.date}", unit=unit, baseline=round(shift.before, 4),
                     note=f"level after the shift in the week of {shift.date} (before: "
                          f"{shift.before:.3g}, confidence {shift.confidence:.0%})")]


def value_streams(ctx: CheckContext) -> tuple[PackageStream, ...]:
    """The package's value streams, hand-given or discovered over the current window — once per
    check: the flow indicator judges them and the report draws them."""
    return ctx.cache.get(STREAMS, lambda: package_streams(ctx.model, ctx.signals,
                                                          ctx.window.start, ctx.window.end))
