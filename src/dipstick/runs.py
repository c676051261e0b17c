"""A check run end to end — load the package, check it, keep it in the history — the one
sequence behind ``dipstick check`` and the web app's "Check now", so both store the same runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from math import copysign
from pathlib import Path
from types import NoneType
from typing import TYPE_CHECKING, Any, TypeVar

from dipstick import collector
from dipstick.check import CheckResult, ServiceVerdict, Trend, run_check
from dipstick.coverage import TableCoverage
from dipstick.episodes import Episode
from dipstick.errors import UsageError
from dipstick.findings import (
    CheckContext,
    CommonSpec,
    Evidence,
    Finding,
    LeakEstimate,
    Status,
    evolve,
)
from dipstick.indicators.common import monthly_costs
from dipstick.indicators.perception import PerceptionSpec
from dipstick.indicators.registry import CAUSES, split_settings
from dipstick.model import Service, ValueModel
from dipstick.package import Package, load_package
from dipstick.package.tables import TABLES
from dipstick.surveys import ServiceSurveys, service_surveys

if TYPE_CHECKING:   # the database layer only where a run is kept (tests/test_startup.py)
    from dipstick.store import Store
    from dipstick.store.audit import Actor

Progress = Callable[[str], None]
C = TypeVar("C")
log = logging.getLogger("dipstick.runs")
ENGINES = ("duckdb", "spark")
# The columns no indicator, context or stored form of a check reads once the package is
# loaded: validated (required, unique) but not copied. A ticket's id is 0.7 s of CPU of the
# typed copy of 5.3 M tickets; the key screen reads it from the file instead.
UNREAD: Mapping[str, frozenset[str]] = {"tickets": frozenset({"id"})}

# one step per signal table loaded, per cause checked, and the store: a progress bar's total
STEPS = len(TABLES) + len(CAUSES) + 1


@dataclass(frozen=True)
class RunContext:
    """What the web pages need of a run beyond its stored rows, read while its package was
    open: the value model, the check's trend series, stream and journey maps (``result``,
    its findings without their evidence: see :func:`lights_only`), the surveys and the run
    costs. Stored with the run (``Store.save_run(extras=…)``), so a page never re-checks."""

    model: ValueModel
    result: CheckResult
    # per service: value scores by group and dimension, check-in recency, latest comments
    surveys: Mapping[str, ServiceSurveys] = field(default_factory=dict)
    # per service: the run cost a month the check's formulas used (costs.csv, else the catalog)
    costs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredContext:
    """A run's context as it is stored: ``context`` without its verdicts (``result.verdicts``
    empty), which the run's own rows hold (``service_results``, ``findings``) and
    :func:`read_context` rebuilds from them — they were 2/3 of the pickle, and copying them
    light then pickling them half of what storing the context cost. Kept here only what the
    rows cannot give back exactly: the outcome KPIs' evidence of the alignment findings
    (``kpis``, by verdict and finding position; the value map reads it) and, whole and light,
    any verdict with a number the database would change (``kept``, by position: SQLite turns
    -0.0 into 0.0 and NaN into NULL) or that is not the model's own service. ``count``: how
    many verdicts, for rows that do not fit to be told apart."""

    context: RunContext
    count: int
    kpis: Mapping[tuple[int, int], tuple[Evidence, ...]] = field(default_factory=dict)
    kept: Mapping[int, ServiceVerdict] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    result: CheckResult
    model: ValueModel
    run_id: int | None = None
    context: RunContext | None = None


def check_package(path: Path, as_of: date | None = None, services: list[str] | None = None,
                  progress: Progress | None = None,
                  while_open: Callable[[Package, CheckResult], None] | None = None,
                  prepare: Callable[[Package], object] | None = None,
                  engine: str = "duckdb") -> Checked:
    """Load and check a package (raises ``PackageError`` with every problem when it is bad).
    ``prepare`` adds to the loaded package before the check (e.g. the stored pulse answers,
    ``dipstick.pulse.feed.feed_stored_answers``); ``while_open`` reads what else the caller
    needs from the package before it is closed. ``engine``: ``duckdb`` (embedded) or
    ``spark`` (the same aggregations as Spark jobs, :mod:`dipstick.engine.spark`)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    step = progress or (lambda _: None)
    package: Package | None = None
    spark = None
    try:
        if engine == "spark":
            from dipstick.engine.spark import session

            step("starting Spark")
            spark = session()
        package = load_package(path, progress=lambda t: step(f"loading {t}"), spark=spark,
                               omit=UNREAD)
        if prepare:
            prepare(package)
        if spark is not None:   # after prepare: what it adds joins the lake's tables
            from dipstick.engine.spark import on_spark

            on_spark(package, spark)
        result = run_check(package, as_of, services or None,
                           progress=lambda c: step(f"indicator {c}"))
        if while_open:
            while_open(package, result)
        return Checked(result, package.model)
    finally:
        if package is not None:
            package.close()


def check_and_store(path: Path, store: Store, command: str, as_of: date | None = None,
                    progress: Progress | None = None,
                    while_open: Callable[[Package, CheckResult], None] | None = None,
                    actor: Actor | None = None) -> Checked:
    """Check a package, with the stored pulse answers, and keep the run (audited as run by
    ``actor``); nothing is stored when the package is bad."""
    from dipstick.store.settle import settle

    started = datetime.now(UTC)
    kept: list[RunContext | None] = []

    def keep(package: Package, result: CheckResult) -> None:
        kept.append(context_if_any(package, result))
        if while_open:
            while_open(package, result)

    checked = check_package(path, as_of, progress=progress, while_open=keep,
                            prepare=lambda p: add_answers(store, p))
    if progress:
        progress("storing the run")
    ctx = kept[0]
    run_id = store.save_run(checked.result, started_at=started, finished_at=datetime.now(UTC),
                            command=command, extras=None if ctx is None else as_stored(ctx),
                            actor=actor)
    settle(store)    # a done action whose leak came back is reopened (docs/actions.md)
    return Checked(checked.result, checked.model, run_id, kept[0])


def context_if_any(package: Package, result: CheckResult) -> RunContext | None:
    """:func:`context_of` for a run about to be stored: a failure here (a bug, an engine that
    cannot read the surveys) is logged and the run stored without it — its pages then re-check
    the package, as for runs stored before — never a lost run."""
    return _if_any(context_of, package, result)


def stored_form_if_any(package: Package, result: CheckResult) -> StoredContext | None:
    """:func:`stored_form`, a failure logged as by :func:`context_if_any` (``dipstick check``:
    the run's context is only stored, never shown)."""
    return _if_any(stored_form, package, result)


def _if_any(build: Callable[[Package, CheckResult], C], package: Package,
            result: CheckResult) -> C | None:
    try:
        return build(package, result)
    except Exception:
        log.exception("the pages' context of the check of %s could not be built; the run is "
                      "stored without it", result.package)
        return None


def context_of(package: Package, result: CheckResult) -> RunContext:
    """The run's context, built from the open package and the check's result: what is
    stored with the run and what a re-check of an older run rebuilds alike. The collector is
    paused meanwhile: the copies made here (18,360 verdicts and findings on the large demo) are
    no cyclic garbage, but their number triggered full collections over the check's whole
    heap (the large demo: 0.43 s of CPU with it running, 0.14 s paused)."""
    with collector.paused():
        light = lights_only(result)
        light = dataclasses.replace(light, trends=_shared_weeks(light.trends))
        return RunContext(package.model, light, surveys_of(package, result),
                          run_costs(package, result))


def stored_form(package: Package, result: CheckResult) -> StoredContext:
    """The run's context as stored (:class:`StoredContext`), straight from the check's result:
    no light copy of its verdicts is made (what ``dipstick check`` stores)."""
    with collector.paused():
        shell = dataclasses.replace(result, verdicts=(), surveyed=None,
                                    trends=_shared_weeks(result.trends))
        ctx = RunContext(package.model, shell, surveys_of(package, result),
                         run_costs(package, result))
        return _stored(ctx, result.verdicts)


def as_stored(ctx: RunContext) -> StoredContext:
    """A context built by :func:`context_of` in the form it is stored."""
    with collector.paused():
        return _stored(dataclasses.replace(ctx, result=dataclasses.replace(
            ctx.result, verdicts=())), ctx.result.verdicts)


def _stored(shell: RunContext, verdicts: Sequence[ServiceVerdict]) -> StoredContext:
    shell = dataclasses.replace(shell, result=dataclasses.replace(
        shell.result, coverage=_without_services(shell.result.coverage)))
    services = {s.id: s for s in shell.model.services}
    leaks: dict[tuple[object, ...], LeakEstimate] = {}
    kpis: dict[tuple[int, int], tuple[Evidence, ...]] = {}
    kept: dict[int, ServiceVerdict] = {}
    for i, v in enumerate(verdicts):
        if not _rows_exact(v, services.get(v.service.id)):
            kept[i] = _light(v, leaks)
            continue
        for j, f in enumerate(v.findings):
            if f.cause == "alignment" and (found := _kpis(f)):
                kpis[i, j] = found
    return StoredContext(shell, len(verdicts), kpis, kept)


def _without_services(covered: Sequence[TableCoverage]) -> tuple[TableCoverage, ...]:
    """Each table's coverage without its per-service part (``TableCoverage.services``): the
    check's own cache for :func:`dipstick.coverage.judged`, which no page reads (a finding's
    coverage is in its row). On the large demo it was 16,320 objects, 1.6 of the 6.5 MB
    pickled and 0.1 s of storing's CPU (issue 16, session 16)."""
    return tuple(c if c.services is None else dataclasses.replace(c, services=None)
                 for c in covered)


def _kpis(f: Finding) -> tuple[Evidence, ...]:
    """The outcome KPIs' evidence of an alignment finding: the value map reads it."""
    return tuple(e for e in f.evidence if e.metric.startswith("kpi:"))


def _rows_exact(v: ServiceVerdict, service: Service | None) -> bool:
    """Whether the verdict read back from its stored rows (:func:`_rebuilt`) is ``v`` made
    light, value for value: every number a float (an int would come back a float), none NaN
    or -0.0 (SQLite stores NULL and 0.0), days dates, each finding the verdict's service's and
    the service the model's."""
    if service is None or (v.service is not service and v.service != service):
        return False
    sid = service.id
    for f in v.findings:
        leak = f.leak
        for x in (f.score, leak.money, leak.hours, leak.low, leak.high):
            if type(x) is float:
                if x != x or (not x and copysign(1.0, x) < 0):
                    return False
            elif x is not None:
                return False
        if f.service != sid or type(f.since) not in _DAYS:
            return False
    return all(type(e.since) in _DAYS for e in v.episodes)


_DAYS = (date, NoneType)


def read_context(store: Store, run_id: int) -> RunContext | None:
    """The context stored with a run, its verdicts rebuilt from the run's rows; ``None`` when
    the run has none (stored before migration 0011, or by another version) or its rows do
    not fit it (logged). A context stored whole (before :class:`StoredContext`) is read as
    it is."""
    stored = store.load_extras(run_id)
    if isinstance(stored, RunContext):
        return stored
    if not isinstance(stored, StoredContext):
        return None
    services, findings = store.load_lights(run_id)
    try:
        with collector.paused():
            return _rebuilt(stored, services, findings)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        log.exception("the stored context of run %s does not fit its rows: re-checking "
                      "instead", run_id)
        return None


_STATUS = {s.value: s for s in Status}


def _rebuilt(stored: StoredContext, services: Sequence[Sequence[Any]],
             findings: Sequence[Sequence[Any]]) -> RunContext:
    """The context with its light verdicts made again from the stored rows
    (``Store.load_lights``), equal to what :func:`lights_only` made of them. Each finding is
    made as :func:`~dipstick.findings.evolve` makes a copy (16,320 on the large demo); equal
    leak estimates are one object, as in :func:`_one_leak` (no -0.0 here: see
    :func:`_rows_exact`)."""
    ctx, kpis, kept = stored.context, stored.kpis, stored.kept
    if len(services) != stored.count:
        raise ValueError(f"{len(services)} services stored, {stored.count} in the context")
    model = {s.id: s for s in ctx.model.services}
    leaks: dict[tuple[Any, ...], LeakEstimate] = {}
    made: list[list[Finding]] = [[] for _ in services]
    for (i, cause, status, score, summary, money, hours, formula, low, high, action, since,
         symptom_of, episode, basis) in findings:
        if i in kept:
            continue
        key = (money, hours, formula, low, high)
        leak = leaks.get(key)
        if leak is None:
            leak = leaks[key] = LeakEstimate(money, hours, formula, low, high)
        done = made[i]
        f = object.__new__(Finding)
        f.__dict__.update(service=services[i][0], cause=cause, status=_STATUS[status],
                          score=score, summary=summary, evidence=kpis.get((i, len(done)), ()),
                          leak=leak, action=action, since=since, symptom_of=symptom_of,
                          episode=episode, coverage=(), basis=basis)
        done.append(f)
    verdicts = tuple(kept[i] if i in kept else
                     ServiceVerdict(model[sid], tuple(made[i]), tuple(map(_episode, episodes)))
                     for i, (sid, episodes) in enumerate(services))
    return dataclasses.replace(ctx, result=dataclasses.replace(ctx.result, verdicts=verdicts))


def _episode(e: Mapping[str, Any]) -> Episode:
    """``Episode.to_json`` read back."""
    since = e["since"]
    return Episode(e["root"], None if since is None else date.fromisoformat(since),
                   e["change"], tuple(e["symptoms"]), e["story"])


def _shared_weeks(trends: Mapping[tuple[str, str], Trend]) -> dict[tuple[str, str], Trend]:
    """The trends with equal week axes (and equal days in them) made one object: the large
    demo's 423 trends hold 57,499 dates of 157 values on 37 distinct axes, and pickle writes
    an object once however often it is referenced (pickling the context 0.22 → 0.16 s).
    Equal values, so the context compares equal to one built without sharing."""
    axes: dict[tuple[date, ...], tuple[date, ...]] = {}
    days: dict[date, date] = {}

    def shared(weeks: tuple[date, ...]) -> tuple[date, ...]:
        found = axes.get(weeks)
        if found is None:
            found = axes[weeks] = tuple(days.setdefault(d, d) for d in weeks)
        return found

    return {key: evolve(t, weeks=shared(t.weeks)) for key, t in trends.items()}


def lights_only(result: CheckResult) -> CheckResult:
    """The result with each finding's evidence and coverage left out — they are in the stored
    findings, and they are nine in ten of the result's objects (23 MB of 34 for 2,040
    services) — except the alignment evidence of outcome KPIs (``kpi:<outcome>``), which the
    value map reads from the result. Equal leak estimates are made one object (see
    :func:`_one_leak`)."""
    leaks: dict[tuple[object, ...], LeakEstimate] = {}
    return dataclasses.replace(result, verdicts=tuple(_light(v, leaks) for v in result.verdicts),
                               surveyed=None)


def _light(v: ServiceVerdict, leaks: dict[tuple[object, ...], LeakEstimate]
           ) -> ServiceVerdict:   # 18,000 copies: evolve, not replace
    return evolve(v, findings=tuple(_light_finding(f, leaks) for f in v.findings))


def _light_finding(f: Finding, leaks: dict[tuple[object, ...], LeakEstimate]) -> Finding:
    return evolve(f, evidence=_kpis(f) if f.cause == "alignment" else (), coverage=(),
                  leak=_one_leak(f.leak, leaks))


def _one_leak(leak: LeakEstimate, leaks: dict[tuple[object, ...], LeakEstimate]
              ) -> LeakEstimate:
    """The first leak estimate equal to this one, as pickle writes an object once however often
    it is referenced: the large demo's 16,320 findings hold 577 distinct estimates (mostly
    "nothing counted while the cause is ok"), and sharing them cut pickling the context
    0.26 → 0.21 s and reading it back 0.24 → 0.15 s. Equal values only: the sign of each
    number is in the key, so a -0.0 is never replaced by a 0.0 (they compare equal)."""
    low, high = leak.low, leak.high
    key = (leak, copysign(1.0, leak.money), copysign(1.0, leak.hours),
           low if low is None else copysign(1.0, low),
           high if high is None else copysign(1.0, high))
    return leaks.setdefault(key, leak)


def _check_context(package: Package, result: CheckResult) -> CheckContext:
    model = package.model
    return CheckContext(model, package.signals, result.window,
                        split_settings(model.settings, CommonSpec))


def surveys_of(package: Package, result: CheckResult) -> dict[str, ServiceSurveys]:
    """The surveys as the check saw them: same window and settings as its perception cause."""
    return service_surveys(_check_context(package, result),
                           split_settings(package.model.settings, PerceptionSpec),
                           result.surveyed)


def run_costs(package: Package, result: CheckResult) -> dict[str, float]:
    """Each service's run cost a month read the way the check's formulas read it (same
    function, same window), so a page showing a cost shows the one the leak was priced with."""
    return monthly_costs(_check_context(package, result))


def add_answers(store: Store, package: Package) -> int:
    """The stored pulse answers of the package's organisation joined to its surveys, and its
    self-assessments given on the web to the package's own (the ``prepare`` step of a check
    run where the app database is already open)."""
    from dipstick.pulse.feed import answers_as_surveys, merge_surveys
    from dipstick.store.selfassess import add_stored_answers

    model = package.model
    return (merge_surveys(package, answers_as_surveys(store, model.organisation.name, model))
            + add_stored_answers(store, package))
