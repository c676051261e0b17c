"""The result vocabulary every layer above the engine speaks: statuses, windows, thresholds,
evidence, findings and the check's context.

It sits below indicators, shifts, journeys and the check, so that each of them can speak it
without importing another (they used to meet in ``indicators/base.py``, which made
indicators, shifts and journeys import each other in a circle).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from dipstick.bounds import MAX_SPAN_DAYS
from dipstick.engine import Signals
from dipstick.model import ValueModel


class Status(StrEnum):
    OK = "ok"
    WATCH = "watch"
    LEAK = "leak"
    UNKNOWN = "unknown"
    NA = "n/a"   # the cause cannot apply (no touchpoint, no stream): not "no data"

    @property
    def rank(self) -> int:
        """Severity order for "worst first": leak > watch > unknown > ok > n/a."""
        return _RANK[self]

    @property
    def judged(self) -> bool:
        """Whether the status is a judgement (ok, watch, leak) rather than its absence."""
        return self not in (Status.UNKNOWN, Status.NA)


_RANK = {Status.NA: -1, Status.OK: 0, Status.UNKNOWN: 1, Status.WATCH: 2, Status.LEAK: 3}


class Spec(BaseModel):
    """Base of every indicator's settings. Field names are unique across all specs because
    ``settings:`` in dipstick.yaml is one flat mapping (see the registry). inf and NaN are no
    threshold (dipstick.bounds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _span_in_bounds(cls, value: Any, info: ValidationInfo) -> Any:
        """A span of days or weeks is at most a century: ``window_days: 1000000000`` passed
        ``ge=7`` and ended the check in OverflowError (a traceback; issue 17)."""
        name = info.field_name or ""
        days = 7 if name.endswith("_weeks") else 1 if name.endswith("_days") else 0
        if days and isinstance(value, int) and value * days > MAX_SPAN_DAYS:
            raise ValueError(f"must be at most {MAX_SPAN_DAYS // days:,} (a century)")
        return value


class CommonSpec(Spec):
    window_days: int = Field(91, ge=7, description="Length of the current window (a quarter).")
    baseline_days: int = Field(
        364, ge=28, description="Length of the baseline window before it (a year)."
    )
    checkin_max_age_days: int = Field(
        90, ge=1, description="A consuming group not asked for longer than this is not `ok`."
    )
    min_sample: int = Field(
        10, ge=1, description="Fewest ratings or tickets a mean, rate or ratio is judged on."
    )


@dataclass(frozen=True)
class Window:
    """The as-of date and the two periods every indicator compares: the current window ending
    on ``as_of`` and the baseline window right before it. Bounds are half-open datetimes.
    Each bound and period is worked out once per window (cached): the indicators read them
    for every piece of evidence, ~150,000 times in a check of the large demo."""

    as_of: date
    days: int = 91
    baseline_days: int = 364

    @cached_property
    def end(self) -> datetime:
        return datetime.combine(self.as_of + timedelta(days=1), datetime.min.time())

    @cached_property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @cached_property
    def baseline_start(self) -> datetime:
        return self.start - timedelta(days=self.baseline_days)

    @property
    def months(self) -> float:
        """Length of the current window in average months (365.25 / 12 days)."""
        return self.days / (365.25 / 12)

    @cached_property
    def period(self) -> str:
        return _period(self.start, self.end)

    @cached_property
    def baseline_period(self) -> str:
        return _period(self.baseline_start, self.start)


def _period(start: datetime, end: datetime) -> str:
    return f"{start.date().isoformat()}..{(end - timedelta(days=1)).date().isoformat()}"


@dataclass(frozen=True)
class Threshold:
    """A watch and a leak level for one metric; which way is worse follows from their order."""

    watch: float
    leak: float

    @property
    def higher_is_worse(self) -> bool:
        return self.leak > self.watch

    def grade(self, value: float) -> tuple[Status, float]:
        """Status and score. Score: 0 while better than ``watch``; 25–50 between ``watch`` and
        ``leak``; 50–100 beyond ``leak``, reaching 100 one more watch-to-leak span further."""
        sign, span, watch, leak = self._grading
        past_leak = sign * (value - leak)
        if past_leak >= 0:
            return Status.LEAK, round(50 + 50 * min(1.0, past_leak / span), 1)
        past_watch = sign * (value - watch)
        if past_watch >= 0:
            return Status.WATCH, round(25 + 25 * past_watch / span, 1)
        return Status.OK, 0.0

    @cached_property
    def _grading(self) -> tuple[float, float, float, float]:
        """The direction and the watch-to-leak span, worked out once per threshold: a
        setting's threshold grades every service (~54,000 grades on the large demo)."""
        return (1.0 if self.higher_is_worse else -1.0, abs(self.leak - self.watch) or 1.0,
                self.watch, self.leak)

    def describe(self) -> str:
        return self._described

    @cached_property
    def _described(self) -> str:
        """Worked out once per threshold: a setting's threshold grades every service, and its
        text went into each piece of evidence anew (~54,000 times on the large demo)."""
        op = "≥" if self.higher_is_worse else "≤"
        return f"watch {op} {_fmt(self.watch)} · leak {op} {_fmt(self.leak)}"


def sig(v: float, digits: int = 3) -> str:
    """A quantity in a formula, so the formula multiplies out to its money: ``digits``
    significant digits below 100 (``0.00767``, never ``0.0`` for a non-zero value), whole
    numbers with separators from 100 up (``42,026``, never ``4.2e+04``)."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(v)))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt(v: float) -> str:
    """Three significant digits, whole numbers from 100 up: a summary is read, not computed
    with (the evidence keeps the full value)."""
    return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"


@dataclass(frozen=True)
class Evidence:
    """One measured fact behind a status: what, how much, against what, over which period."""

    metric: str
    label: str
    value: float | str | None
    period: str
    status: Status
    score: float = 0.0
    unit: str = ""
    threshold: str | None = None
    baseline: float | None = None
    note: str = ""
    # how sure: the observations it rests on, its 95 % interval, the one-sided p-value against
    # the watch line and that p-value corrected across the whole check (Benjamini–Hochberg)
    n: int | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    q: float | None = None
    # compared with its own baseline (p against no change), not a level against a fixed line:
    # only such evidence may be raised to `leak` by being sure past its watch line
    relative: bool = False


_new = object.__new__


def make_evidence(
    metric: str, label: str, value: float | str | None, period: str, status: Status,
    score: float = 0.0, unit: str = "", threshold: str | None = None,
    baseline: float | None = None, note: str = "", n: int | None = None,
    low: float | None = None, high: float | None = None, p: float | None = None,
    q: float | None = None, relative: bool = False,
) -> Evidence:
    """``Evidence(...)`` with the same arguments and result, a third of the cost: the frozen
    class's ``__init__`` sets each of its 16 fields by ``object.__setattr__``; this fills the
    new object's ``__dict__`` at once, as :func:`evolve` does. For the hot paths
    (:func:`evidence`, :func:`fact`, ``confidence.tested``: ~80,000 a large check). Its
    parameters are the fields, in order, with their defaults (tests/test_findings_fast.py)."""
    e = _new(Evidence)
    e.__dict__.update({"metric": metric, "label": label, "value": value, "period": period,
                       "status": status, "score": score, "unit": unit, "threshold": threshold,
                       "baseline": baseline, "note": note, "n": n, "low": low, "high": high,
                       "p": p, "q": q, "relative": relative})
    return e


def evidence_json(e: Evidence) -> dict[str, Any]:
    """The evidence as the check's JSON and the store show it: its fields in their order but
    ``relative``, the light as its text. A copy of its attributes, which every way of making an
    ``Evidence`` (``__init__``, :func:`make_evidence`, :func:`evolve`, a pickle) sets in field
    order: 2.7× cheaper than field by field (tests/test_check_json.py holds the two equal)."""
    d = e.__dict__.copy()
    del d["relative"]
    d["status"] = d["status"]._value_
    return d


# The score of a `watch` held there on purpose — capped by a rule (a level, one sign only) or not
# yet sure — which confirmation never raises to `leak` and episodes do not count as a sign (a
# graded watch scores 25–49.9).
HELD = 49.95


def evidence(
    metric: str,
    label: str,
    value: float | None,
    threshold: Threshold | None,
    period: str,
    *,
    unit: str = "",
    baseline: float | None = None,
    note: str = "",
    sample: tuple[float, int] | None = None,
) -> Evidence:
    """Grade ``value`` against ``threshold``; a missing value is ``unknown`` evidence, and so is
    one measured on fewer data points than ``sample = (count, minimum)`` asks for: a mean of
    three ratings would flip the light on one person's mood."""
    if sample is not None and sample[0] < sample[1]:
        value, note = None, (f"only {sample[0]:.0f} data points (fewer than {sample[1]}): "
                             "not judged" if sample[0] else note or "no data")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return make_evidence(metric, label, None, period, Status.UNKNOWN, 0.0, unit,
                             threshold.describe() if threshold else None, baseline,
                             note or "no data")
    value = round(float(value), 4)
    if threshold is None:
        return make_evidence(metric, label, value, period, Status.OK, 0.0, unit, None, baseline,
                             note)
    status, score = threshold.grade(value)
    return make_evidence(metric, label, value, period, status, score, unit,
                         threshold.describe(), baseline, note)


def fact(
    metric: str, label: str, value: float | str | None, period: str, status: Status,
    *, score: float | None = None, unit: str = "", note: str = "", threshold: str | None = None,
) -> Evidence:
    """Evidence whose status is a rule rather than a threshold (a date passed, a link missing)."""
    default = {Status.LEAK: 60.0, Status.WATCH: 30.0}.get(status, 0.0)
    return make_evidence(metric, label, value, period, status,
                         default if score is None else score, unit, threshold, None, note)


@dataclass(frozen=True)
class LeakEstimate:
    """Estimated value leaking per month, with the formula that produced it filled in."""

    money: float = 0.0
    hours: float = 0.0
    formula: str = ""
    low: float | None = None     # a plausible range of ``money`` (same formula, its inputs'
    high: float | None = None    # 95 % intervals); None where the inputs carry none

    @staticmethod
    def none(reason: str = "no leak measured") -> LeakEstimate:
        return LeakEstimate(0.0, 0.0, reason)


# What a finding rests on: measured signals, or — where none could judge the cause — the
# service owner's answers to the day-one questionnaire (dipstick.selfassess)
MEASURED = "measured"
SELF_ASSESSED = "self-assessed"


@dataclass(frozen=True)
class Span:
    """Rows of a period and the dates they cover."""

    rows: int = 0
    first: date | None = None
    last: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "first": iso_day(self.first), "last": iso_day(self.last)}

    def __str__(self) -> str:
        if not self.rows:
            return "no rows"
        return f"{self.rows:,} rows, {self.first}..{self.last}"


@dataclass(frozen=True)
class ServiceCoverage:
    """One table for one service: rows in the window and the baseline."""

    table: str
    window: Span
    baseline: Span

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "window": self.window.to_json(),
                "baseline": self.baseline.to_json()}

    @property
    def value(self) -> tuple[Any, ...]:
        """Its fields and its two ``Span``'s: the key its JSON is made once per value by."""
        w, b = self.window, self.baseline
        return (self.table, w.rows, w.first, w.last, b.rows, b.first, b.last)

    def __str__(self) -> str:
        return f"{self.table}: window {self.window}; baseline {self.baseline}"


D = TypeVar("D")


def evolve(obj: D, /, **changes: Any) -> D:
    """``dataclasses.replace`` for the frozen result classes here (``Evidence``, ``Finding``,
    ``ServiceVerdict``: no ``__post_init__``, no ``init=False`` field, no slots, no cached
    property), five to eight times cheaper: the copy takes the original's attributes as they
    are instead of running ``__init__`` with one ``object.__setattr__`` per field (best of 25,
    loaded machine: an ``Evidence`` 8.9 → 1.8 µs, a ``Finding`` 14.7 → 1.9 µs). A check of the
    large demo makes ~80,000 such copies. A name that is not a field raises, as ``replace``
    does."""
    fields = obj.__dataclass_fields__   # type: ignore[attr-defined]
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{type(obj).__name__} has no field "
                        f"{', '.join(sorted(changes.keys() - fields.keys()))}")
    new = object.__new__(type(obj))
    state = new.__dict__
    state.update(obj.__dict__)
    state.update(changes)
    return new


def iso_day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


@dataclass(frozen=True)
class Finding:
    """One indicator's verdict on one service at one as-of date."""

    service: str
    cause: str
    status: Status
    score: float
    summary: str
    evidence: tuple[Evidence, ...] = ()
    leak: LeakEstimate = field(default_factory=LeakEstimate)
    action: str = ""
    since: date | None = None   # when the leak started: the shift behind it, where one is known
    symptom_of: str | None = None   # the root cause of the episode this finding is a symptom of
    episode: str = ""               # the episode's one-line story (root and symptoms carry it)
    coverage: tuple[ServiceCoverage, ...] = ()   # what it judged: rows per table and period
    basis: str = MEASURED           # MEASURED or SELF_ASSESSED

    @property
    def self_assessed(self) -> bool:
        return self.basis == SELF_ASSESSED


def conclude(
    service: str,
    cause: str,
    items: Iterable[Evidence],
    leak: LeakEstimate,
    action: str,
    summary: str | None = None,
) -> Finding:
    """The finding's status is its worst known evidence; ``unknown`` only if nothing is known."""
    ev = tuple(items)
    # the worst known evidence — the first of the highest (rank, score), as ``max`` with that
    # key picks — and the highest score, in one pass (~13,000 findings a large check)
    worst: Evidence | None = None
    rank, top, score = -1, 0.0, 0.0
    for e in ev:
        if e.status is Status.UNKNOWN:
            continue
        r, s = e.status.rank, e.score
        if worst is None:
            worst, rank, top, score = e, r, s, s
            continue
        if r > rank or (r == rank and s > top):
            worst, rank, top = e, r, s
        if s > score:
            score = s
    if worst is None:
        reason = "; ".join(dict.fromkeys(e.note for e in ev if e.note)) or "no data"
        return Finding(service, cause, Status.UNKNOWN, 0.0, summary or reason, ev,
                       LeakEstimate.none("not estimated: " + reason), action)
    if summary is None:
        summary = _summarise(worst)
    if worst.status is Status.OK:
        leak = LeakEstimate.none("nothing counted while the cause is ok")
    return Finding(service, cause, worst.status, score, summary, ev, leak, action)


def unknown(service: str, cause: str, reason: str, action: str = "") -> Finding:
    return Finding(service, cause, Status.UNKNOWN, 0.0, reason, (),
                   LeakEstimate.none("not estimated: " + reason), action)


def not_applicable(service: str, cause: str, reason: str, action: str = "") -> Finding:
    """The cause cannot apply to the service (``n/a``): unlike ``unknown``, nothing is missing."""
    return Finding(service, cause, Status.NA, 0.0, reason, (),
                   LeakEstimate.none("not applicable: " + reason), action)


def _summarise(e: Evidence) -> str:
    if e.status is Status.OK:
        return "no sign of a leak"
    value = e.value if isinstance(e.value, str) else f"{_fmt(float(e.value or 0))}{e.unit}"
    if e.note:
        return f"{e.label}: {value} ({e.note})"
    return f"{e.label}: {value}" + (f" ({e.threshold})" if e.threshold else "")


T = TypeVar("T")


class CacheKey(Generic[T]):
    """The typed name of one measure a check computes once and shares (``CacheKey[T]`` promises
    a ``T``). Keys are module constants compared by identity, so a misspelt key is a name
    error that mypy reports, not a silent second computation under another string."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"CacheKey({self.name!r})"


class CheckCache:
    """What one check computed once for several of its parts (shifts, costs, streams,
    journeys), under typed keys."""

    def __init__(self) -> None:
        self._values: dict[CacheKey[Any], Any] = {}

    def get(self, key: CacheKey[T], compute: Callable[[], T]) -> T:
        """The value under ``key``, computing it on first use."""
        if key not in self._values:
            self._values[key] = compute()
        return cast(T, self._values[key])


@dataclass(frozen=True)
class CheckContext:
    """What every indicator may read: the value model, the signal tables and the window."""

    model: ValueModel
    signals: Signals
    window: Window
    common: CommonSpec
    cache: CheckCache = field(default_factory=CheckCache, compare=False, repr=False)

    @property
    def rate(self) -> float:
        return self.model.organisation.hourly_rate

    @property
    def currency(self) -> str:
        return self.model.organisation.currency
