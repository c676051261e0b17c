"""What a check judged: the rows and dates of each table in the window and the baseline, and the
as-of date where the data is still complete (issue 14; docs/coverage.md).

A real export is rarely whole at its edges. An export cut at a row limit thins out at its end
(the last weeks hold a few late tickets), and a table that starts two days before the window
offers a "baseline" of two days. Judging either would be a verdict on missing data, so:

- **Complete weeks.** For the volume tables (tickets, usage) a week is complete when its rows
  reach a quarter of the table's usual week: the rows-weighted median week of the two years up
  to it (the week size half of the rows live in; a plain median would be the tail's own when an
  export trails off over more weeks than it is whole). The rule needs a usual week of at least
  ``MIN_WEEK`` rows; below that any week with a row counts (too little data to call a tail
  thin).
- **The default as-of date** is the last date with complete data: from the table with the
  most rows, trailing weeks under a quarter of its usual week are dropped (a partial last week
  is scaled to seven days first).
- **Thin periods.** A period (window or baseline) with under a quarter of its weeks complete is
  too thin: a thin baseline is not used (its rows are left out of the check, so every
  comparison with it is ``unknown``: no baseline), a thin window makes the causes that read
  the table ``unknown``, with the reason.

Per-service volume is not a coverage question: a service whose tickets halve has a signal, not
a gap, and small samples already carry their confidence intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import narwhals as nw

from dipstick.engine import Signals, as_text, collect
from dipstick.findings import (
    Finding,
    LeakEstimate,
    ServiceCoverage,
    Span,
    Status,
    Window,
    evolve,
)
from dipstick.shifts.series import monday, week_index, week_start

THIN = 0.25        # under a quarter of the usual is thin (a week, a period's complete weeks)
MIN_WEEK = 20      # rows in a usual week below which no week is called thin
USUAL_WEEKS = 104  # the weeks up to the last whose rows say what a usual week is
# the tables whose rows are records of a steady flow (a ticket each, a service-day each):
# their row counts say whether a week is complete. Event logs and touchpoint aggregates
# are often samples of some days, judged per case or per visitor: stated, not ruled.
VOLUME = ("tickets", "usage")
DATE = {"tickets": "opened_at", "usage": "date", "costs": "month", "training": "date",
        "changes": "date", "surveys": "date", "kpis": "date", "events": "timestamp",
        "touchpoints": "date"}
# the tables each cause reads, the one that decides whether it can judge first
CAUSE_TABLES: Mapping[str, tuple[str, ...]] = {
    "perception": ("surveys",), "training": ("usage", "tickets", "training"),
    "change": ("changes", "tickets", "usage"), "retirement": ("usage", "costs"),
    "employee_experience": ("tickets",), "customer_experience": ("touchpoints",),
    "alignment": ("kpis",), "flow": ("events",),
}


@dataclass(frozen=True)
class TableCoverage:
    """One table over the whole organisation: what the window and the baseline hold."""

    table: str
    window: Span
    baseline: Span
    window_weeks: tuple[int, int] = (0, 0)     # complete weeks, weeks in the period
    baseline_weeks: tuple[int, int] = (0, 0)
    thin_window: str | None = None             # why the window cannot be judged
    thin_baseline: str | None = None           # why the baseline is not used
    # each service's part of ``window`` and ``baseline`` (a table with a service column), read
    # before any thin baseline was left out: what :func:`judged` states per finding
    services: Mapping[Any, ServiceCoverage] | None = field(default=None, compare=False,
                                                           repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "window": self.window.to_json(),
                "baseline": self.baseline.to_json(),
                "window_weeks_complete": list(self.window_weeks),
                "baseline_weeks_complete": list(self.baseline_weeks),
                "thin_window": self.thin_window, "thin_baseline": self.thin_baseline}


@dataclass(frozen=True)
class AsOf:
    day: date
    reason: str


def _day(v: object) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else None


def weekly(signals: Signals, table: str) -> dict[int, int]:
    """Rows per week (Monday-based week numbers) over the whole organisation."""
    col = DATE[table]
    frame = signals.frame(table)
    rows = collect(frame.filter(~nw.col(col).is_null())
                   .with_columns(wk=week_index(col, frame)).group_by("wk").agg(n=nw.len()))
    return {int(r["wk"]): int(r["n"]) for r in rows}


Weeks = Mapping[str, Mapping[int, int]]


def volume_weeks(signals: Signals) -> dict[str, dict[int, int]]:
    """:func:`weekly` of each volume table: what both :func:`complete_as_of` and
    :func:`tables` judge, read once by a check and handed to both (each read them: ~0.1 s of
    CPU of the large demo's check)."""
    return {t: weekly(signals, t) for t in VOLUME if signals.has(t)}


def complete_as_of(signals: Signals, latest: date | None,
                   volume: Weeks | None = None) -> AsOf | None:
    """The last date with complete data, or None when there is no volume table to say;
    ``volume`` the :func:`volume_weeks` of ``signals`` when already read."""
    tables = [t for t in VOLUME if signals.has(t)]
    if latest is None or not tables:
        return None
    counts = volume_weeks(signals) if volume is None else volume
    table = max(tables, key=lambda t: sum(counts[t].values()))
    weeks = counts[table]
    # the tail is the table's own: later dates of other tables (a survey, an answer) are data
    end = _day(collect(signals.frame(table).select(nw.col(DATE[table]).max().alias("d")))[0]["d"])
    end = min(end or latest, latest)
    last = _week(end)
    days_in_last = end.weekday() + 1
    usual = usual_week(weeks, last)
    if usual < MIN_WEEK:
        return AsOf(latest, f"the last date in the data ({table} are too few to judge where "
                            "they are complete)")
    wk, first = last, min(weeks)
    while wk > first and weeks.get(wk, 0) * (7 / days_in_last if wk == last else 1) \
            < THIN * usual:
        wk -= 1
    if wk == last:
        return AsOf(latest, "the last date in the data")
    day = monday(wk) + timedelta(days=6)
    dropped = sum(weeks.get(w, 0) for w in range(wk + 1, last + 1))
    return AsOf(day, f"the last complete week: after it the {table} thin out to "
                     f"{dropped:,} rows in {last - wk} week(s) up to {end}, under a quarter "
                     f"of the usual {usual:,.0f} a week (an export cut short?); give --as-of "
                     "to choose another date")


def usual_week(weeks: Mapping[int, int], last: int) -> float:
    """The usual week of a table: the rows-weighted median of its weekly counts over the two
    years up to ``last`` — the week size half of its rows live in. A plain median would be
    the tail's own when an export trails off over more weeks than it is whole."""
    counts = sorted(n for w, n in weeks.items() if last - USUAL_WEEKS < w <= last and n)
    half, seen = sum(counts) / 2, 0
    for n in counts:
        seen += n
        if seen >= half:
            return float(n)
    return 0.0


def _week(d: date) -> int:
    return (week_start(d) - monday(0)).days // 7


def tables(signals: Signals, window: Window,
           volume: Weeks | None = None) -> tuple[TableCoverage, ...]:
    """Every table's window and baseline, with the thin-period rule of the volume tables
    (``volume``: their :func:`volume_weeks`, when already read). A table with services is read
    once, grouped by service: its whole spans are its services' added up (whole counts,
    earliest and latest dates: exact), and the groups are kept for :func:`judged`, which read
    the table a second time."""
    counts = volume_weeks(signals) if volume is None else volume
    out = []
    for table in DATE:
        if not signals.has(table):
            continue
        services = (_by_service(signals, table, window) if "service" in signals.columns(table)
                    else None)
        win, base = _spans(signals, table, window) if services is None else _whole(services)
        if table not in VOLUME:
            out.append(TableCoverage(table, win, base, services=services))
            continue
        weeks = counts[table]
        start, mid, end = (_week(window.baseline_start.date()), _week(window.start.date()),
                           _week(window.as_of) + 1)
        ww, bw = _complete(weeks, mid, end), _complete(weeks, start, mid)
        thin_w = thin_b = None
        if ww[0] < THIN * ww[1]:
            thin_w = (f"the window is too thin: {table} complete in {ww[0]} of its {ww[1]} "
                      f"weeks ({win})")
        if bw[0] < THIN * bw[1]:
            thin_b = (f"no baseline: {table} complete in {bw[0]} of its {bw[1]} weeks "
                      f"({base}); comparisons with the past are not judged")
        out.append(TableCoverage(table, win, base, ww, bw, thin_w, thin_b, services))
    return tuple(out)


def _whole(services: Mapping[Any, ServiceCoverage]) -> tuple[Span, Span]:
    """A table's spans from its services' (every row in the periods has one service group)."""
    def total(spans: list[Span]) -> Span:
        firsts = [s.first for s in spans if s.first is not None]
        lasts = [s.last for s in spans if s.last is not None]
        return Span(sum(s.rows for s in spans), min(firsts, default=None),
                    max(lasts, default=None))

    return (total([c.window for c in services.values()]),
            total([c.baseline for c in services.values()]))


def _complete(weeks: Mapping[int, int], a: int, b: int) -> tuple[int, int]:
    """Complete weeks of ``a..b-1`` and how many weeks that is."""
    usual = usual_week(weeks, b - 1) if weeks else 0
    floor = THIN * usual if usual >= MIN_WEEK else 1
    return sum(1 for w in range(a, b) if weeks.get(w, 0) >= floor), b - a


def _spans(signals: Signals, table: str, window: Window) -> tuple[Span, Span]:
    col = DATE[table]
    got = collect(signals.frame(table).select(*_aggs(col, window)))[0]
    return _pair(got)


def _aggs(col: str, window: Window) -> list[nw.Expr]:
    c = nw.col(col)
    periods = {"w": (c >= window.start) & (c < window.end),
               "b": (c >= window.baseline_start) & (c < window.start)}
    out = []
    for k, cond in periods.items():
        out += [nw.when(cond).then(1).otherwise(0).sum().alias(f"{k}_rows"),
                nw.when(cond).then(c).otherwise(None).min().alias(f"{k}_first"),
                nw.when(cond).then(c).otherwise(None).max().alias(f"{k}_last")]
    return out


def _pair(r: Mapping[str, Any]) -> tuple[Span, Span]:
    return tuple(Span(int(r[f"{k}_rows"] or 0), _day(r[f"{k}_first"]), _day(r[f"{k}_last"]))
                 for k in ("w", "b"))  # type: ignore[return-value]


def by_service(signals: Signals, window: Window,
               wanted: Sequence[str]) -> dict[tuple[str, str], ServiceCoverage]:
    """(service, table) → the service's rows of the table in the window and the baseline; one
    grouped query per table."""
    out: dict[tuple[str, str], ServiceCoverage] = {}
    for table in dict.fromkeys(wanted):
        if signals.has(table) and "service" in signals.columns(table):
            out.update({(str(service), table): c
                        for service, c in _by_service(signals, table, window).items()})
    return out


def _by_service(signals: Signals, table: str, window: Window) -> dict[Any, ServiceCoverage]:
    """The service's (None: rows without one) spans of ``table``; the tickets grouped on
    their services' ENUM codes, as stored, and named once a group (0.13 → 0.09 s of CPU on
    the large demo's 5.3 M; not worth it on the 2.2 M usage rows: 0.07 → 0.075 s)."""
    col = DATE[table]
    rows = collect(as_text(signals.frame(table, coded=table == "tickets").filter(
        (nw.col(col) >= window.baseline_start) & (nw.col(col) < window.end))
        .group_by("service").agg(*_aggs(col, window)), "service"))
    return {r["service"]: ServiceCoverage(table, *_pair(r)) for r in rows}


def hide_thin_baselines(signals: Signals, covered: Sequence[TableCoverage],
                        window: Window) -> None:
    """Leave a thin baseline's rows out of the check: an indicator then finds no baseline and
    says so, instead of comparing with two days of data."""
    for c in covered:
        if c.thin_baseline:
            signals.restrict(c.table, DATE[c.table], window.start)


def judged(findings: Sequence[Finding], signals: Signals, window: Window,
           covered: Sequence[TableCoverage]) -> list[Finding]:
    """Each finding with what it judged (its service's rows of the tables its cause reads);
    a cause whose deciding table has a thin window is ``unknown``, with the reason."""
    kept = {c.table: c.services for c in covered
            if c.services is not None and not c.thin_baseline}   # else read as restricted now
    causes = dict.fromkeys(f.cause for f in findings)   # the tables in the order first asked
    wanted = [t for c in causes for t in CAUSE_TABLES.get(c, ()) if t not in kept]
    rows = by_service(signals, window, wanted)
    rows.update({(str(service), t): c for t, services in kept.items()
                 for service, c in services.items()})
    thin = {c.table: c.thin_window for c in covered if c.thin_window}
    # per cause, not per finding (16,000): its tables present, the reason its deciding table
    # is thin; one empty coverage per table for every service without rows (all immutable)
    tables = {c: [t for t in ts if signals.has(t)] for c, ts in CAUSE_TABLES.items()}
    reasons = {c: thin.get(ts[0]) for c, ts in CAUSE_TABLES.items()}
    empty = {t: ServiceCoverage(t, Span(), Span()) for ts in tables.values() for t in ts}
    out = []
    for f in findings:
        cov = tuple(rows.get((f.service, t)) or empty[t] for t in tables.get(f.cause, ()))
        reason = reasons.get(f.cause)
        if reason and f.status.judged:
            f = evolve(f, status=Status.UNKNOWN, score=0.0, summary=reason,
                        leak=LeakEstimate.none("not estimated: " + reason), since=None)
        out.append(evolve(f, coverage=cov))     # 16,000 copies: evolve, not replace
    return out
