"""A stored run's survey pictures come from the measures its check took (not measured a
second time): the same pictures, on the demo organisation and real DuckDB."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from dipstick.check import CheckResult
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators.perception import PerceptionSpec, measure
from dipstick.indicators.registry import split_settings
from dipstick.package import Package
from dipstick.runs import check_package, lights_only, surveys_of
from dipstick.surveys import service_surveys


def test_stored_pictures_use_the_checks_measures(demo_org: Path) -> None:
    seen: dict[str, object] = {}

    def read(package: Package, result: CheckResult) -> None:
        model = package.model
        ctx = CheckContext(model, package.signals, result.window,
                           split_settings(model.settings, CommonSpec))
        seen["again"] = service_surveys(ctx, split_settings(model.settings, PerceptionSpec))
        seen["kept"] = surveys_of(package, result)
        seen["result"] = result
        # and they really are the check's: measures of a year earlier give other pictures
        common = split_settings(model.settings, CommonSpec)
        old = Window(result.window.as_of - timedelta(days=365), common.window_days,
                     common.baseline_days)
        earlier = measure(CheckContext(model, package.signals, old, common),
                          split_settings(model.settings, PerceptionSpec))
        seen["earlier"] = surveys_of(package, dataclasses.replace(result, surveyed=earlier))

    check_package(demo_org, while_open=read)
    result = seen["result"]
    assert isinstance(result, CheckResult) and result.surveyed is not None
    assert seen["kept"] == seen["again"]
    assert seen["earlier"] != seen["kept"]
    assert any(s.groups for s in seen["kept"].values())          # type: ignore[attr-defined]
    assert lights_only(result).surveyed is None                  # not pickled with the run
