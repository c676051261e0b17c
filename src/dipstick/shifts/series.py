"""Weekly signal series: what shift detection looks at, aggregated in the engine.

Every table is aggregated once, for all services, by (subject, week) with Narwhals — never a
Python loop over raw rows — and the few-hundred-thousand aggregated rows are split into series
with NumPy. Weeks start on Monday and only whole weeks before the window end count: a
half-finished last week would look like a drop in every count.

Missing weeks are absent, never zero, with one exception: ticket counts (tickets per user by
type, lost hours) on a week the service had users but no tickets are a real 0, so those series
live on the usage weeks. Counts and lost hours are per active user, so growth and the holiday
dips in use do not read as shifts. A mean (satisfaction, resolution, reopen share, survey
score) on a week without tickets or answers is unknown, not 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

import narwhals as nw
import numpy as np
import numpy.typing as npt

from dipstick.engine import Signals, epoch_us, hours_between
from dipstick.model import ValueModel
from dipstick.shifts import rollup
from dipstick.shifts.groups import Groups, Labels, _finite, _split, early_codes

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPOCH_MONDAY = datetime(1970, 1, 5)
EPOCH_MONDAY_US = 4 * 86_400 * 1_000_000
WEEK_MINUTES = 1440 * 7
TYPES = ("incident", "request", "question")
RESOLVED = TYPES[:2]   # the types with a weekly median resolution series

# metric -> higher is worse (the direction a leak moves it)
METRICS: dict[str, bool] = {
    "users": False,
    "incidents_per_user": True, "requests_per_user": True, "questions_per_user": True,
    "satisfaction": False, "lost_hours_per_user": True, "resolution_hours": True,
    "reopen_share": True, "cost_per_user": True, "training_completion": False,
    "value_score": False, "kpi": False, "touchpoint_satisfaction": False,
    "drop_off_rate": True,
}


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What a series measures: ``kind`` is ``service``, ``outcome`` or ``touchpoint``;
    ``subject`` its id (``journey/touchpoint`` for a touchpoint); ``part`` a group,
    ``group/dimension`` or ticket type where the metric is split."""

    kind: str
    subject: str
    metric: str
    part: str = ""

    def __str__(self) -> str:
        return "/".join(x for x in (self.subject, self.metric, self.part) if x)


@dataclass(frozen=True)
class Series:
    """One metric week by week. ``index`` holds week numbers (Mondays since 1970-01-05) so a
    2,000-service organisation does not build millions of date objects it never shows."""

    key: SeriesKey
    index: IntArray = field(compare=False)      # ascending week numbers, only weeks with a value
    values: FloatArray = field(compare=False)
    higher_is_worse: bool = False

    def __len__(self) -> int:
        return len(self.index)

    @cached_property
    def weeks(self) -> tuple[date, ...]:
        """The Mondays of the weeks with a value."""
        days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * self.index
        return tuple(days.astype(object))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_index(column: str, on: nw.LazyFrame[Any] | None = None) -> nw.Expr:
    """Monday-based week number since 1970-01-05 (``dt.truncate("1w")`` fails on DuckDB);
    ``on`` as for :func:`dipstick.engine.epoch_us`."""
    return ((epoch_us(column, on) - EPOCH_MONDAY_US) // (WEEK_MINUTES * 60_000_000)).cast(
        nw.Int64)


def monday(week: int) -> date:
    return EPOCH_MONDAY.date() + timedelta(days=7 * int(week))


# table → subject → its weeks (ascending) and raw weekly sums by name: what an indicator adds up
# over its own spans of whole weeks (the change indicator's year before each change) without
# scanning the table again
Sums = dict[str, dict[str, tuple[IntArray, dict[str, FloatArray]]]]
# table → service → its earliest time before the cut, in microseconds since 1970: what
# ``indicators.common.first_seen`` would otherwise read the tickets and the usage again for
Firsts = dict[str, dict[str, int]]


def cut_of(end: datetime) -> datetime:
    """The series' end: the Monday of ``end``'s week (only whole weeks before it count)."""
    return datetime.combine(week_start(end.date()), datetime.min.time())


def build(signals: Signals, model: ValueModel, end: datetime, sums: Sums | None = None,
          firsts: Firsts | None = None) -> list[Series]:
    """Every weekly series the signals allow, using data of whole weeks before ``end``;
    ``sums``, when given, receives the raw weekly sums of tickets by type and of usage, and
    ``firsts`` each service's earliest ticket and usage day before the cut."""
    cut = cut_of(end)
    out: list[Series] = []
    sums = {} if sums is None else sums
    firsts = {} if firsts is None else firsts
    usage = _usage(signals, cut, sums, firsts)
    out += _tickets(signals, cut, usage, sums, firsts)
    if usage is not None:
        out += _each("service", usage, "users", usage.finite(usage.columns["users"]))
    out += _costs(signals, cut, usage)
    out += _surveys(signals, cut)
    out += _training(signals, cut)
    out += _kpis(signals, model, cut)
    out += _touchpoints(signals, cut)
    return [s for s in out if len(s.index)]


# -- one aggregation per table ---------------------------------------------------------------

def _frame(signals: Signals, table: str, column: str, cut: datetime, keys: list[str]
           ) -> tuple[nw.LazyFrame[Any], Labels]:
    """``table``'s rows before ``cut`` with their week, its ENUM ``keys`` as codes from the
    start (:func:`~dipstick.shifts.groups.early_codes`: grouped on one or two bytes a row,
    not on the view's text, and ranked as codes), and their labels for ``_split``."""
    frame, codes = early_codes(signals.frame(table, True), keys)
    return _weekly(frame, column, cut), codes


def _weekly(frame: nw.LazyFrame[Any], column: str, cut: datetime) -> nw.LazyFrame[Any]:
    return frame.filter(nw.col(column) < cut).with_columns(wk=week_index(column, frame))


def _usage(signals: Signals, cut: datetime, sums: Sums, firsts: Firsts) -> Groups | None:
    if not signals.has("usage"):
        return None
    # the service as its codes: ``_split`` names each run's key, not each row's
    coded, codes = early_codes(signals.frame("usage", True), ["service"])
    frame = _weekly(coded, "date", cut)
    lf = (frame.group_by("service", "wk")
          # rows, not distinct dates: (date, service) is the table's key, unique per row
          # (the loader rejects duplicates), and a distinct count cost 0.6 s of CPU
          .agg(users=nw.col("active_users").cast(nw.Float64).mean(), days=nw.len(),
               user_days=nw.col("active_users").cast(nw.Float64).sum(),
               first=epoch_us("date", frame).min()))
    usage = _split(lf, ["service"], ["users", "days", "user_days", "first"], codes=codes)
    kept = sums.setdefault("usage", {})
    for (service,), w, c in usage.runs():
        kept[service] = (w, {"days": c["days"], "user_days": c["user_days"]})
    firsts["usage"] = _firsts(usage)
    return usage if usage.keys else None


def _firsts(g: Groups) -> dict[str, int]:
    """Each key's earliest ``first`` (microseconds since 1970 of a date in 1900–2200, the
    loader's bounds: whole numbers under 2**53, exact as floats)."""
    if not g.keys:
        return {}
    least = np.minimum.reduceat(g.columns["first"], g.bounds[:-1])
    return {key: int(us) for (key,), us in zip(g.keys, least.tolist(), strict=True)}


def _tickets(signals: Signals, cut: datetime, usage: Groups | None, sums: Sums,
             firsts: Firsts) -> list[Series]:
    if not signals.has("tickets"):
        return []
    counts = {f"n_{t}": (nw.col("type") == t).cast(nw.Float64).sum() for t in TYPES}
    # the medians hold their values in memory: per set of services where the bound needs it
    parts = [early_codes(f, ["service"]) for f in signals.each_part("tickets", "service", True)]
    frames, codes = [f for f, _ in parts], parts[0][1]
    # The weekly medians are the engine's, on DuckDB too: its grouped median runs on every
    # thread, where fetching the 4.5 M resolved tickets of the large demo to sort them in
    # NumPy (session 17) cost as much CPU and a third more wall (docs/decisions.md, session
    # 25). Hours as a column first: inside each median's ``when`` DuckDB evaluated Narwhals'
    # portable arithmetic once per median (5.5 s of CPU on 5.3 M tickets, 1.7 s as one column)
    weekly = [_weekly(frame, "opened_at", cut).with_columns(
        _h=hours_between("opened_at", "resolved_at", frame)) for frame in frames]
    medians = {f"res_{t}": nw.when(nw.col("type") == t).then(nw.col("_h")).median()
               for t in RESOLVED}
    lfs = [w.group_by("service", "wk")
           .agg(**counts, n=nw.len(),
                satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                lost_hours=nw.col("lost_minutes").cast(nw.Float64).sum() / 60.0,
                reopen_share=(nw.col("reopened").cast(nw.Float64) >= 1).cast(nw.Float64).mean(),
                **medians, first=epoch_us("opened_at", f).min())
           for w, f in zip(weekly, frames, strict=True)]
    cols = [*counts, "n", "satisfaction", "lost_hours", "reopen_share", *medians, "first"]
    g = _split(lfs, ["service"], cols, codes=codes)
    firsts["tickets"] = _firsts(g)
    kept = sums.setdefault("tickets", {})
    for (service,), wk, c in g.runs():
        kept[service] = (wk, {"incidents": c["n_incident"], "questions": c["n_question"]})
    own = [("satisfaction", "", g.finite(g.columns["satisfaction"])),
           ("reopen_share", "", g.finite(g.columns["reopen_share"]))] + [
        ("resolution_hours", t, g.finite(g.columns[f"res_{t}"])) for t in RESOLVED]
    rated = _per_user(g, usage)
    out: list[Series] = []
    for i, (service,) in enumerate(g.keys):
        out += [Series(SeriesKey("service", service, metric, part), *pieces[i], METRICS[metric])
                for metric, part, pieces in own]
        if i in rated:
            out += [Series(SeriesKey("service", service, metric), *piece, METRICS[metric])
                    for metric, piece in rated[i]]
    return out


def _per_user(g: Groups, usage: Groups | None
              ) -> dict[int, list[tuple[str, tuple[IntArray, FloatArray]]]]:
    """Lost hours and tickets of each type per active user, on the whole usage weeks of each
    service with tickets (by its run in ``g``): 0 tickets on a week without any. All
    services at once: each usage week is looked up among the ticket weeks of its service by
    one ``searchsorted`` over (service, week) keys, the same elementwise arithmetic as
    service by service."""
    if usage is None or not g.keys:
        return {}
    code = {k: i for i, k in enumerate(g.keys)}
    lengths = np.diff(usage.bounds)
    ucode = np.repeat(np.array([code.get(k, -1) for k in usage.keys], dtype=np.int64), lengths)
    full = usage.columns["days"] >= 7             # a rate on a part week would read as a drop
    rows = np.flatnonzero(full & (ucode >= 0))
    rows = rows[np.argsort(ucode[rows], kind="stable")]     # in g's order, weeks ascending
    uc, uw, uv = ucode[rows], usage.weeks[rows], usage.columns["users"][rows]
    tcode = np.repeat(np.arange(len(g.keys), dtype=np.int64), np.diff(g.bounds))
    both = np.concatenate([g.weeks, uw])
    lo = int(both.min())
    span = int(both.max()) - lo + 1
    tkey, ukey = tcode * span + (g.weeks - lo), uc * span + (uw - lo)
    pos = np.searchsorted(tkey, ukey).clip(0, len(tkey) - 1)
    hit = tkey[pos] == ukey
    bounds = np.concatenate(([0], np.cumsum(np.bincount(uc, minlength=len(g.keys))))).tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        values = [("lost_hours_per_user", np.where(hit, np.nan_to_num(
            g.columns["lost_hours"][pos]), 0.0) / uv)] + [
            (f"{t}s_per_user", np.where(hit, np.nan_to_num(g.columns[f"n_{t}"][pos]), 0.0) / uv)
            for t in TYPES]
    pieces = [(metric, _finite(uw, v, bounds)) for metric, v in values]
    # a service with no whole usage week has only empty rate series, which ``build`` drops
    return {i: [(metric, found[i]) for metric, found in pieces]
            for i in range(len(g.keys)) if bounds[i + 1] > bounds[i]}


def _costs(signals: Signals, cut: datetime, usage: Groups | None) -> list[Series]:
    """Monthly cost held over the weeks whose Monday falls in that month, per weekly user. All
    services at once: each usage week's month looked up among its service's cost months by
    one ``searchsorted`` over (service, month) keys (as :func:`_per_user` does)."""
    if not signals.has("costs") or usage is None or not usage.keys:
        return []
    month = nw.col("month").dt.year() * 12 + nw.col("month").dt.month() - 1
    frame, codes = early_codes(signals.frame("costs", True), ["service"])
    lf = (frame.filter(nw.col("month") < cut).with_columns(m=month)
          .group_by("service", "m").agg(amount=nw.col("amount").cast(nw.Float64).sum()))
    g = _split(lf, ["service"], ["amount"], week="m", codes=codes)
    if not g.keys:
        return []
    code = {k: i for i, k in enumerate(g.keys)}
    ucode = np.repeat(np.array([code.get(k, -1) for k in usage.keys], dtype=np.int64),
                      np.diff(usage.bounds))
    days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * usage.weeks
    um = days.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    lo = min(int(g.weeks.min()), int(um.min()))
    span = max(int(g.weeks.max()), int(um.max())) - lo + 1
    ckey = np.repeat(np.arange(len(g.keys), dtype=np.int64), np.diff(g.bounds)) * span + (
        g.weeks - lo)
    ukey = ucode * span + (um - lo)
    pos = np.searchsorted(ckey, ukey).clip(0, len(ckey) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a service without costs has ucode -1: its keys fall below every cost key
        v = np.where(ckey[pos] == ukey, g.columns["amount"][pos] / usage.columns["users"],
                     np.nan)
    pieces = _finite(usage.weeks, v, usage.bounds)
    at = {k: j for j, k in enumerate(usage.keys)}
    return [Series(SeriesKey("service", k[0], "cost_per_user"), *pieces[at[k]],
                   METRICS["cost_per_user"]) for k in g.keys if k in at]


def _grouped(signals: Signals, table: str, column: str, cut: datetime, keys: list[str],
             value: str, metric: str) -> list[Series]:
    if not signals.has(table):
        return []
    frame, codes = _frame(signals, table, column, cut, keys)
    lf = (frame.group_by(*keys, "wk")
          .agg(v=nw.col(value).cast(nw.Float64).mean()))
    g = _split(lf, keys, ["v"], codes=codes)
    return _each("service", g, metric, g.finite(g.columns["v"]))


def _surveys(signals: Signals, cut: datetime) -> list[Series]:
    """Value scores per (service, group) and per dimension from one query by dimension (~0.1 s
    of CPU less): a group's week is its dimensions' sums over their counts, exact on whole
    scores; on fractional ones the group's own query (its sum's order shows in the last bits)."""
    if not signals.has("surveys"):
        return []
    keys, score = ["service", "group", "dimension"], nw.col("score").cast(nw.Float64)
    frame, codes = _frame(signals, "surveys", "date", cut, keys)
    g = _split(frame.group_by(*keys, "wk").agg(
        v=score.mean(), s=score.sum(), c=score.count(),
        whole=(score == score.round(0)).cast(nw.Float64).min()), keys, ["v", "s", "c", "whole"],
        codes=codes)
    fine = _each("service", g, "value_score", g.finite(g.columns["v"]))
    if not (g.columns["whole"] == 1.0).all():
        return _grouped(signals, "surveys", "date", cut, keys[:2], "score", "value_score") + fine
    coarse = Groups(*rollup.means([k[:2] for k in g.keys], g.bounds, g.weeks, g.columns["s"],
                                  g.columns["c"]))
    return _each("service", coarse, "value_score", coarse.finite(coarse.columns["v"])) + fine


def _training(signals: Signals, cut: datetime) -> list[Series]:
    if not signals.has("training"):
        return []
    frame, codes = _frame(signals, "training", "date", cut, ["service"])
    lf = (frame.group_by("service", "wk")
          .agg(done=nw.col("completed").cast(nw.Float64).sum(),
               need=nw.col("required").cast(nw.Float64).sum()))
    g = _split(lf, ["service"], ["done", "need"], codes=codes)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = g.columns["done"] / g.columns["need"]
    return _each("service", g, "training_completion", g.finite(share))


def _kpis(signals: Signals, model: ValueModel, cut: datetime) -> list[Series]:
    """KPI actuals per outcome; which way is worse follows the KPI's direction."""
    if not signals.has("kpis"):
        return []
    frame, codes = _frame(signals, "kpis", "date", cut, ["outcome"])
    lf = (frame.group_by("outcome", "wk")
          .agg(v=nw.col("value").cast(nw.Float64).mean()))
    out = []
    for (outcome,), wk, c in _split(lf, ["outcome"], ["v"], codes=codes).runs():
        o = model.outcome(outcome)
        down = o is not None and o.kpi is not None and o.kpi.direction == "down"
        s = _make("outcome", outcome, "kpi", "", wk, c["v"])
        out.append(Series(s.key, s.index, s.values, higher_is_worse=down))
    return out


def _touchpoints(signals: Signals, cut: datetime) -> list[Series]:
    if not signals.has("touchpoints"):
        return []
    names = signals.columns("touchpoints")
    aggs: dict[str, nw.Expr] = {}
    if "satisfaction" in names:
        aggs["sat"] = nw.col("satisfaction").cast(nw.Float64).mean()
    if "visitors" in names and "drop_offs" in names:
        aggs["visitors"] = nw.col("visitors").cast(nw.Float64).sum()
        aggs["drops"] = nw.col("drop_offs").cast(nw.Float64).sum()
    if not aggs:
        return []
    frame, codes = _frame(signals, "touchpoints", "date", cut, ["journey", "touchpoint"])
    lf = (frame.group_by("journey", "touchpoint", "wk")
          .agg(**aggs))
    out = []
    for (journey, tp), wk, c in _split(lf, ["journey", "touchpoint"], list(aggs),
                                        codes=codes).runs():
        subject = f"{journey}/{tp}"
        if "sat" in c:
            out.append(_make("touchpoint", subject, "touchpoint_satisfaction", "", wk, c["sat"]))
        if "drops" in c:
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = c["drops"] / c["visitors"]
            out.append(_make("touchpoint", subject, "drop_off_rate", "", wk, rate))
    return out


# -- from aggregated rows to series -----------------------------------------------------------

def _each(kind: str, g: Groups, metric: str, pieces: list[tuple[IntArray, FloatArray]]
          ) -> list[Series]:
    """One ``metric`` series per key of ``g`` (subject, then the rest of the key as its part)
    from its finite ``pieces``."""
    worse = METRICS[metric]
    return [Series(SeriesKey(kind, k[0], metric, "/".join(k[1:])), w, v, worse)
            for k, (w, v) in zip(g.keys, pieces, strict=True)]


def _make(kind: str, subject: str, metric: str, part: str, weeks: IntArray,
          values: FloatArray) -> Series:
    ok = np.isfinite(values)
    return Series(SeriesKey(kind, subject, metric, part), weeks[ok].astype(np.int64),
                  values[ok].astype(np.float64), METRICS[metric])
