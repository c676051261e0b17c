"""The check: every indicator over every service for one as-of date, as one result object.

The same :class:`CheckResult` feeds the terminal table, the JSON output, the HTML report and the
app database ("build the data once, render it many ways").
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import narwhals as nw

from dipstick import collector
from dipstick import coverage as coverage_
from dipstick.bounds import date_problem
from dipstick.engine import collect
from dipstick.episodes import ChangeRecord, Episode, changes_by_service
from dipstick.episodes import group as group_episodes
from dipstick.errors import UsageError
from dipstick.findings import (
    CheckContext,
    CommonSpec,
    Finding,
    LeakEstimate,
    ServiceCoverage,
    Status,
    Window,
    evidence_json,
    evolve,
)
from dipstick.indicators.common import describe, shift_evidence, value_streams
from dipstick.indicators.confidence import confirm
from dipstick.indicators.perception import SurveyMeasures
from dipstick.indicators.registry import CAUSES, INDICATORS, split_settings
from dipstick.journeys import JourneyMeasures, journeys_of
from dipstick.model import Service
from dipstick.package import Package
from dipstick.selfassess import fill_unknown, latest
from dipstick.shifts import ShiftIndex, detect_all
from dipstick.streams import StreamMetrics
from dipstick.streams.discover import Discovery

JSON_SCHEMA = "dipstick.check/v1"


def date_leaks(service: Service, findings: Iterable[Finding], index: ShiftIndex,
               as_of: date) -> tuple[Finding, ...]:
    """Give each leaking finding its ``since`` and the shift behind it as evidence. Without a
    shift, a passed end-of-life dates a retirement leak; otherwise ``since`` stays unknown."""
    out = []
    for f in findings:
        if f.status is Status.LEAK and f.since is None:
            shift = index.driver(service.id, f.cause, as_of)
            if shift is not None:
                f = evolve(f, since=shift.date,
                           evidence=(*f.evidence, shift_evidence(shift, f.status)))
            elif f.cause == "retirement" and service.end_of_life and \
                    service.end_of_life <= as_of:
                f = evolve(f, since=service.end_of_life)
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


@dataclass(frozen=True)
class ServiceVerdict:
    """One service's row: a finding per cause, its episodes (one per leak that is a root) and
    the headline light and leak, which follow the roots only."""

    service: Service
    findings: tuple[Finding, ...]
    episodes: tuple[Episode, ...] = ()

    @property
    def status(self) -> Status:
        """The worst judged cause; ``unknown`` only when no cause could be judged (``n/a``
        causes, which cannot apply, are left out like unknown ones)."""
        known = [f.status for f in self.findings if f.status.judged]
        return max(known, key=lambda s: s.rank) if known else Status.UNKNOWN

    @property
    def score(self) -> float:
        return max((f.score for f in self.findings), default=0.0)

    @property
    def leak(self) -> LeakEstimate:
        """The largest single-cause estimate among leaking causes, never their sum: the causes
        look at the same service from different sides and may count the same money twice.
        Symptoms are never leaks (they are counted in their root's estimate)."""
        leaking = self._roots()
        if not leaking:
            return LeakEstimate()
        top = max(leaking, key=lambda f: (f.leak.money, f.leak.hours))
        return top.leak

    @property
    def leak_cause(self) -> str | None:
        leaking = self._roots()
        return max(leaking, key=lambda f: (f.leak.money, f.leak.hours)).cause if leaking else None

    @property
    def since(self) -> date | None:
        """When the service started leaking: the earliest start among its leaking causes."""
        starts = [f.since for f in self._roots() if f.since]
        return min(starts) if starts else None

    def _roots(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.LEAK and f.symptom_of is None]

    def finding(self, cause: str) -> Finding:
        return next(f for f in self.findings if f.cause == cause)


@dataclass(frozen=True)
class CheckResult:
    organisation: str
    currency: str
    hourly_rate: float
    window: Window
    package: str
    verdicts: tuple[ServiceVerdict, ...]
    # the leaking signals week by week, per (service, cause), for trend charts; not in the JSON
    trends: Mapping[tuple[str, str], Trend] = field(default_factory=dict, compare=False)
    # the value stream maps of the package, for their pictures; not in the JSON
    streams: tuple[StreamMetrics, ...] = field(default=(), compare=False)
    # the process maps of the streams discovered from the event log, for the report
    processes: tuple[tuple[StreamMetrics, Discovery], ...] = field(default=(), compare=False)
    # the customer journey maps with their touchpoint measures, for the emotion curves; not in
    # the JSON (``dipstick journeys --format json`` gives them)
    journeys: tuple[JourneyMeasures, ...] = field(default=(), compare=False)
    as_of_reason: str = ""                      # why this as-of date (coverage.py)
    coverage: tuple[coverage_.TableCoverage, ...] = ()   # each table's window and baseline
    # the perception cause's survey measures, which the pages' survey pictures are drawn from
    # (runs.surveys_of): measuring them again cost storing a run 0.75 s; not in the JSON
    surveyed: SurveyMeasures | None = field(default=None, compare=False, repr=False)

    @property
    def as_of(self) -> date:
        return self.window.as_of

    @property
    def leak_money(self) -> float:
        return sum(v.leak.money for v in self.verdicts)

    @property
    def leak_hours(self) -> float:
        return sum(v.leak.hours for v in self.verdicts)

    def count(self, status: Status) -> int:
        return sum(1 for v in self.verdicts if v.status is status)

    @property
    def has_leak(self) -> bool:
        return any(v.status is Status.LEAK for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {**self._head_json(), "services": [_verdict_json(v) for v in self.verdicts]}

    def _head_json(self) -> dict[str, Any]:
        """Everything of :meth:`to_json` but the services, which come last. The lights are
        counted in one pass (a ``count`` per status judged every verdict five times)."""
        lights = Counter(v.status for v in self.verdicts)
        return {
            "schema": JSON_SCHEMA,
            "organisation": self.organisation,
            "currency": self.currency,
            "hourly_rate": self.hourly_rate,
            "as_of": self.as_of.isoformat(),
            "as_of_reason": self.as_of_reason,
            "window": {"current": self.window.period, "baseline": self.window.baseline_period},
            "package": self.package,
            "causes": list(CAUSES),
            "summary": {
                "services": len(self.verdicts),
                **{s.value: lights[s] for s in Status},
                "leak_per_month": {"money": round(self.leak_money, 2),
                                   "hours": round(self.leak_hours, 1)},
            },
            "coverage": [c.to_json() for c in self.coverage],
        }


def json_chunks(result: CheckResult) -> list[str]:
    """The text of ``json.dumps(result.to_json(), default=str, ensure_ascii=False,
    allow_nan=False)`` in pieces, one per service, for the CLI to write one after another.

    Why: the one 41 MB dict of a 2,000-service check and its one 41 MB string cost 1.5 s of
    CPU; each service's dict encoded at once and dropped, with the collector paused (the dicts
    hold no cycles), costs about half. The same encoder and separators make the same bytes.
    Every piece is made before any is returned, so a non-finite number still raises
    ``ValueError`` before anything is printed. The encoder skips its check for cycles (a
    dict of ids per container: ~5 % of the encoding): the dicts are made here, cycle-free.
    A coverage entry's dict is made once per value (24,480 entries, 6,056 values)."""
    encode = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False,
                              check_circular=False).encode
    shown: dict[tuple[Any, ...], dict[str, Any]] = {}
    with collector.paused():
        chunks = [encode(result._head_json())[:-1], ', "services": [']   # the head's "}" cut
        for i, v in enumerate(result.verdicts):
            if i:
                chunks.append(", ")
            chunks.append(encode(_verdict_json(v, shown)))
    chunks.append("]}")
    return chunks


def _verdict_json(v: ServiceVerdict, shown: dict[tuple[Any, ...], dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
    leak = v.leak
    return {
        "id": v.service.id, "name": v.service.name, "owner": v.service.owner,
        "lifecycle": v.service.lifecycle, "status": v.status.value, "score": v.score,
        "leak_per_month": {"money": round(leak.money, 2), "hours": round(leak.hours, 1),
                           "cause": v.leak_cause, "formula": leak.formula,
                           "low": _money(leak.low), "high": _money(leak.high)},
        "since": v.since.isoformat() if v.since else None,
        "causes": {f.cause: finding_json(f, shown) for f in v.findings},
        "episodes": [e.to_json() for e in v.episodes],
    }


def finding_json(f: Finding, shown: dict[tuple[Any, ...], dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """``shown``: coverage dicts already made, by value (:func:`coverage_json`), shared; without
    it a finding's own (``CheckResult.to_json``, whose dicts a caller may change)."""
    made = {} if shown is None else shown
    return {
        "status": f.status.value, "score": f.score, "summary": f.summary,
        "since": f.since.isoformat() if f.since else None,
        "evidence": [evidence_json(e) for e in f.evidence],
        "leak_per_month": {"money": round(f.leak.money, 2), "hours": round(f.leak.hours, 1),
                           "formula": f.leak.formula, "low": _money(f.leak.low),
                           "high": _money(f.leak.high)},
        "action": f.action, "symptom_of": f.symptom_of, "episode": f.episode,
        "coverage": [coverage_json(c, made) for c in f.coverage],
        "basis": f.basis,
    }


def _money(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def coverage_json(c: ServiceCoverage, shown: dict[tuple[Any, ...], dict[str, Any]]
                  ) -> dict[str, Any]:
    """``c.to_json()``, made once per value (``c.value``) in ``shown`` and shared."""
    key = c.value
    made = shown.get(key)
    if made is None:
        made = shown[key] = c.to_json()
    return made


def _changes(ctx: CheckContext) -> dict[str, list[ChangeRecord]]:
    """Every recorded change up to the end of the window, per service: one query for the whole
    portfolio (Narwhals, so it runs on Spark too). No ``changes`` table: no change roots."""
    if not ctx.signals.has("changes"):
        return {}
    lf = (ctx.signals.frame("changes").filter(nw.col("date") < ctx.window.end)
          .select("id", "service", "date", "kind"))
    return changes_by_service(collect(lf))


def run_check(
    package: Package,
    as_of: date | None = None,
    services: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    causes: Iterable[str] | None = None,
) -> CheckResult:
    """Run every registered indicator for ``as_of`` (default: the package's or the latest
    signal date) over the chosen services, worst first. ``causes`` runs only those
    indicators (each verdict then holds only their findings): a test of one cause need not
    pay for all eight."""
    model = package.model
    chosen = list(model.services)
    if services is not None:
        wanted = list(services)
        known = {s.id for s in chosen}
        missing = [s for s in wanted if s not in known]
        if missing:
            raise UsageError(f"unknown service id(s): {', '.join(missing)}")
        chosen = [s for s in chosen if s.id in set(wanted)]
    indicators = INDICATORS
    if causes is not None:
        asked = list(causes)
        unknown = [c for c in asked if c not in {i.cause for i in INDICATORS}]
        if unknown:
            raise UsageError(f"unknown cause(s): {', '.join(unknown)}")
        indicators = tuple(i for i in INDICATORS if i.cause in asked)
    weeks = coverage_.volume_weeks(package.signals)   # the as-of date's and coverage's
    day, why = _as_of(package, as_of, weeks)
    common = split_settings(model.settings, CommonSpec)
    window = Window(day, common.window_days, common.baseline_days)
    try:
        with collector.paused():    # millions of objects, no cycles (dipstick/collector.py)
            return _check(package, chosen, indicators, window, common, why, progress, weeks)
    finally:
        package.signals.unrestrict()


def _as_of(package: Package, given: date | None,
           weeks: coverage_.Weeks | None = None) -> tuple[date, str]:
    """The as-of date and why: given, set in dipstick.yaml, or the last complete date
    (``weeks``: the volume tables' :func:`coverage.volume_weeks`, when already read)."""
    if given is not None:
        why = date_problem(given)
        if why:   # the web's as-of field and the API reach here, not only --as-of
            raise UsageError(f"as of {given.isoformat()}: {why}")
        return given, "given with --as-of"
    if package.model.organisation.as_of is not None:
        return package.model.organisation.as_of, "organisation.as_of in dipstick.yaml"
    found = coverage_.complete_as_of(package.signals, package.latest, weeks)
    if found is not None:
        return found.day, found.reason
    if package.latest is not None:
        return package.latest, "the last date in the data"
    return date.today(), "today: the package has no dated rows"


def _check(package: Package, chosen: list[Service], indicators: tuple[Any, ...], window: Window,
           common: CommonSpec, why: str, progress: Callable[[str], None] | None,
           weeks: coverage_.Weeks) -> CheckResult:
    model = package.model
    day = window.as_of
    covered = coverage_.tables(package.signals, window, weeks)
    coverage_.hide_thin_baselines(package.signals, covered, window)
    ctx = CheckContext(model, package.signals, window, common)
    if progress:
        progress("shifts")
    shifts = detect_all(ctx)
    per_cause: list[list[Finding]] = []
    surveyed = None
    for ind in indicators:
        if progress:
            progress(ind.cause)
        spec = split_settings(model.settings, ind.spec)
        measured = ind.measure(ctx, spec)
        if ind.cause == "perception":
            surveyed = measured
        per_cause.append([ind.assess(s, measured, ctx, spec) for s in chosen])
    # a leak needs confidence too: the check's p-values corrected together (issue 13)
    flat = coverage_.judged(confirm([f for fs in per_cause for f in fs]), package.signals,
                            window, covered)
    per_cause = [flat[i * len(chosen):(i + 1) * len(chosen)] for i in range(len(per_cause))]
    # the leaks' dating and trends ask for their drivers: their series screened in one go
    shifts.expect((s.id, fs[i].cause) for fs in per_cause for i, s in enumerate(chosen)
                  if fs[i].status is Status.LEAK)
    dated = [date_leaks(s, (fs[i] for fs in per_cause), shifts, day)
             for i, s in enumerate(chosen)]
    # one event, one leak: group each service's dated leaks into episodes (episodes.py)
    if progress:
        progress("episodes")
    changes = _changes(ctx)
    verdicts = [ServiceVerdict(s, *group_episodes(found, changes.get(s.id, ())))
                for s, found in zip(chosen, dated, strict=True)]
    # day one: a cause no data could judge takes its self-assessment, marked so; after the
    # episodes, which tie measured leaks to events (docs/self-assessment.md)
    if package.self_assessment:
        assessed = latest(package.self_assessment, day)
        verdicts = [evolve(v, findings=fill_unknown(v.findings, assessed)) for v in verdicts]
    verdicts.sort(key=lambda v: (-v.status.rank, -v.leak.money, -v.score, v.service.id))
    streams = value_streams(ctx)
    trends = {(v.service.id, f.cause): t for v in verdicts for f in v.findings
              if (f.status is Status.LEAK or f.symptom_of)
              and (t := trend_of(shifts, v.service.id, f.cause, day))}
    return CheckResult(model.organisation.name, model.organisation.currency,
                       model.organisation.hourly_rate, window, str(package.path), tuple(verdicts),
                       trends, tuple(ps.metrics for ps in streams),
                       processes=tuple((ps.metrics, ps.discovery) for ps in streams
                                       if ps.discovery),
                       journeys=journeys_of(ctx), as_of_reason=why, coverage=covered,
                       surveyed=surveyed)
