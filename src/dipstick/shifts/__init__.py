"""Shifts: the change points in every weekly signal, and the date each leak started.

``detect_all(ctx)`` aggregates every signal series once (:mod:`~dipstick.shifts.series`), runs
change-point detection on each (:mod:`~dipstick.shifts.detect`) and returns a
:class:`ShiftIndex` that answers, per service: its shifts, its series (for trend charts) and,
for a leaking cause, ``since`` — the start of the most recent shift in the bad direction of the
series that drive that cause (:data:`CAUSE_SERIES`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

from dipstick.findings import CacheKey, CheckContext
from dipstick.model import ValueModel
from dipstick.shifts.batch import Ready, detect_many, screen, weeks_key
from dipstick.shifts.detect import DEFAULT, Params, Shift, detect, shifts_in, week_date
from dipstick.shifts.segment import MIN_POINTS, Begun, Undated, begin, second, undated
from dipstick.shifts.series import METRICS, Firsts, Series, SeriesKey, Sums, build

__all__ = ["CAUSE_SERIES", "METRICS", "Params", "Series", "SeriesKey", "Shift", "ShiftIndex",
           "build", "detect", "detect_all", "detect_many", "since_for"]

# Which series a cause's leak shows in, most telling first. A cause missing here (flow: its
# value streams are not weekly series) or without data gets no ``since`` from shifts.
CAUSE_SERIES: dict[str, tuple[str, ...]] = {
    "training": ("questions_per_user", "training_completion"),
    "employee_experience": ("satisfaction", "reopen_share", "lost_hours_per_user",
                            "resolution_hours"),
    "retirement": ("users", "cost_per_user"),
    "perception": ("value_score",),
    "customer_experience": ("touchpoint_satisfaction", "drop_off_rate"),
    "change": ("incidents_per_user", "satisfaction"),
    "alignment": ("kpi",),
}
# ``SeriesKey``'s own order (its fields in turn) as a tuple: sorting by it compares in C, not by
# the dataclass's ``__lt__`` (~110,000 comparisons a check)
_order = attrgetter("kind", "subject", "metric", "part")
Keyed = tuple[SeriesKey, Series]
# A staircase of shifts this close together is one leak getting worse, dated by its first step.
CHAIN_WEEKS = 26


def since_for(cause: str, service: str, shifts: Iterable[Shift], as_of: date) -> date | None:
    """When the ``cause`` leak of ``service`` started, from the shifts of the service's series
    (its own, and those of the outcomes and touchpoints it backs); ``None`` if no shift says."""
    found = driver(cause, service, shifts, as_of)
    return found.date if found else None


def driver(cause: str, service: str, shifts: Iterable[Shift], as_of: date) -> Shift | None:
    """The shift behind a leak: per driving series, the most recent bad shift that has not
    been undone since (a staircase of bad shifts counts from its first step); across series,
    the most confident, then the most telling series, then the clearest."""
    wanted = CAUSE_SERIES.get(cause, ())
    by_series: dict[SeriesKey, list[Shift]] = defaultdict(list)
    for s in shifts:
        if s.series_key.metric in wanted and s.date <= as_of and _about(s.series_key, service):
            by_series[s.series_key].append(s)
    best: Shift | None = None
    for key, found in sorted(by_series.items(), key=lambda kv: _order(kv[0])):
        lead = _standing(sorted(found, key=lambda s: s.date))
        if lead is None or (cause == "perception" and "/" in key.part):
            continue
        if best is None or _rank(lead, wanted) > _rank(best, wanted):
            best = lead
    return best


def _rank(s: Shift, wanted: tuple[str, ...]) -> tuple[float, int, float]:
    """Sure shifts first; among them the most telling series (the order of CAUSE_SERIES);
    then the clearest."""
    return (round(s.confidence, 2), -wanted.index(s.series_key.metric), s.size)


def _about(key: SeriesKey, service: str) -> bool:
    return key.kind != "service" or key.subject == service


def _standing(shifts: list[Shift]) -> Shift | None:
    bad = [i for i, s in enumerate(shifts) if s.bad]
    if not bad:
        return None
    i = bad[-1]
    last = shifts[-1].after
    first = shifts[i]
    worse_now = (last > first.before) == first.higher_is_worse and last != first.before
    if not worse_now:
        return None
    while i > 0 and shifts[i - 1].bad and (shifts[i].date - shifts[i - 1].date).days <= \
            7 * CHAIN_WEEKS:
        i -= 1
    lead = shifts[i]
    if i == bad[-1]:
        return lead
    return Shift(lead.series_key, lead.date, lead.before, first.after,
                 (first.after - lead.before) / max(abs(lead.before), 1e-12),
                 max(s.confidence for s in shifts[i:bad[-1] + 1]), lead.higher_is_worse,
                 sum(s.size for s in shifts[i:bad[-1] + 1]))


@dataclass
class ShiftIndex:
    """Every series of one check, and their shifts, looked up by service. Shifts are detected
    on first use per series and kept: a check dates only its leaks, and on 2,000 services
    segmenting all 36,000 series up front would cost several seconds (``all_shifts`` does it).
    The first question about a series screens it with every series of its metric on the same
    weeks (:func:`~dipstick.shifts.batch.screen`: adjusted in one array pass, those that
    cannot shift settled there) — per week pattern, because the series of other weeks are
    often never asked about (on the large demo 937 patterns of ``value_score``, 45 asked); the
    rest are segmented one by one when asked."""

    series_by_key: dict[SeriesKey, Series]
    params: Params = DEFAULT
    links: dict[str, list[SeriesKey]] = field(default_factory=dict)
    # the raw weekly sums the series were made from (``series.build``), for indicators that
    # add up weeks over their own spans
    sums: Sums = field(default_factory=dict)
    firsts: Firsts = field(default_factory=dict)    # each service's earliest row before the cut
    _found: dict[SeriesKey, list[Shift]] = field(default_factory=dict, repr=False)
    _ready: dict[SeriesKey, Ready] = field(default_factory=dict, repr=False)
    _unscreened: dict[str, dict[bytes, list[Keyed]]] = field(default_factory=dict, repr=False)
    _by_metric: dict[str, list[Keyed]] | None = field(default=None, repr=False)
    _sorted: dict[str, list[SeriesKey]] = field(default_factory=dict, repr=False)
    _undated: dict[SeriesKey, Undated] = field(default_factory=dict, repr=False)
    _expected: set[SeriesKey] = field(default_factory=set, repr=False)   # screened by ``expect``

    def shifts_of(self, key: SeriesKey) -> list[Shift]:
        found = self._found.get(key)
        if found is None and key not in self._ready:
            self._screen(key)
            found = self._found.get(key)
        if found is None:
            ready = self._ready.pop(key)
            steps = self._undated.pop(key, None)
            if steps is None:
                steps = undated(ready.values, ready.weeks, self.params, begun=self._begin(ready))
            found = self._found[key] = shifts_in(self.series_by_key[key], ready.weeks,
                                                 ready.values, self.params, found=steps)
        return found

    def _begin(self, ready: Ready) -> Begun:
        """Segmentation's first pass on what the screen handed over (noise, first split,
        the right-hand chain's splits)."""
        return begin(ready.values, ready.weeks, self.params, ready.first, ready.sigma,
                     ready.chain())

    def last_bad(self, key: SeriesKey, since: date) -> Shift | None:
        """``shifts_of(key)[-1]`` if it is bad and dated on or after ``since``, else ``None``
        — without dating the steps (two thirds of segmentation) when the last undated one
        rules that out: dating keeps a step's direction and dates it at most
        :data:`~dipstick.shifts.segment.MIN_POINTS` points after its change point. Indicators
        ask this of every service's series (``settled_shift``); few last shifts are recent.
        Most questions are answered by the screen's bound on the last change point alone
        (:class:`~dipstick.shifts.segment.Begun`, :func:`~dipstick.shifts.batch.last_links`)."""
        shifts = self._found.get(key)   # most questions: one look-up (settled, or quiet)
        if shifts is None:
            ready = self._ready.get(key)
            if ready is None:
                self._screen(key)
                ready = self._ready.get(key)
            if ready is not None and not self._last_may_be_bad(key, ready, since):
                return None
            shifts = self.shifts_of(key)
        last = shifts[-1] if shifts else None
        return last if last is not None and last.bad and last.date >= since else None

    def _last_may_be_bad(self, key: SeriesKey, ready: Ready, since: date) -> bool:
        """False when ``key``'s undated steps (segmented only if the bounds allow a step so
        late) rule out a last shift that is bad and dated on or after ``since``."""
        found = self._undated.get(key)
        if found is None:
            bound, begun = ready.last_cut, None
            if bound is None:
                begun = self._begin(ready)
                bound = begun.last_cut
            if bound < 0 or self._latest(ready, bound) < since:
                return False
            if begun is None:
                begun = self._begin(ready)
            more = second(ready.values, begun, self.params)    # the bound, once more
            if more.last_cut < 0 or self._latest(ready, more.last_cut) < since:
                return False
            found = self._undated[key] = undated(ready.values, ready.weeks, self.params,
                                                 begun=begun, more=more)
        if not found.steps:
            return False
        step = found.steps[-1]
        return (step.after > step.before) == self.series_by_key[key].higher_is_worse and \
            self._latest(ready, found.cuts[-1]) >= since

    @staticmethod
    def _latest(ready: Ready, cut: int) -> date:
        """The latest date dating can give a step whose change point is at ``cut``."""
        return week_date(int(ready.weeks[min(cut + MIN_POINTS, len(ready.weeks) - 1)]))

    def _screen(self, key: SeriesKey) -> None:
        """Screen, once, the series not yet detected of ``key``'s metric and weeks."""
        if self._by_metric is None:          # one pass over every series, not one a metric
            self._by_metric = defaultdict(list)
            for k, s in self.series_by_key.items():
                self._by_metric[k.metric].append((k, s))
        groups = self._unscreened.get(key.metric)
        if groups is None:   # no series of this metric screened yet, so none is detected
            groups = self._unscreened[key.metric] = defaultdict(list)
            for k, s in self._by_metric.get(key.metric, []):
                groups[weeks_key(s)].append((k, s))
        same = groups.pop(weeks_key(self.series_by_key[key]), [])
        if self._expected:
            same = [(k, s) for k, s in same if k not in self._expected]
        self._keep(same)

    def _keep(self, same: list[Keyed]) -> None:
        """Screen series of one metric and weeks together and keep what the screen says."""
        for (k, _), r in zip(same, screen([s for _, s in same], self.params, same_weeks=True),
                             strict=True):
            if r is None:
                self._found[k] = []
            else:
                self._ready[k] = r

    def expect(self, drivers: Iterable[tuple[str, str]]) -> None:
        """Screen together, and only, the series the :meth:`driver` questions ``drivers``
        (service, cause) will read, or a cause's own :meth:`shifts` questions about them. Asked
        one at a time, each would screen every series of its metric on its weeks: on the large
        demo 2,020 ``cost_per_user`` series for the 109 the leaks' dating reads, 6,973
        ``value_score`` for 307."""
        self.expect_series(k for service_id, cause in drivers for k in self.keys(service_id)
                           if k.metric in CAUSE_SERIES.get(cause, ()))

    def expect_series(self, keys: Iterable[SeriesKey]) -> None:
        """Screen together, and only, the series ``keys`` not screened yet: a cause that asks
        about some services' series (``settled_shift`` of the services with tickets) says so
        first, and the rest of their metric is not screened with them (on the large demo ~2,300
        of employee experience's 12,240 rows). The screen is row by row, so the answers are the
        same; a question not expected is screened as before; an unknown key is ignored."""
        todo: dict[tuple[str, bytes], dict[SeriesKey, Series]] = defaultdict(dict)
        for k in keys:
            s = self.series_by_key.get(k)
            if s is not None and k not in self._found and k not in self._ready \
                    and k not in self._expected:
                todo[(k.metric, weeks_key(s))][k] = s
        for same in todo.values():
            self._expected.update(same)
            self._keep(list(same.items()))

    def all_shifts(self) -> dict[SeriesKey, list[Shift]]:
        return {k: self.shifts_of(k) for k in sorted(self.series_by_key)}

    @classmethod
    def of(cls, model: ValueModel, series: Iterable[Series], params: Params = DEFAULT,
           sums: Sums | None = None, firsts: Firsts | None = None) -> ShiftIndex:
        """Index the series (and ``sums``, the weekly sums they were made from) and link
        outcome and touchpoint series to the services that support or back them."""
        by_key = {s.key: s for s in series}
        backers: dict[tuple[str, str], list[str]] = defaultdict(list)
        for o_service in model.services:
            for link in o_service.supports:
                backers[("outcome", link.outcome)].append(o_service.id)
        for j in model.journeys:
            for stage in j.stages:
                for tp in stage.touchpoints:
                    for sid in tp.services:
                        backers[("touchpoint", f"{j.id}/{tp.id}")].append(sid)
        links: dict[str, list[SeriesKey]] = defaultdict(list)
        for key in by_key:
            owners = [key.subject] if key.kind == "service" else backers.get(
                (key.kind, key.subject), [])
            for sid in owners:
                links[sid].append(key)
        return cls(by_key, params, dict(links), sums or {}, firsts or {})

    def keys(self, service_id: str) -> list[SeriesKey]:
        """The service's series keys, sorted once per service (asked ~11,000 times a check)."""
        found = self._sorted.get(service_id)
        if found is None:
            found = self._sorted[service_id] = sorted(self.links.get(service_id, []),
                                                      key=_order)
        return list(found)

    def series(self, service_id: str, metric: str | None = None) -> list[Series]:
        """The service's series (own, and of the outcomes and touchpoints it serves), for
        trend charts; only ``metric``'s when given."""
        return [self.series_by_key[k] for k in self.keys(service_id)
                if metric is None or k.metric == metric]

    def shifts(self, service_id: str, metrics: Collection[str] | None = None,
               after: date | None = None) -> list[Shift]:
        """The shifts in the service's series (only ``metrics``' when given; only those dated
        after ``after`` when given), oldest first. Asking only for the metrics needed keeps
        detection off the other series; ``after`` keeps it off the series the screen's bound
        on their last change point rules out (the change indicator's question)."""
        out = [s for k in self.keys(service_id) if (metrics is None or k.metric in metrics)
               and (after is None or self._may_shift_after(k, after))
               for s in self.shifts_of(k) if after is None or s.date > after]
        return sorted(out, key=lambda s: (s.date, *_order(s.series_key)))

    def _may_shift_after(self, key: SeriesKey, after: date) -> bool:
        """False when ``key``'s series provably has no shift dated after ``after``: dating puts
        every step at most :data:`MIN_POINTS` after its change point, and none is after the
        bound (:class:`~dipstick.shifts.segment.Begun`)."""
        if key not in self._found and key not in self._ready:
            self._screen(key)
        ready = self._ready.get(key)
        if ready is None or ready.last_cut is None:
            return True
        if ready.last_cut < 0 or self._latest(ready, ready.last_cut) <= after:
            return False
        # segmented up to dating (kept for ``shifts_of``, which dates it): the last change
        # point bounds every step's date as the screen's bound does
        found = self._undated.get(key)
        if found is None:
            found = self._undated[key] = undated(ready.values, ready.weeks, self.params,
                                                 begun=self._begin(ready))
        return bool(found.cuts) and self._latest(ready, found.cuts[-1]) > after

    def driver(self, service_id: str, cause: str, as_of: date) -> Shift | None:
        """The shift behind a leak (its series is ``self.series_by_key[shift.series_key]``)."""
        wanted = CAUSE_SERIES.get(cause, ())
        if not wanted:
            return None
        keys = [k for k in self.keys(service_id) if k.metric in wanted and self._may_be_bad(k)]
        found: list[Shift] = []
        for metric in wanted:               # the most telling series first
            best = driver(cause, service_id, found, as_of) if found else None
            for k in keys:
                if k.metric == metric and not (best and self._outranked(k, best, wanted)):
                    found += self.shifts_of(k)
        return driver(cause, service_id, found, as_of)

    def _outranked(self, key: SeriesKey, best: Shift, wanted: tuple[str, ...]) -> bool:
        """True when ``key``'s series, undated (``_may_be_bad`` segmented it), cannot beat
        ``best``, the lead of a more telling series, in :func:`driver`'s ranking — so it need
        not be dated (on the large demo half the leaks' driver series). Its lead's confidence
        is one of its bad shifts', each a bad step's or a merged run's largest, so at most its
        bad steps' largest; a less telling series wins only with a higher rounded confidence.
        Non-finite levels, whose direction dating may not keep, are dated."""
        found = self._undated.get(key)
        if found is None or key in self._found:
            return False                    # dated (or settled) already: costs nothing
        worse = self.series_by_key[key].higher_is_worse
        if not all(math.isfinite(st.after - st.before) for st in found.steps):
            return False
        top = max((st.confidence for st in found.steps if (st.after > st.before) == worse),
                  default=math.inf)
        return round(top, 2) <= round(best.confidence, 2) and \
            wanted.index(key.metric) > wanted.index(best.series_key.metric)

    def _may_be_bad(self, key: SeriesKey) -> bool:
        """False when none of ``key``'s shifts can be bad, read from its undated steps
        (segmented, kept for ``shifts_of``) without dating them: ``driver`` only follows bad
        shifts. Dating keeps each step's levels, and a staircase it merges runs from its first
        step's level to its last's through the shared segment means, so in the steps'
        direction when they are finite (a non-finite level is dated to be sure)."""
        if key not in self._found and key not in self._ready:
            self._screen(key)
        ready = self._ready.get(key)
        if ready is None:
            return True                         # settled: its shifts are at hand
        found = self._undated.get(key)
        if found is None:
            found = self._undated[key] = undated(ready.values, ready.weeks, self.params,
                                                 begun=self._begin(ready))
        worse = self.series_by_key[key].higher_is_worse
        return any((st.after > st.before) == worse or not math.isfinite(st.after - st.before)
                   for st in found.steps)

    def since(self, service_id: str, cause: str, as_of: date) -> date | None:
        found = self.driver(service_id, cause, as_of)
        return found.date if found else None


SHIFTS: CacheKey[ShiftIndex] = CacheKey("shifts")


def detect_all(ctx: CheckContext, params: Params = DEFAULT) -> ShiftIndex:
    """Series for every service, aggregated once per check (cached on the context); shifts
    are detected as they are asked for."""
    return ctx.cache.get(SHIFTS, lambda: _index(ctx, params))


def _index(ctx: CheckContext, params: Params) -> ShiftIndex:
    sums: Sums = {}
    firsts: Firsts = {}
    return ShiftIndex.of(ctx.model, build(ctx.signals, ctx.model, ctx.window.end, sums, firsts),
                         params, sums, firsts)
