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

from dipstick.engine import Signals, arrays, epoch_us, hours_between
from dipstick.model import ValueModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPOCH_MONDAY = datetime(1970, 1, 5)
EPOCH_MONDAY_US = 4 * 86_400 * 1_000_000
WEEK_MINUTES = 1440 * 7
TYPES = ("incident", "request", "question")

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


def build(signals: Signals, model: ValueModel, end: datetime, sums: Sums | None = None
          ) -> list[Series]:
    """Every weekly series the signals allow, using data of whole weeks before ``end``;
    ``sums``, when given, receives the raw weekly sums of tickets by type and of usage."""
    cut = datetime.combine(week_start(end.date()), datetime.min.time())
    out: list[Series] = []
    sums = {} if sums is None else sums
    users = _usage(signals, cut, sums)
    out += _tickets(signals, cut, users, sums)
    out += [_make("service", s, "users", "", w, v) for s, (w, v, _) in users.items()]
    out += _costs(signals, cut, users)
    out += _grouped(signals, "surveys", "date", cut, ["service", "group"], "score",
                    "value_score")
    out += _grouped(signals, "surveys", "date", cut, ["service", "group", "dimension"], "score",
                    "value_score")
    out += _training(signals, cut)
    out += _kpis(signals, model, cut)
    out += _touchpoints(signals, cut)
    return [s for s in out if len(s)]


# -- one aggregation per table ---------------------------------------------------------------

def _frame(signals: Signals, table: str, column: str, cut: datetime) -> nw.LazyFrame[Any]:
    return _weekly(signals.frame(table), column, cut)


def _weekly(frame: nw.LazyFrame[Any], column: str, cut: datetime) -> nw.LazyFrame[Any]:
    return frame.filter(nw.col(column) < cut).with_columns(wk=week_index(column, frame))


Users = dict[str, tuple[IntArray, FloatArray, FloatArray]]   # service -> weeks, users, days


def _usage(signals: Signals, cut: datetime, sums: Sums) -> Users:
    if not signals.has("usage"):
        return {}
    lf = (_frame(signals, "usage", "date", cut).group_by("service", "wk")
          # rows, not distinct dates: (date, service) is the table's key, unique per row
          # (the loader rejects duplicates), and a distinct count cost 0.6 s of CPU
          .agg(users=nw.col("active_users").cast(nw.Float64).mean(), days=nw.len(),
               user_days=nw.col("active_users").cast(nw.Float64).sum()))
    out: Users = {}
    kept = sums.setdefault("usage", {})
    for (service,), w, c in _split(lf, ["service"], ["users", "days", "user_days"]):
        out[service] = (w, c["users"], c["days"])
        kept[service] = (w, {"days": c["days"], "user_days": c["user_days"]})
    return out


def _tickets(signals: Signals, cut: datetime, users: Users, sums: Sums) -> list[Series]:
    if not signals.has("tickets"):
        return []
    counts = {f"n_{t}": (nw.col("type") == t).cast(nw.Float64).sum() for t in TYPES}
    # hours as a column first: inside each median's ``when`` DuckDB evaluated Narwhals'
    # portable calendar-part arithmetic once per median (5.5 s of CPU on 5.3 M tickets, 1.7 s
    # as one projected column, which DuckDB's common-subexpression pass also shrinks)
    # the medians hold their values in memory: per set of services where the bound needs it
    lfs = [_weekly(frame, "opened_at", cut)
           .with_columns(_h=hours_between("opened_at", "resolved_at", frame))
           .group_by("service", "wk")
           .agg(**counts, n=nw.len(),
                satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                lost_hours=nw.col("lost_minutes").cast(nw.Float64).sum() / 60.0,
                reopen_share=(nw.col("reopened").cast(nw.Float64) >= 1).cast(nw.Float64).mean(),
                res_incident=nw.when(nw.col("type") == "incident").then(nw.col("_h")).median(),
                res_request=nw.when(nw.col("type") == "request").then(nw.col("_h")).median())
           for frame in signals.each_part("tickets", "service")]
    cols = [*counts, "n", "satisfaction", "lost_hours", "reopen_share", "res_incident",
            "res_request"]
    out: list[Series] = []
    kept = sums.setdefault("tickets", {})
    for (service,), wk, c in _split(lfs, ["service"], cols):
        kept[service] = (wk, {"incidents": c["n_incident"], "questions": c["n_question"]})
        for metric in ("satisfaction", "reopen_share"):
            out.append(_make("service", service, metric, "", wk, c[metric]))
        for t in ("incident", "request"):
            out.append(_make("service", service, "resolution_hours", t, wk, c[f"res_{t}"]))
        if service not in users:
            continue
        uw, uv, days = users[service]
        full = days >= 7                      # a rate on a part week would read as a drop
        uw, uv = uw[full], uv[full]
        pos = np.searchsorted(wk, uw).clip(0, len(wk) - 1)
        hit = wk[pos] == uw
        with np.errstate(divide="ignore", invalid="ignore"):
            lost = np.where(hit, np.nan_to_num(c["lost_hours"][pos]), 0.0) / uv
            out.append(_make("service", service, "lost_hours_per_user", "", uw, lost))
            for t in TYPES:
                rate = np.where(hit, np.nan_to_num(c[f"n_{t}"][pos]), 0.0) / uv
                out.append(_make("service", service, f"{t}s_per_user", "", uw, rate))
    return out


def _costs(signals: Signals, cut: datetime, users: Users) -> list[Series]:
    """Monthly cost held over the weeks whose Monday falls in that month, per weekly user."""
    if not signals.has("costs") or not users:
        return []
    month = nw.col("month").dt.year() * 12 + nw.col("month").dt.month() - 1
    lf = (signals.frame("costs").filter(nw.col("month") < cut).with_columns(m=month)
          .group_by("service", "m").agg(amount=nw.col("amount").cast(nw.Float64).sum()))
    out: list[Series] = []
    for (service,), months, c in _split(lf, ["service"], ["amount"], week="m"):
        if service not in users:
            continue
        uw, uv, _ = users[service]
        days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * uw
        um = days.astype("datetime64[M]").astype(np.int64) + 1970 * 12
        pos = np.searchsorted(months, um).clip(0, len(months) - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(months[pos] == um, c["amount"][pos] / uv, np.nan)
        out.append(_make("service", service, "cost_per_user", "", uw, v))
    return out


def _grouped(signals: Signals, table: str, column: str, cut: datetime, keys: list[str],
             value: str, metric: str) -> list[Series]:
    if not signals.has(table):
        return []
    lf = (_frame(signals, table, column, cut).group_by(*keys, "wk")
          .agg(v=nw.col(value).cast(nw.Float64).mean()))
    return [_make("service", k[0], metric, "/".join(k[1:]), w, c["v"])
            for k, w, c in _split(lf, keys, ["v"])]


def _training(signals: Signals, cut: datetime) -> list[Series]:
    if not signals.has("training"):
        return []
    lf = (_frame(signals, "training", "date", cut).group_by("service", "wk")
          .agg(done=nw.col("completed").cast(nw.Float64).sum(),
               need=nw.col("required").cast(nw.Float64).sum()))
    out = []
    for (service,), wk, c in _split(lf, ["service"], ["done", "need"]):
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(_make("service", service, "training_completion", "", wk,
                             c["done"] / c["need"]))
    return out


def _kpis(signals: Signals, model: ValueModel, cut: datetime) -> list[Series]:
    """KPI actuals per outcome; which way is worse follows the KPI's direction."""
    if not signals.has("kpis"):
        return []
    lf = (_frame(signals, "kpis", "date", cut).group_by("outcome", "wk")
          .agg(v=nw.col("value").cast(nw.Float64).mean()))
    out = []
    for (outcome,), wk, c in _split(lf, ["outcome"], ["v"]):
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
    lf = (_frame(signals, "touchpoints", "date", cut).group_by("journey", "touchpoint", "wk")
          .agg(**aggs))
    out = []
    for (journey, tp), wk, c in _split(lf, ["journey", "touchpoint"], list(aggs)):
        subject = f"{journey}/{tp}"
        if "sat" in c:
            out.append(_make("touchpoint", subject, "touchpoint_satisfaction", "", wk, c["sat"]))
        if "drops" in c:
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = c["drops"] / c["visitors"]
            out.append(_make("touchpoint", subject, "drop_off_rate", "", wk, rate))
    return out


# -- from aggregated rows to series -----------------------------------------------------------

def _split(lf: nw.LazyFrame[Any] | list[nw.LazyFrame[Any]], keys: list[str], cols: list[str],
           week: str = "wk") -> list[tuple[tuple[str, ...], IntArray, dict[str, FloatArray]]]:
    """Collect once (or once per set of keys), sort by key and week, and cut the columns
    into one slice per key."""
    frames = lf if isinstance(lf, list) else [lf]
    got = [arrays(f.sort(*keys, week)) for f in frames]
    columns = {c: np.concatenate([g[c] for g in got]) for c in got[0]}
    if len(got) > 1:   # disjoint sets of keys, each sorted: sorted again as one
        order = np.lexsort([columns[week]] + [columns[k] for k in reversed(keys)])
        columns = {c: v[order] for c, v in columns.items()}
    key_cols = [columns[k] for k in keys]
    weeks = np.asarray(columns[week], dtype=np.int64)
    if len(weeks) == 0:
        return []
    vals = {c: np.asarray(columns[c], dtype=np.float64) for c in cols}
    change = np.zeros(len(weeks), dtype=bool)
    change[0] = True
    for k in key_cols:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(weeks))
    return [(tuple(str(k[a]) for k in key_cols), weeks[a:b], {c: v[a:b] for c, v in vals.items()})
            for a, b in zip(starts, ends, strict=True)]


def _make(kind: str, subject: str, metric: str, part: str, weeks: IntArray,
          values: FloatArray) -> Series:
    ok = np.isfinite(values)
    return Series(SeriesKey(kind, subject, metric, part), weeks[ok].astype(np.int64),
                  values[ok].astype(np.float64), METRICS[metric])
