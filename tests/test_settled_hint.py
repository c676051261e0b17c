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
