"""What the stakeholders said about each service: value scores per group and dimension,
check-in recency per group, and the latest comments.

The perception indicator judges these numbers; this module lays them out for people (the web
app's service page). It reuses the indicator's own measurement and weighting, so a score shown
here is the score the check judged. Comments are kept apart (``comments``) because they are raw
free text that not every reader may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import narwhals as nw

from dipstick.engine import between, collect
from dipstick.findings import CheckContext, Status
from dipstick.indicators.perception import PerceptionSpec, SurveyMeasures, measure, weighted_score

COMMENTS_PER_SERVICE = 20   # the newest ones; enough to read the mood, small enough to ship


@dataclass(frozen=True)
class DimensionScore:
    id: str
    name: str
    weight: float
    mean: float
    answers: int
    baseline: float | None           # the mean in the baseline window, if anyone answered


@dataclass(frozen=True)
class GroupScore:
    """One group's weighted value score (0–10) and its dimensions, in the current window."""

    id: str
    name: str
    score: float | None
    baseline: float | None
    answers: int
    dimensions: tuple[DimensionScore, ...]


@dataclass(frozen=True)
class Checkin:
    """When a group was last asked about the service: never, too long ago (watch) or lately."""

    group: str
    name: str
    consumer: bool                   # a declared consumer (else: answered without being one)
    last: date | None
    days: int | None                 # days before the as-of date
    status: Status


@dataclass(frozen=True)
class Comment:
    date: date
    group: str
    dimension: str
    score: float
    text: str


@dataclass(frozen=True)
class ServiceSurveys:
    groups: tuple[GroupScore, ...]
    checkins: tuple[Checkin, ...]
    comments: tuple[Comment, ...]    # newest first, at most COMMENTS_PER_SERVICE


def service_surveys(ctx: CheckContext, spec: PerceptionSpec | None = None,
                    measured: SurveyMeasures | None = None) -> dict[str, ServiceSurveys]:
    """Every service's survey picture as of the context's window (empty without a surveys
    table). Groups are the service's consumers first, then any other group that answered —
    the order and the recency rule of the perception indicator. ``measured``: the measures
    a check already took with ``spec`` on this window, not taken again."""
    m = measured if measured is not None else measure(ctx, spec or PerceptionSpec())
    if m is None:
        return {}
    comments = _comments(ctx)
    max_age = ctx.common.checkin_max_age_days
    out: dict[str, ServiceSurveys] = {}
    for service in ctx.model.services:
        groups = list(service.consumers) + sorted(
            g for g in m.answered.get(service.id, ()) if g not in service.consumers)
        out[service.id] = ServiceSurveys(
            tuple(s for g in groups if (s := _group_score(ctx, m, service.id, g))),
            tuple(_checkin(ctx, m, service.id, g, g in service.consumers, max_age)
                  for g in groups),
            comments.get(service.id, ()))
    return out


def _name(ctx: CheckContext, group: str) -> str:
    g = ctx.model.group(group)
    return g.name if g else group


def _group_score(ctx: CheckContext, m: SurveyMeasures, service: str,
                 group: str) -> GroupScore | None:
    dims = m.current.get((service, group))
    if not dims:
        return None
    base = m.baseline.get((service, group)) or {}
    g = ctx.model.group(group)
    names = {d.id: d.name for d in g.value_dimensions} if g else {}
    order = list(names) + sorted(d for d in dims if d not in names)
    return GroupScore(
        group, _name(ctx, group), weighted_score(ctx, group, dims),
        weighted_score(ctx, group, base) if base else None, sum(d["n"] for d in dims.values()),
        tuple(DimensionScore(d, names.get(d, d), g.weight(d) if g else 1.0, dims[d]["mean"],
                             dims[d]["n"], base[d]["mean"] if d in base else None)
              for d in order if d in dims))


def _checkin(ctx: CheckContext, m: SurveyMeasures, service: str, group: str, consumer: bool,
             max_age: int) -> Checkin:
    last = m.last.get((service, group))
    days = (ctx.window.as_of - last).days if last else None
    status = Status.OK if days is not None and days <= max_age else Status.WATCH
    return Checkin(group, _name(ctx, group), consumer, last, days, status)


def _comments(ctx: CheckContext) -> dict[str, tuple[Comment, ...]]:
    """The newest non-empty comments of the current window, per service."""
    if "comment" not in ctx.signals.columns("surveys"):
        return {}
    w = ctx.window
    lf = (ctx.signals.frame("surveys")
          .filter(between("date", w.start, w.end) & ~nw.col("comment").is_null())
          .select("date", "service", "group", "dimension",
                  nw.col("score").cast(nw.Float64), nw.col("comment").cast(nw.String))
          # every column a key: ties (same day, group and dimension) otherwise come back in
          # DuckDB's thread order, and a re-check would show other comments than the stored run
          .sort("date", "service", "group", "dimension", "score", "comment",
                descending=[True, False, False, False, False, False]))
    out: dict[str, list[Comment]] = {}
    for r in collect(lf):
        text = (r["comment"] or "").strip()
        mine = out.setdefault(r["service"], [])
        if text and len(mine) < COMMENTS_PER_SERVICE:
            mine.append(Comment(_day(r["date"]), r["group"], r["dimension"], r["score"], text))
    return {k: tuple(v) for k, v in out.items()}


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value
