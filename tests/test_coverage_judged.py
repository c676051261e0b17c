"""``coverage.judged`` works out each cause's tables and thin-window reason once, not per
finding, and shares one empty coverage per table (session 19): its findings must be, field for
field, what the per-finding loop made — on the demo's tables with a thin window, a thin
baseline (read again), kept per-service rows, a cause of no table, services without rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dipstick import coverage
from dipstick.coverage import CAUSE_TABLES, TableCoverage, by_service
from dipstick.engine import Signals
from dipstick.findings import (
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    ServiceCoverage,
    Span,
    Status,
    Window,
    evolve,
)


def _per_finding(findings: Sequence[Finding], signals: Signals, window: Window,
                 covered: Sequence[TableCoverage]) -> list[Finding]:
    """``coverage.judged`` as it was before session 19."""
    kept = {c.table: c.services for c in covered
            if c.services is not None and not c.thin_baseline}
    wanted = [t for f in findings for t in CAUSE_TABLES.get(f.cause, ()) if t not in kept]
    rows = by_service(signals, window, wanted)
    rows.update({(str(service), t): c for t, services in kept.items()
                 for service, c in services.items()})
    thin = {c.table: c.thin_window for c in covered if c.thin_window}
    out = []
    for f in findings:
        tabs = [t for t in CAUSE_TABLES.get(f.cause, ()) if signals.has(t)]
        cov = tuple(rows.get((f.service, t)) or ServiceCoverage(t, Span(), Span()) for t in tabs)
        reason = thin.get(CAUSE_TABLES[f.cause][0]) if f.cause in CAUSE_TABLES else None
        if reason and f.status.judged:
            f = evolve(f, status=Status.UNKNOWN, score=0.0, summary=reason,
                       leak=LeakEstimate.none("not estimated: " + reason), since=None)
        out.append(evolve(f, coverage=cov))
    return out


def test_judged_is_the_per_finding_loop(ctx: CheckContext) -> None:
    covered = coverage.tables(ctx.signals, ctx.window)
    statuses = list(Status)
    ev = (Evidence("m", "l", 1.0, "p", Status.LEAK, 60.0),)
    causes = [*CAUSE_TABLES, "made_up"]
    services = [s.id for s in ctx.model.services] + ["no_such_service"]
    findings = [Finding(sid, cause, statuses[(i + j) % len(statuses)], 10.0 * j, "s", ev,
                        LeakEstimate(5.0, 1.0, "f"))
                for i, sid in enumerate(services) for j, cause in enumerate(causes)]
    by_table = {c.table: c for c in covered}
    assert {"tickets", "usage", "surveys"} <= by_table.keys()
    variants = [
        list(covered),
        # the tickets' and the usage's windows thin (deciding tables of some causes, not the
        # first of others), the usage's and the costs' baselines thin
        [dataclasses.replace(
            c, thin_window="too few rows" if c.table in ("tickets", "usage") else None,
            thin_baseline="two days" if c.table in ("usage", "costs") else None)
         for c in covered],
        # no per-service rows kept: every table read again
        [dataclasses.replace(c, services=None) for c in covered],
        [c for c in covered if c.table != "surveys"],
    ]
    for cov in variants:
        got = coverage.judged(findings, ctx.signals, ctx.window, cov)
        want = _per_finding(findings, ctx.signals, ctx.window, cov)
        assert repr(got) == repr(want)
    empty = [c for f in got for c in f.coverage if not c.window.rows and not c.baseline.rows]
    assert empty and any(f.status is Status.UNKNOWN and f.summary == "too few rows"
                         for f in coverage.judged(findings, ctx.signals, ctx.window,
                                                  variants[1]))
