"""change — an organisational change or release was poorly managed.

Compares the weeks right before each recent change with the weeks right after it: a shift in
incidents, how-to tickets, satisfaction or usage that starts at the change is the change's
evidence. Failed and
uncommunicated changes are reported too, as the usual root of such shifts.

Use has seasons (summer, year-end) and growth that are nobody's change: incidents are counted
per active user of the service (without usage data, against the common rhythm of the services
with the same audience — internal, customer, … — over the same weeks), and use against that
rhythm, so a release in the first week of January is not blamed for the holidays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

import narwhals as nw
import numpy as np
from pydantic import Field

from dipstick.engine import between, collect, epoch_us, keyed
from dipstick.findings import (
    HELD,
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Status,
    Threshold,
    conclude,
    evolve,
    fact,
    sig,
    unknown,
)
from dipstick.indicators import change_sides
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.change_signs import _signs_by_change, corroborated
from dipstick.indicators.common import UseChange, describe, rhythm, shift_evidence, week_of
from dipstick.indicators.confidence import at_most_watch, flipped, is_sign, tested
from dipstick.indicators.stat_arrays import rate_ratio_ps, rate_ratios, welch
from dipstick.indicators.weekly import spans_before, use_changes
from dipstick.model import Service
from dipstick.shifts import CAUSE_SERIES, detect_all
from dipstick.shifts.series import week_index
from dipstick.stats import Test

CAUSE = "change"
ACTION = "Communicate and support the change: explain it, train, and staff the service desk."


class ChangeSpec(Spec):
    change_lookback_days: int = Field(182, ge=14, description="changes considered")
    change_effect_days: int = Field(56, ge=7, description="weeks compared before/after")
    change_min_after_days: int = Field(14, ge=1, description="data needed after a change")
    incident_ratio: Threshold = Field(Threshold(1.3, 1.6),
                                     description="incidents a week, after ÷ before")
    satisfaction_drop: Threshold = Field(Threshold(0.7, 1.2), description="before − after")
    usage_change: Threshold = Field(Threshold(-0.15, -0.25), description="after ÷ before − 1")
    incident_handling_minutes: float = Field(60.0, ge=0, description="time an incident costs")
    change_shift_weeks: int = Field(4, ge=0, description="a shift this soon after is evidence")


@dataclass(frozen=True)
class ChangeMeasures:
    changes: dict[str, list[dict[str, Any]]]            # service → recent changes
    effects: dict[tuple[str, str], dict[str, Any]]      # (change id, side) → stats
    use: dict[tuple[str, int, int], UseChange | None]   # (service, week, after's end) → use
    judged: dict[tuple[str, int], _Judged] = field(default_factory=dict)   # (service, place)


def measure(ctx: CheckContext, spec: ChangeSpec) -> ChangeMeasures | None:
    if not ctx.signals.has("changes"):
        return None
    w = ctx.window
    recent = (ctx.signals.frame("changes")
              .filter(between("date", w.end - timedelta(days=spec.change_lookback_days), w.end))
              .select("id", "service", "date", "kind", "success", "communicated"))
    changes: dict[str, list[dict[str, Any]]] = {}
    for r in collect(recent.sort("date", "id")):   # same-day changes in one order, always
        changes.setdefault(r["service"], []).append(r)
    effects: dict[tuple[str, str], dict[str, Any]] = {}
    span = float(spec.change_effect_days)
    first = w.end - timedelta(days=spec.change_lookback_days)

    def sides(table: str, time: str, aggs: list[nw.Expr]) -> None:
        if not ctx.signals.has(table) or not changes:
            return
        # only rows that can fall within ``span`` days of a recent change reach the join
        # (every change joined with all its service's history cost the large demo ~6 s)
        # each side's microseconds since 1970 before the join, not on each (change, row)
        # pair after it: the portable calendar arithmetic then runs once per row (0.9 M)
        # instead of twice per pair (2.8 M); the minutes are the same integers
        frame = ctx.signals.frame(table)
        rows = frame.filter(
            nw.col(time) >= first - timedelta(days=span + 1), nw.col(time) < w.end
        ).with_columns(_row_us=epoch_us(time, frame))
        lf = (recent.select("id", "service", _changed_us=epoch_us("date", recent))
              .join(rows, on="service")
              .with_columns(_d=nw.col("_row_us") - nw.col("_changed_us"))
              .filter(change_sides.within(nw.col("_d"), spec.change_effect_days))
              .with_columns(side=change_sides.before(nw.col("_d")))
              .group_by("id", "side").agg(*aggs))
        for key, row in keyed(change_sides.named(collect(lf)), "id", "side").items():
            effects.setdefault(key, {}).update(row)

    sides("tickets", "opened_at", [
        nw.col("type").is_in(["incident"]).cast(nw.Float64).sum().alias("incidents"),
        nw.col("type").is_in(["question"]).cast(nw.Float64).sum().alias("questions"),
        nw.col("satisfaction").count().alias("rated"),
        nw.col("satisfaction").cast(nw.Float64).mean().alias("satisfaction"),
        nw.col("satisfaction").cast(nw.Float64).std().alias("satisfaction_sd"),
        nw.col("lost_minutes").cast(nw.Float64).mean().alias("lost_minutes")])
    sides("usage", "date", [nw.col("active_users").cast(nw.Float64).mean().alias("users")])
    if changes:
        _years_before(ctx, recent, effects)
    use = _use_around(ctx, spec, changes)
    # ``assess`` asks for the shifts of the services with recent changes only: those screened
    # alone, not every series of their metrics (a hint: the same answers, ~560 rows fewer)
    detect_all(ctx).expect((sid, CAUSE) for sid in changes)
    return ChangeMeasures(changes, effects, use, _judge(ctx, spec, changes, effects, use))


def _weeks(day: date, after_days: int, spec: ChangeSpec) -> tuple[range, range]:
    """The whole weeks compared before a change on ``day`` and after it (its own left out)."""
    wk = week_of(day)
    return range(wk - spec.change_effect_days // 7, wk), range(wk + 1, wk + max(after_days // 7, 1))


def _after_days(ctx: CheckContext, spec: ChangeSpec, day: date) -> int:
    return min(spec.change_effect_days, (ctx.window.end.date() - day).days)


def _use_around(ctx: CheckContext, spec: ChangeSpec, changes: dict[str, list[dict[str, Any]]]
                ) -> dict[tuple[str, int, int], UseChange | None]:
    """The weekly use around every change assess judges (:func:`use_change`), answered
    together: one by one they were ~0.2 s of the large demo's check."""
    questions: dict[tuple[str, int, int], tuple[str, range, range]] = {}
    for service, cs in changes.items():
        for c in cs:
            day = c["date"].date()
            after_days = _after_days(ctx, spec, day)
            if after_days >= spec.change_min_after_days:
                before, after = _weeks(day, after_days, spec)
                questions[(service, before.stop, after.stop)] = (service, before, after)
    answers = use_changes(detect_all(ctx), rhythm(ctx), list(questions.values()))
    return dict(zip(questions, answers, strict=True))


def _years_before(ctx: CheckContext, recent: nw.LazyFrame[Any],
                  effects: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Per change, the year of whole weeks before its week (``(id, "year")``: incidents,
    how-to tickets, mean daily users, and ``first``: minus the days from the first week with
    tickets to the change), added up from the weekly sums the check's series were built from
    (``ShiftIndex.sums``) — a scan of the tickets and usage per check less (0.6 s of CPU on the
    large demo). Every week added is before the change's, so before the series' cut (the end's
    week), and after the lookback's start less a year. All changes at once
    (:func:`spans_before`: a search and four ``fsum``'s per change were 0.05 s)."""
    sums = detect_all(ctx).sums
    rows = collect(recent.select("id", "service", _week=week_index("date", recent)))
    if not rows:
        return
    services = [r["service"] for r in rows]
    weeks = np.array([int(r["_week"]) for r in rows], dtype=np.int64)
    found, first, t = spans_before(sums.get("tickets", {}), services, weeks)
    used, _, u = spans_before(sums.get("usage", {}), services, weeks)
    incidents, questions = (t[k].tolist() if k in t else [] for k in ("incidents", "questions"))
    user_days, days = (u[k].tolist() if k in u else [] for k in ("user_days", "days"))
    for i, (r, week, start, f, uf) in enumerate(zip(rows, weeks.tolist(), first.tolist(),
                                                      found.tolist(), used.tolist(),
                                                      strict=True)):
        if f:
            effects[(r["id"], "year")] = {
                "incidents": incidents[i], "questions": questions[i],
                "first": -7.0 * (week - start),
                "users": user_days[i] / days[i] if uf and days[i] else None}


def _judge(ctx: CheckContext, spec: ChangeSpec, changes: dict[str, list[dict[str, Any]]],
           effects: dict[tuple[str, str], dict[str, Any]],
           use: dict[tuple[str, int, int], UseChange | None]) -> dict[tuple[str, int], _Judged]:
    """Every change with ``change_min_after_days`` after it, by (service, place among its
    changes): its sides, the use the service had anyway, and its tests — the conditional
    binomial tests of its incidents and how-to tickets (against the weeks and the year
    before) and Welch's on its ratings, for all changes together (:mod:`.stat_arrays`: one
    by one they were a quarter of the cause's CPU)."""
    season = rhythm(ctx)            # once per check (cached)
    found: list[tuple[tuple[str, int], Sides]] = []
    counts: list[Count] = []        # the rate ratios' inputs, and where each goes
    years: list[Count] = []
    to: list[tuple[int, str]] = []
    to_year: list[tuple[int, str]] = []
    ratings: list[tuple[float, float, int, float, float, int]] = []
    rated: list[int] = []
    effect = timedelta(days=spec.change_effect_days)
    for service, cs in changes.items():
        for place, c in enumerate(cs):
            cid, day = c["id"], c["date"].date()
            after_days = _after_days(ctx, spec, day)
            if after_days < spec.change_min_after_days:
                continue
            before, after = effects.get((cid, "before"), {}), effects.get((cid, "after"), {})
            period = f"{day - effect}..{day + timedelta(after_days)}"
            # the audience's rhythm over the same weeks: what the counts would have done anyway
            weeks_before, weeks_after = _weeks(day, after_days, spec)
            wk = weeks_before.stop
            u0, u1 = before.get("users"), after.get("users")
            used = use[(service, wk, weeks_after.stop)]
            slide, slid = _decline(used)
            sliding = bool(u0 and u1 and u1 < u0 and slide and slid <= spec.usage_change.watch)
            if u0 and u1 and sliding:   # (u0, u1 repeated for the type checker)
                # a slide of use the change fell in (a retirement's, past the use watch line
                # within one side) leaves the incidents behind: per active user, use halved
                # read as incidents doubled (orgsim tuning seed 15). Only the audience's season
                # counts as expected then; a smaller wobble is no slide (a bad release's own
                # use drop often looks like one, and its incidents per user are its sign).
                common = max(u1 / u0, season.ratio(service, weeks_before, weeks_after))
                rhythm_note = (f"use moved ×{u1 / u0:.2f}, {slide}: only ×{common:.2f} "
                               "counted as expected")
            elif u0 and u1:     # incidents follow use: the service's own, season and growth
                common = u1 / u0
                rhythm_note = (f"per active user: use moved ×{common:.2f} (counted as expected)"
                               if abs(common - 1) >= 0.02 else "")
            else:               # no usage data: the audience's rhythm over the same weeks
                common = season.ratio(service, weeks_before, weeks_after)
                rhythm_note = (f"the audience's use moved ×{common:.2f} over the same weeks: "
                               "counted as expected" if abs(common - 1) >= 0.02 else "")
            year = effects.get((cid, "year"), {})
            year_days = min(YEAR, -float(year.get("first") or 0.0))
            uy = year.get("users")
            count = _CountRatio(spec.change_effect_days, after_days, common,
                                spec.incident_ratio, period, rhythm_note, year_days,
                                (max(u1 / uy, season.ratio(service, range(wk - 52, wk),
                                                           weeks_after)) if sliding
                                 else u1 / uy) if u1 and uy else 1.0)
            i = len(found)
            found.append(((service, place), (before, after, year, used, slide, count)))
            k0, q0 = before.get("incidents", 0.0), before.get("questions", 0.0)
            for what, ask, k in (("incidents", k0 / (spec.change_effect_days / 7) > 0, k0),
                                 ("questions", q0 > 0, q0)):   # when ``assess`` asks
                if ask:
                    weeks, longer = count.asked(after.get(what, 0.0), k, year.get(what))
                    counts.append(weeks)
                    to.append((i, what))
                    if longer is not None:
                        years.append(longer)
                        to_year.append((i, what))
            if before.get("satisfaction") is not None and after.get("satisfaction") is not None:
                ratings.append((after["satisfaction"],
                                max(after.get("satisfaction_sd") or 0.0, 1.0), after["rated"],
                                before["satisfaction"],
                                max(before.get("satisfaction_sd") or 0.0, 1.0),
                                before["rated"]))
                rated.append(i)
    tests: dict[tuple[int, str], Test | None] = dict(zip(to, rate_ratios(
        *_columns(counts, 4)), strict=True))
    year_tests = dict(zip(to_year, rate_ratio_ps(*_columns(years, 4)), strict=True))
    m1, s1, n1, m0, s0, n0 = _columns(ratings, 6)
    welch_tests = dict(zip(rated, welch(m1, s1, n1, m0, s0, n0, null=0.0,
                                        higher_is_worse=False), strict=True))
    return {key: _Judged(*sides, (tests.get((i, "incidents")), year_tests.get((i, "incidents"))),
                         (tests.get((i, "questions")), year_tests.get((i, "questions"))),
                         i in welch_tests, welch_tests.get(i))
            for i, (key, sides) in enumerate(found)}


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """The columns of ``rows`` (``width`` of them, empty lists without rows)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


YEAR = 364.0   # the longer reference a change's weeks after are also held against


def assess(service: Service, m: ChangeMeasures | None, ctx: CheckContext,
           spec: ChangeSpec) -> Finding:
    if m is None:
        return unknown(service.id, CAUSE, "no changes table", ACTION)
    w = ctx.window
    recent = m.changes.get(service.id, [])
    lookback = f"{(w.end - timedelta(days=spec.change_lookback_days)).date()}..{w.as_of}"
    ev: list[Evidence] = [fact("changes", "Changes in the lookback", float(len(recent)),
                               lookback, Status.OK)]
    leak = LeakEstimate.none("no change with a measurable effect")
    started: date | None = None
    index = detect_all(ctx)
    # only shifts a change's lag can reach (``-7 < lag`` below): after its first change - 7 d
    shifts = [s for s in index.shifts(service.id, CAUSE_SERIES[CAUSE], after=min(
        c["date"].date() for c in recent) - timedelta(days=7)) if s.bad] if recent else []
    signs: set[str] = set()           # the metrics of ev[:checked] that are signs
    checked = 0
    for place, c in enumerate(recent):
        cid, day = c["id"], c["date"].date()
        label = f"{c['kind']} {cid} on {day}"
        for s in shifts:
            lag = (s.date - day).days
            if -7 < lag <= 7 * spec.change_shift_weeks:
                ev.append(shift_evidence(s, Status.WATCH, note=(
                    f"{describe(s)} moved {s.relative_change:+.0%} in the week of {s.date}, "
                    f"{max(lag, 0)} days after {cid} (confidence {s.confidence:.0%})")))
        if c.get("success") is False:
            ev.append(fact(f"failed:{cid}", f"Failed {label}", "failed", str(day), Status.WATCH,
                           note="a failed change"))
        if c.get("communicated") is False and c["kind"] == "organisational":
            ev.append(fact(f"uncommunicated:{cid}", f"Uncommunicated {label}", "not communicated",
                           str(day), Status.WATCH))
        j = m.judged.get((service.id, place))
        if j is None:                   # too few days after it yet
            continue
        before, after, period, count = j.before, j.after, j.ratio.period, j.ratio
        k0, k1 = before.get("incidents", 0.0), after.get("incidents", 0.0)
        used, slide, year = j.used, j.slide, j.year
        per_week_before = k0 / (spec.change_effect_days / 7)
        per_week_after = k1 / (count.after_days / 7) / count.common
        if per_week_before > 0:
            e = count.evidence(f"incident_ratio:{cid}", f"Incidents/week after {label}", k1,
                               k0, "incidents", year.get("incidents"), *j.incidents)
            ev.append(e)
            if e.status in (Status.WATCH, Status.LEAK):
                excess = (per_week_after - per_week_before) * 52 / 12
                lost = after.get("lost_minutes") or 0.0
                each = (lost + spec.incident_handling_minutes) / 60.0
                hours = excess * each
                if hours > leak.hours:
                    # the same formula over the incident ratio's 95 % interval
                    lo_r = e.low if e.low is not None else e.value
                    hi_r = e.high if e.high is not None else e.value
                    span = per_week_before * 52 / 12 * each * ctx.rate

                    def excess_money(r: float | str | None, span: float = span) -> float:
                        return max(0.0, (float(r or 0.0) - 1.0) * span)

                    leak = LeakEstimate(hours * ctx.rate, hours, (
                        f"{sig(excess)} extra incidents a month since {cid} × ({sig(lost)} min "
                        f"lost + {spec.incident_handling_minutes:g} min handling) = "
                        f"{sig(hours)} h × {money(ctx.rate)} {ctx.currency}/h (range: the "
                        "incident ratio's 95 % interval)"),
                        excess_money(lo_r), excess_money(hi_r))
        q0, q1 = before.get("questions", 0.0), after.get("questions", 0.0)
        if q0 > 0:
            # how-to questions per active user, as incidents: people lost after the change
            ev.append(count.evidence(f"question_ratio:{cid}",
                                     f"How-to tickets/week after {label}", q1,
                                     q0, "how-to tickets", year.get("questions"),
                                     *j.questions))
        if j.rated:     # Welch on the ratings: after − before against −watch, lower is worse
            ev.append(tested(f"satisfaction_drop:{cid}", f"Satisfaction drop after {label}",
                             before["satisfaction"] - after["satisfaction"],
                             spec.satisfaction_drop, period, flipped(j.satisfaction),
                             baseline=before["satisfaction"], unit=" pts",
                             sample="rated tickets (sd floored at 1 point)", relative=True))
        if used is not None:
            ma, mb, test, _, _ = used
            e = tested(f"usage_change:{cid}", f"Usage change after {label}", ma / mb - 1,
                       spec.usage_change, period, test, baseline=round(mb, 2),
                       sample="of mean daily users, each week ÷ the audience's rhythm",
                       relative=True)
            if slide:
                e = at_most_watch(e, f"{slide}, not the change's step")
            signs.update(x.metric for x in ev[checked:] if is_sign(x))   # ev only grows
            checked = len(ev)
            harm = not signs.isdisjoint((f"incident_ratio:{cid}", f"question_ratio:{cid}",
                                         f"satisfaction_drop:{cid}"))
            if not harm:
                # use falls for many reasons (a service losing its purpose, a rival); a badly
                # managed change also shows in incidents or satisfaction
                e = at_most_watch(e, "no rise in incidents nor fall in satisfaction after the "
                                     "change: a use drop alone is not blamed on it")
            ev.append(e)
    named = _signs_by_change(ev)      # the same places after corroborated's holding
    ev = corroborated(ev, [c["id"] for c in recent], {
        "incident_ratio": spec.incident_ratio, "question_ratio": spec.incident_ratio,
        "satisfaction_drop": spec.satisfaction_drop,
        "usage_change": spec.usage_change}, named)
    # a change leak started with the change that caused it: the one whose signs are surest
    # (the smallest p among its leaking signs; else among its signs at watch not held there,
    # for confirmation to raise). Not the first: a neighbour's chance sign would date it.

    def surest(ok: Callable[[Evidence], bool]) -> dict[str, Any] | None:
        ps = [(e.p, c["date"]) for c in recent for i in named.get(c["id"], ())
              if ok(e := ev[i]) and e.p is not None]
        if not ps:
            return None
        _, day = min(ps)
        return next(c for c in recent if c["date"] == day)

    first = surest(lambda e: e.status is Status.LEAK) or \
        surest(lambda e: e.status is Status.WATCH and e.score != HELD)
    found = conclude(service.id, CAUSE, ev, leak, ACTION)
    started = first["date"].date() if first else None
    return evolve(found, since=started) if found.status in (Status.LEAK, Status.WATCH) \
        else found


def _decline(used: tuple[float, float, Any, float, float] | None) -> tuple[str | None, float]:
    """Why the use around a change is a slide, not the change's step (None if it is not), and
    how far it slid within one side: use already falling before the change, or still falling
    for weeks after it — a change's step is over within days (orgsim tuning: releases inside
    a retirement's slide were blamed for it)."""
    if used is None:
        return None, 0.0
    ma, mb, _, drift, still = used
    half = (ma / mb - 1) / 2
    if drift <= half < 0:
        return (f"use already fell {drift:+.0%} in the weeks before the change: a decline "
                "under way"), drift
    if still <= half < 0:
        return f"use kept falling {still:+.0%} over the weeks after the change: a decline", still
    return None, 0.0


@dataclass(frozen=True)
class _CountRatio:
    """A count a week after a change ÷ before, with the use the service had anyway (``common``:
    after ÷ before) counted as expected; the conditional binomial test of the two counts.

    The weeks right before a change can be a quiet spell by chance (4 incidents in 8 weeks
    where the year averaged 15): a change then looks as if it tripled incidents. So the weeks
    after are also held against the year before the change (``year_days`` of it with data,
    use ``year_common`` after ÷ over the year), and the rise counts only as sure as the
    weaker of the two tests."""

    before_days: int
    after_days: int
    common: float
    line: Threshold
    period: str
    note: str
    year_days: float = 0.0
    year_common: float = 1.0

    def asked(self, k1: float, k0: float, k_year: float | None
              ) -> tuple[Count, Count | None]:
        """The two tests' counts and exposures (:func:`~dipstick.stats.rate_ratio`): the weeks
        before, and the year before (None where it adds nothing: no count, no longer span)."""
        return ((k1, self.after_days * self.common, k0, self.before_days),
                (k1, self.after_days * self.year_common, k_year, self.year_days)
                if k_year and self.year_days > self.before_days else None)

    def evidence(self, metric: str, label: str, k1: float, k0: float, what: str,
                 k_year: float | None, test: Test | None,
                 longer: tuple[float, float] | None) -> Evidence:
        """The evidence of the tests :meth:`asked` for: ``test`` against the weeks before,
        ``longer`` (only its estimate and p: its interval is not shown) against the year."""
        per_week_before = k0 / (self.before_days / 7)
        per_week_after = k1 / (self.after_days / 7) / self.common
        note = self.note
        if test is not None and longer is not None:
            test = evolve(test, p=max(test.p, longer[1]))
            year_note = (f"against the year before: ×{longer[0]:.2f} ({k1:.0f} vs "
                         f"{k_year:.0f} over {self.year_days:.0f} days)")
            note = f"{note}; {year_note}" if note else year_note
        return tested(metric, label, per_week_after / per_week_before, self.line, self.period,
                      test, baseline=round(per_week_before, 4), unit="×", sample=what,
                      note=note, relative=True)


Count = tuple[float, float, float | None, float]     # k1, t1, k0, t0 of a rate ratio
Tested = tuple[Test | None, tuple[float, float] | None]   # against the weeks, the year before


Sides = tuple[dict[str, Any], dict[str, Any], dict[str, Any], UseChange | None, str | None,
              "_CountRatio"]


class _Judged(NamedTuple):
    """What ``assess`` reads of one change it judges: its sides' measures and the use around
    it, the count ratio's setting, and the tests of its counts and ratings, run in ``measure``
    for all changes at once (:func:`_judge`). A named tuple: ~4,600 made a check."""

    before: dict[str, Any]
    after: dict[str, Any]
    year: dict[str, Any]
    used: UseChange | None
    slide: str | None
    ratio: _CountRatio
    incidents: Tested = (None, None)
    questions: Tested = (None, None)
    rated: bool = False             # a satisfaction on both sides: ``satisfaction`` is its test
    satisfaction: Test | None = None


INDICATOR = Indicator(
    cause=CAUSE,
    title="Change",
    question="Did a change or release shift incidents, satisfaction or usage?",
    action=ACTION,
    spec=ChangeSpec,
    measure=measure,
    assess=assess,
)
