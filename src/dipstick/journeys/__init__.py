"""Customer journey maps: a persona's stages and touchpoints, with satisfaction and drop-off.

Pure functions of the value model's journeys and the ``touchpoints`` signal table. The windows
are the check's (:class:`~dipstick.findings.Window`: the current window ending on the
as-of date and the baseline right before it), so the `customer_experience` indicator, the CLI
and the emotion curve read the same numbers. A touchpoint without rows is ``None`` throughout:
unknown is never shown as a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import narwhals as nw

from dipstick.engine import Signals, between, collect, keyed
from dipstick.findings import CacheKey, CheckContext, Window
from dipstick.model import Journey, ValueModel

TABLE = "touchpoints"
Key = tuple[str, str]   # (journey id, touchpoint id)


def _rate(part: float | None, whole: float | None) -> float | None:
    """``part ÷ whole``; unknown when either is unknown or nothing was there to divide."""
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


@dataclass(frozen=True)
class Period:
    """One touchpoint over one period: mean satisfaction (0–10) and summed visitors and
    drop-offs. Present only when the table has rows for it; a column left empty is ``None``."""

    satisfaction: float | None
    visitors: float | None
    drop_offs: float | None
    satisfaction_sd: float | None = None   # over the period's rows (days or weeks)
    rated: int = 0                          # rows with a satisfaction

    @property
    def drop_off_rate(self) -> float | None:
        """Σ drop_offs ÷ Σ visitors: pooled, so a busy week weighs more than a quiet one."""
        return _rate(self.drop_offs, self.visitors)


@dataclass(frozen=True)
class MonthPoint:
    """One calendar month of a touchpoint, for the "over time" view."""

    month: date
    satisfaction: float | None
    visitors: float | None
    drop_off_rate: float | None


@dataclass(frozen=True)
class TouchpointMeasures:
    id: str
    name: str
    channel: str | None
    services: tuple[str, ...]
    current: Period | None          # the current window; None: no rows in it
    baseline: Period | None         # the baseline window before it
    months: tuple[MonthPoint, ...] = ()

    @property
    def satisfaction(self) -> float | None:
        return self.current.satisfaction if self.current else None

    @property
    def baseline_satisfaction(self) -> float | None:
        return self.baseline.satisfaction if self.baseline else None

    @property
    def satisfaction_drop(self) -> float | None:
        """Baseline − current, in points: positive means customers are less satisfied now."""
        cur, base = self.satisfaction, self.baseline_satisfaction
        return None if cur is None or base is None else base - cur

    @property
    def visitors(self) -> float | None:
        return self.current.visitors if self.current else None

    @property
    def drop_offs(self) -> float | None:
        return self.current.drop_offs if self.current else None

    @property
    def drop_off_rate(self) -> float | None:
        return self.current.drop_off_rate if self.current else None

    @property
    def baseline_drop_off_rate(self) -> float | None:
        return self.baseline.drop_off_rate if self.baseline else None

    @property
    def drop_off_growth(self) -> float | None:
        """Current rate ÷ baseline rate: above 1 means more customers give up here now."""
        return _rate(self.drop_off_rate, self.baseline_drop_off_rate)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "channel": self.channel,
            "services": list(self.services),
            "satisfaction": self.satisfaction,
            "baseline_satisfaction": self.baseline_satisfaction,
            "satisfaction_drop": self.satisfaction_drop,
            "visitors": self.visitors, "drop_offs": self.drop_offs,
            "drop_off_rate": self.drop_off_rate,
            "baseline_visitors": self.baseline.visitors if self.baseline else None,
            "baseline_drop_offs": self.baseline.drop_offs if self.baseline else None,
            "baseline_drop_off_rate": self.baseline_drop_off_rate,
            "drop_off_growth": self.drop_off_growth,
            "months": [{"month": m.month.isoformat()[:7], "satisfaction": m.satisfaction,
                        "visitors": m.visitors, "drop_off_rate": m.drop_off_rate}
                       for m in self.months],
        }


@dataclass(frozen=True)
class StageMeasures:
    name: str
    touchpoints: tuple[TouchpointMeasures, ...]


@dataclass(frozen=True)
class JourneyMeasures:
    """A journey map with its measures, stages and touchpoints in the order the map gives."""

    id: str
    name: str
    persona: str | None
    stakeholder_group: str | None
    stages: tuple[StageMeasures, ...]
    period: str                     # the current window, "YYYY-MM-DD..YYYY-MM-DD"
    baseline_period: str

    @property
    def touchpoints(self) -> tuple[TouchpointMeasures, ...]:
        return tuple(t for s in self.stages for t in s.touchpoints)

    @property
    def has_data(self) -> bool:
        return any(t.current or t.baseline for t in self.touchpoints)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "persona": self.persona,
            "stakeholder_group": self.stakeholder_group,
            "window": {"current": self.period, "baseline": self.baseline_period},
            "stages": [{"name": s.name, "touchpoints": [t.to_json() for t in s.touchpoints]}
                       for s in self.stages],
        }


def touchpoint_periods(signals: Signals, start: datetime, end: datetime) -> dict[Key, Period]:
    """Every touchpoint's :class:`Period` over ``[start, end)``, keyed by (journey, touchpoint);
    a touchpoint without rows in it is absent. No table, no periods."""
    if not signals.has(TABLE):
        return {}
    agg = (signals.frame(TABLE).filter(between("date", start, end))
           .group_by("journey", "touchpoint")
           .agg(satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                visitors=nw.col("visitors").cast(nw.Float64).sum(),
                drop_offs=nw.col("drop_offs").cast(nw.Float64).sum(),
                satisfaction_sd=nw.col("satisfaction").cast(nw.Float64).std(),
                rated=nw.col("satisfaction").count()))
    return {k: Period(r["satisfaction"], r["visitors"], r["drop_offs"], r["satisfaction_sd"],
                      int(r["rated"] or 0))
            for k, r in keyed(collect(agg), "journey", "touchpoint").items()}


def touchpoint_months(signals: Signals, start: datetime, end: datetime
                      ) -> dict[Key, tuple[MonthPoint, ...]]:
    """Calendar months from the first whole month at or after ``start`` up to ``end`` (the last
    month runs to date): the series the "over time" view and the JSON show."""
    if not signals.has(TABLE):
        return {}
    first = (datetime(start.year, start.month, 1) if start.day == 1 and start.hour == 0
             else datetime(start.year + start.month // 12, start.month % 12 + 1, 1))
    agg = (signals.frame(TABLE).filter(between("date", first, end))
           .with_columns(year=nw.col("date").dt.year(), month=nw.col("date").dt.month())
           .group_by("journey", "touchpoint", "year", "month")
           .agg(satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                visitors=nw.col("visitors").cast(nw.Float64).sum(),
                drop_offs=nw.col("drop_offs").cast(nw.Float64).sum())
           .sort("journey", "touchpoint", "year", "month"))
    out: dict[Key, list[MonthPoint]] = {}
    for r in collect(agg):   # aggregated rows: one per touchpoint and month
        out.setdefault((r["journey"], r["touchpoint"]), []).append(MonthPoint(
            date(int(r["year"]), int(r["month"]), 1), r["satisfaction"], r["visitors"],
            _rate(r["drop_offs"], r["visitors"])))
    return {k: tuple(v) for k, v in out.items()}


def journeys_in(model: ValueModel, signals: Signals, window: Window,
                *, months: bool = True) -> tuple[JourneyMeasures, ...]:
    """Every journey of the model measured over ``window``'s current and baseline periods;
    ``months=False`` skips the monthly series (the indicator does not need it)."""
    current = touchpoint_periods(signals, window.start, window.end)
    baseline = touchpoint_periods(signals, window.baseline_start, window.start)
    series = touchpoint_months(signals, window.baseline_start, window.end) if months else {}
    return tuple(_journey(j, current, baseline, series, window) for j in model.journeys)


def measure_journeys(model: ValueModel, signals: Signals, as_of: date, window_days: int = 91,
                     baseline_days: int = 364) -> tuple[JourneyMeasures, ...]:
    """The journeys as of ``as_of``, with the check's window lengths by default (91 days
    against the 364 before them: a quarter against the year before it)."""
    return journeys_in(model, signals, Window(as_of, window_days, baseline_days))


JOURNEYS: CacheKey[tuple[JourneyMeasures, ...]] = CacheKey("journeys")


def journeys_of(ctx: CheckContext) -> tuple[JourneyMeasures, ...]:
    """The check's journeys, measured once per check: the `customer_experience` indicator
    judges them and the report draws them, from the same numbers."""
    return ctx.cache.get(JOURNEYS, lambda: journeys_in(ctx.model, ctx.signals, ctx.window))


def _journey(j: Journey, current: Mapping[Key, Period], baseline: Mapping[Key, Period],
             series: Mapping[Key, tuple[MonthPoint, ...]], window: Window) -> JourneyMeasures:
    stages = tuple(
        StageMeasures(s.name, tuple(
            TouchpointMeasures(t.id, t.name, t.channel, t.services, current.get((j.id, t.id)),
                               baseline.get((j.id, t.id)), series.get((j.id, t.id), ()))
            for t in s.touchpoints))
        for s in j.stages)
    return JourneyMeasures(j.id, j.name, j.persona, j.stakeholder_group, stages, window.period,
                           window.baseline_period)
