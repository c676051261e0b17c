"""Value stream map measures on a worked example with known answers, and `dipstick streams`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dipstick.model import ValueStream
from dipstick.streams import measure_stream

from builder import PackageBuilder
from clirun import dipstick

STEPS = [
    {"name": "Request laptop", "process_minutes": 20, "wait_minutes": 2880,
     "complete_accurate": 0.8, "services": ["itsm"]},
    {"name": "Configure", "process_minutes": 60, "wait_minutes": 1440, "complete_accurate": 0.9},
    {"name": "Hand over", "process_minutes": 30, "wait_minutes": 0, "complete_accurate": 1.0},
]


def test_worked_example() -> None:
    m = measure_stream(ValueStream.model_validate(
        {"id": "onboarding", "name": "Onboarding", "steps": STEPS}))
    assert m.lead_minutes == 20 + 2880 + 60 + 1440 + 30        # 4,430 min
    assert m.process_minutes == 110
    assert m.activity_ratio == pytest.approx(110 / 4430)       # 2.48 %
    assert m.rolled_complete_accurate == pytest.approx(0.8 * 0.9 * 1.0)
    assert m.bottleneck is not None and m.bottleneck.name == "Request laptop"


def test_streams_command(tmp_path: Path) -> None:
    pkg = (PackageBuilder(tmp_path / "pkg").service("itsm").set("value_streams", [
        {"id": "onboarding", "name": "Onboarding", "runs_per_month": 12, "steps": STEPS}])
           .write())
    r = dipstick("streams", pkg, "--format", "json")
    assert r.returncode == 0, r.stderr
    [stream] = json.loads(r.stdout)
    assert stream["lead_minutes"] == 4430 and stream["bottleneck"] == "Request laptop"
    table = dipstick("streams", pkg)
    assert "activity ratio 2.5%" in table.stdout and "rolled %C&A 72%" in table.stdout


def test_streams_on_a_bad_package_is_exit_2(tmp_path: Path) -> None:
    pkg = PackageBuilder(tmp_path / "pkg").service(monthly_cost=-1).write()
    r = dipstick("streams", pkg)
    assert r.returncode == 2 and "monthly_cost" in r.stderr


def test_the_report_draws_each_stream(tmp_path: Path) -> None:
    from dipstick.check import run_check
    from dipstick.package import load_package
    from dipstick.report import render_report

    pkg = (PackageBuilder(tmp_path / "pkg").healthy().service("itsm")
           .set("value_streams", [{"id": "onboarding", "name": "Onboarding", "steps": STEPS}])
           .write())
    package = load_package(pkg)
    try:
        result = run_check(package)
    finally:
        package.close()
    assert [m.id for m in result.streams] == ["onboarding"]
    html = render_report(result)
    assert 'id="streams"' in html and 'id="fig-vsm-1"' in html
    assert "activity ratio 2.5%" in html
