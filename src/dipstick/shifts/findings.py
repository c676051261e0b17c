"""Shifts as evidence: date each leak by the shift behind it and show that shift.

Kept apart from detection so that detection stays a pure function of series, and apart from the
indicators so that each cause's decision does not depend on change-point detection: a leak is
judged on its thresholds; shifts say *since when*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from dipstick.indicators.base import Evidence, Finding, Status
from dipstick.model import Service
from dipstick.shifts import ShiftIndex
from dipstick.shifts.detect import Shift

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


def date_leaks(service: Service, findings: Iterable[Finding], index: ShiftIndex,
               as_of: date) -> tuple[Finding, ...]:
    """Give each leaking finding its ``since`` and the shift behind it as evidence. Without a
    shift, a passed end-of-life dates a retirement leak; otherwise ``since`` stays unknown."""
    out = []
    for f in findings:
        if f.status is Status.LEAK and f.since is None:
            shift = index.driver(service.id, f.cause, as_of)
            if shift is not None:
                f = replace(f, since=shift.date,
                            evidence=(*f.evidence, shift_evidence(shift, f.status)))
            elif f.cause == "retirement" and service.end_of_life and \
                    service.end_of_life <= as_of:
                f = replace(f, since=service.end_of_life)
        out.append(f)
    return tuple(out)


@dataclass(frozen=True)
class Trend:
    """A leaking signal week by week with the shift behind the leak, for the trend charts."""

    label: str
    weeks: tuple[date, ...]
    values: tuple[float, ...]
    shift: date
    before: float
    after: float
    higher_is_worse: bool


def trend_of(index: ShiftIndex, service: str, cause: str, as_of: date) -> Trend | None:
    shift = index.driver(service, cause, as_of)
    series = index.series_by_key.get(shift.series_key) if shift else None
    if shift is None or series is None:
        return None
    return Trend(describe(shift), series.weeks, tuple(float(v) for v in series.values),
                 shift.date, shift.before, shift.after, shift.higher_is_worse)
