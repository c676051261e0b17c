"""employee_experience's ``measure`` tells the shift index which series its ``assess`` asks
``settled_shift`` about (``common.expect_settled``, session 19): exactly those are screened, so
``SETTLED`` and the services it names must be what ``assess`` reaches."""

from __future__ import annotations

from dipstick.findings import CheckContext
from dipstick.indicators import employee_experience as ee
from dipstick.indicators.registry import split_settings
from dipstick.shifts import detect_all


def test_the_hint_names_the_series_assess_asks_about(ctx: CheckContext) -> None:
    spec = split_settings(ctx.model.settings, ee.EmployeeExperienceSpec)
    index = detect_all(ctx)
    assert not index._found and not index._ready
    m = ee.measure(ctx, spec)
    metrics = {metric for metric, _ in ee.SETTLED}
    hinted = {k for k in index._expected if k.metric in metrics}
    assert hinted
    for s in ctx.model.services:
        ee.assess(s, m, ctx, spec)
    screened = {k for k in [*index._found, *index._ready] if k.metric in metrics}
    # an unexpected question would have screened its whole metric's group with it
    assert screened == hinted
    assert {(k.metric, k.part) for k in hinted} == set(ee.SETTLED)
    # and the services without internal tickets now are not screened at all
    assert len(screened) < sum(k.metric in metrics for k in index.series_by_key)


def test_the_change_hint_names_the_series_assess_asks_about(ctx: CheckContext) -> None:
    """change's ``measure`` hints the shift series of the services with recent changes (the
    only ones its ``assess`` asks about): exactly those are screened, and the findings are
    those of an index whose every series was detected up front."""
    from dipstick.indicators import change as ch
    from dipstick.shifts import CAUSE_SERIES

    spec = split_settings(ctx.model.settings, ch.ChangeSpec)
    index = detect_all(ctx)
    m = ch.measure(ctx, spec)
    assert m is not None and m.changes
    metrics = set(CAUSE_SERIES[ch.CAUSE])
    hinted = {k for k in index._expected if k.metric in metrics}
    assert hinted == {k for sid in m.changes for k in index.keys(sid) if k.metric in metrics}
    got = [ch.assess(s, m, ctx, spec) for s in ctx.model.services]
    screened = {k for k in [*index._found, *index._ready] if k.metric in metrics}
    assert screened == hinted
    assert len(screened) < sum(k.metric in metrics for k in index.series_by_key)
    whole = CheckContext(ctx.model, ctx.signals, ctx.window, ctx.common)
    detect_all(whole).all_shifts()
    m2 = ch.measure(whole, spec)
    assert [ch.assess(s, m2, whole, spec) for s in ctx.model.services] == got
    assert any(e.metric.startswith("shift:") for f in got for e in f.evidence)
