"""Measures several indicators share, computed once per check and cached on the context."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise

import narwhals as nw
import numpy as np

from dipstick.engine import between, collect
from dipstick.findings import CacheKey, CheckContext, Evidence, Status, Threshold, evidence
from dipstick.indicators.confidence import scaled
from dipstick.model import ValueModel
from dipstick.shifts import SeriesKey, Shift, ShiftIndex, detect_all
from dipstick.shifts.series import EPOCH_MONDAY, FloatArray, IntArray, cut_of
from dipstick.stats import Test, shift_of_means
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
    "step_wait": "wait per visit", "step_rework": "rework share",
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


#: How :func:`monthly_costs` reads a service's run cost, for pages that show it next to it.
RUN_COST_BASIS = ("run cost a month as the check counts it: the latest month of costs.csv "
                  "within the check's window, else monthly_cost from dipstick.yaml")


def monthly_costs(ctx: CheckContext) -> dict[str, float]:
    """Run cost per service: the latest month of the ``costs`` table within the current window,
    else ``monthly_cost`` from dipstick.yaml (:data:`RUN_COST_BASIS`)."""
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


def per_month(value: float | None, days: float) -> float | None:
    return None if value is None or days <= 0 else value / (days / (365.25 / 12))


def first_seen(ctx: CheckContext) -> dict[str, datetime]:
    """The first day each service shows up in usage or tickets (or its launch date)."""
    return ctx.cache.get(FIRST_SEEN, lambda: _first_seen(ctx))


EPOCH = datetime(1970, 1, 1)


def _first_seen(ctx: CheckContext) -> dict[str, datetime]:
    """The earliest row before the weekly series' cut is the series' own (``ShiftIndex.
    firsts``: the tables read once, 0.15 s of CPU less on the large demo); only the rows from
    the cut on (the last days, most often none) are read here. The same frames: both after a
    thin baseline was left out."""
    seen: dict[str, datetime] = {}
    firsts, cut = detect_all(ctx).firsts, cut_of(ctx.window.end)
    for table, column in (("usage", "date"), ("tickets", "opened_at")):
        if ctx.signals.has(table):
            for service, us in firsts.get(table, {}).items():
                t = EPOCH + timedelta(microseconds=us)
                seen[service] = min(seen.get(service, t), t)
            lf = (ctx.signals.frame(table).filter(nw.col(column) >= cut)
                  .group_by("service").agg(nw.col(column).min()))
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
    # only a shift still standing: the series' last one (a later recovery undoes it)
    last = index.last_bad(key, ctx.window.start.date())
    return None if last is None or last.confidence < SETTLED_CONFIDENCE else last


SETTLED_CONFIDENCE = 0.9


def expect_settled(ctx: CheckContext, services: Iterable[str],
                   series: Iterable[tuple[str, str]]) -> None:
    """Tell the check's shift index that :func:`settled_shift` will be asked about these
    services' series (``(metric, part)`` each): a cause's ``measure`` knows which services its
    ``assess`` reaches, and their series are screened together and only those
    (:meth:`~dipstick.shifts.ShiftIndex.expect_series`), not every series of their metrics.
    A hint only: the answers are the same with it or without."""
    parts = list(series)
    detect_all(ctx).expect_series(SeriesKey("service", sid, metric, part)
                                  for sid in services for metric, part in parts)


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


# -- the audiences' rhythm: seasons that are nobody's change ------------------------------

def week_of(day: date) -> int:
    return (day - EPOCH_MONDAY.date()).days // 7


@dataclass(frozen=True)
class Season:
    """Per audience, week by week, the median over its services of a week's active users ÷
    that service's median week: the rhythm all of them share (holidays, summer, year-end).
    The median keeps one service's own leak out of its peers' rhythm."""

    index: dict[str, dict[int, float]]     # audience → week number → relative level
    audience: dict[str, str]               # service → audience
    min_peers: int = 5
    # (id of the ShiftIndex, service) → its weekly users ÷ this rhythm, computed once: change
    # and retirement ask ~6,000 times a check (relative_use)
    _relative: dict[tuple[int, str], dict[int, float] | None] = field(
        default_factory=dict, compare=False, repr=False)

    def level(self, service: str, week: int) -> float | None:
        return self.index.get(self.audience.get(service, ""), {}).get(week)

    def ratio(self, service: str, before: range, after: range) -> float:
        """The common rhythm's after ÷ before (1 where it is not known)."""
        def mean(weeks: range) -> float | None:
            xs = [x for w in weeks if (x := self.level(service, w)) is not None]
            return sum(xs) / len(xs) if len(xs) >= 2 else None
        a, b = mean(after), mean(before)
        return a / b if a and b else 1.0


SEASON: CacheKey[Season] = CacheKey("season")


def _audience(model: ValueModel) -> dict[str, str]:
    kinds = {g.id: g.kind for g in model.stakeholder_groups}
    return {s.id: "+".join(sorted({kinds[c] for c in s.consumers if c in kinds})) or "-"
            for s in model.services}


Weekly = tuple[IntArray, FloatArray]          # week numbers (ascending) and their values


def season(model: ValueModel, shifts: ShiftIndex, min_peers: int = 5) -> Season:
    """The audiences' rhythm from the services' weekly user series (an audience with fewer
    than ``min_peers`` services with use borrows the whole portfolio's)."""
    audience = _audience(model)
    rel: dict[str, list[Weekly]] = defaultdict(list)
    for s in model.services:
        [*found] = shifts.series(s.id, "users")
        own = [x for x in found if x.key.kind == "service" and x.key.subject == s.id]
        if not own or len(own[0]) < 8:
            continue
        mid = statistics.median(own[0].values.tolist())   # Python floats: NumPy's cost more
        if mid <= 0:
            continue
        rel[audience[s.id]].append((own[0].index, own[0].values / mid))
    everyone = [x for xs in rel.values() for x in xs]

    def median_by_week(members: list[Weekly]) -> dict[int, float]:
        return weekly_medians(members, min(min_peers, len(members)))

    whole = median_by_week(everyone) if len(everyone) >= min_peers else {}
    index = {a: median_by_week(m) if len(m) >= min_peers else whole for a, m in rel.items()}
    for a in set(audience.values()) - set(index):
        index[a] = whole
    return Season(index, audience, min_peers)


def weekly_medians(members: list[Weekly], need: int) -> dict[int, float]:
    """Per week with at least ``need`` members' values, their median: ``statistics.median``
    to the last bit (the middle value, or the mean of the two middle ones), from one sort of a
    members × weeks array — per week in Python lists it cost ~0.2 s of the large demo's check.
    A non-finite value (which sorts apart in ``statistics``) takes the lists' way."""
    if not members or not all(np.isfinite(v).all() for _, v in members):
        return weekly_medians_plain(members, need)
    first = min(int(w[0]) for w, _ in members)
    table = np.full((len(members), max(int(w[-1]) for w, _ in members) - first + 1), np.nan)
    for i, (w, v) in enumerate(members):
        table[i, w - first] = v
    table.sort(axis=0)                                   # the weeks a member lacks (NaN) last
    count = len(members) - np.isnan(table).sum(axis=0)
    cols = np.flatnonzero((count >= need) & (count > 0))
    c = count[cols]
    low, high = table[(c - 1) // 2, cols], table[c // 2, cols]
    middle = np.where(c % 2 == 1, low, (low + high) / 2)
    return dict(zip((cols + first).tolist(), middle.tolist(), strict=True))


def weekly_medians_plain(members: list[Weekly], need: int) -> dict[int, float]:
    """:func:`weekly_medians` week by week in Python lists (its reference, and the way for
    values NumPy would sort apart from ``statistics``)."""
    weeks: dict[int, list[float]] = defaultdict(list)
    for w, v in members:
        for week, value in zip(w.tolist(), v.tolist(), strict=True):
            weeks[week].append(value)
    return {w: statistics.median(vs) for w, vs in weeks.items() if len(vs) >= need}


# mean use after, before, Welch's test of the share change, drift before, drift still after
UseChange = tuple[float, float, Test | None, float, float]


def use_change(shifts: ShiftIndex, rhythm: Season, service: str, before: range,
               after: range) -> UseChange | None:
    """Weekly active users after ÷ before the change, each week divided by the audience's
    rhythm; Welch's test on the weekly values (weeks vary more than a count would), as the
    share change after ÷ before − 1; the drift already under way before the change (the
    later half of the before weeks ÷ the earlier half − 1) and the drift still under way after
    it (the same of the after weeks). None without two weeks on each side. The causes ask
    :func:`~dipstick.indicators.weekly.use_changes` for all their questions at once;
    this is its definition, and its way for values NumPy would treat apart."""
    weeks = relative_use(shifts, rhythm, service)
    if weeks is None:
        return None

    def side(span: range) -> list[float]:
        return [weeks[w] for w in span if w in weeks]

    a, b = side(after), side(before)
    if len(a) < 2 or len(b) < 2 or not sum(b):
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    # weeks of use wander (a quiet month, a busy one): neighbours are alike, so n weeks say
    # less than n independent draws. Each side's spread is widened by the AR(1) factor
    # √((1 + ρ) / (1 − ρ)) of the year of weeks before ``after`` (ρ their lag-1 correlation)
    history = range(after.start - 52, after.start)
    widen = math.sqrt(_ar1_factor([weeks.get(w) for w in history]))
    test = shift_of_means(ma, _sd(a, ma) * widen, len(a), mb, _sd(b, mb) * widen,
                 len(b), null=0.0, higher_is_worse=False)
    return ma, mb, None if test is None else scaled(test, 1 / mb, 0.0,
                                                   f"{len(a)} vs {len(b)} weeks"), \
        _drift(b), _drift(a)


def relative_use(shifts: ShiftIndex, rhythm: Season, service: str) -> dict[int, float] | None:
    """The service's weekly active users, each week divided by its audience's rhythm (1
    where the rhythm is unknown), by week number; None without a users series. Kept on the
    rhythm per index and service: the same for every change of the service."""
    key = (id(shifts), service)
    if key not in rhythm._relative:
        own = [x for x in shifts.series(service, "users") if x.key.subject == service]
        levels = rhythm.index.get(rhythm.audience.get(service, ""), {})   # level(), inlined
        rhythm._relative[key] = None if not own else {
            w: v / (levels.get(w) or 1.0)
            for w, v in zip(own[0].index.tolist(), own[0].values.tolist(), strict=True)}
    return rhythm._relative[key]


def _sd(xs: list[float], mean: float) -> float:
    """The sample standard deviation in floats (``statistics.stdev`` computes in exact
    fractions: 1.6 s of the large demo's check)."""
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def _drift(xs: list[float]) -> float:
    """The later half of ``xs`` ÷ the earlier half − 1: how far a side moved within itself."""
    half = len(xs) // 2
    early, late = statistics.fmean(xs[:half]), statistics.fmean(xs[half:])
    return late / early - 1 if early else 0.0


def _ar1_factor(xs: list[float | None], cap: float = 0.8) -> float:
    """(1 + ρ) / (1 − ρ), ρ the lag-1 correlation of consecutive known values (clipped to
    [0, ``cap``]): how much a mean of such a series varies more than one of independent
    values. 1 with fewer than 8 pairs."""
    pairs = [(x, y) for x, y in pairwise(xs) if x is not None and y is not None]
    if len(pairs) < 8:
        return 1.0
    known = [x for x in xs if x is not None]
    mid = statistics.fmean(known)
    var = sum((x - mid) ** 2 for x in known) / len(known)
    if var <= 0:
        return 1.0
    rho = sum((x - mid) * (y - mid) for x, y in pairs) / len(pairs) / var
    rho = min(max(rho, 0.0), cap)
    return (1 + rho) / (1 - rho)


def rhythm(ctx: CheckContext) -> Season:
    """The audiences' rhythm of this check (once per check)."""
    return ctx.cache.get(SEASON, lambda: season(ctx.model, detect_all(ctx)))
