"""Customer journey maps on a worked example with known answers: the measures, the emotion
curve, `dipstick journeys`, the report section and what `customer_experience` reads from them.

As of 2026-11-01 the current window is 2026-08-03..2026-11-01 and the baseline
2025-08-04..2026-08-02. At *checkout* satisfaction fell from 8 to 5 and the drop-off rate rose
from 5 % to 15 %; *search* stayed put; *pay* and the whole *support* journey have no rows.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from dipstick.check import run_check
from dipstick.figures import STATUS_COLOURS, journey_figure
from dipstick.findings import Status
from dipstick.journeys import JourneyMeasures, measure_journeys
from dipstick.package import load_package
from dipstick.report import render_report

from builder import AS_OF, PackageBuilder
from clirun import dipstick

CHECKOUT = [
    (date(2025, 8, 3), 1, 1000, 900),    # the day before the baseline: ignored
    (date(2025, 8, 4), 9, 100, 5),       # baseline
    (date(2026, 1, 10), 8, 200, 10),     # baseline
    (date(2026, 8, 2), 7, 100, 5),       # baseline, its last day
    (date(2026, 8, 3), 6, 200, 30),      # current, its first day
    (date(2026, 9, 10), 5, 100, 20),     # current
    (date(2026, 10, 31), 4, 100, 10),    # current
    (date(2026, 11, 2), 0, 1000, 1000),  # after the as-of date: ignored
]
SEARCH = [(date(2026, 1, 10), 8, 1000, 100), (date(2026, 9, 10), 8, 1000, 100)]


def build(root: Path, *, touchpoints: bool = True) -> Path:
    b = (PackageBuilder(root).healthy()
         .journey("buy", {"Discover": [("search", ["crm"])],
                          "Pay": [("checkout", ["crm"]), ("pay", [])]})
         .journey("support", {"Ask": [("call", [])]}))
    if touchpoints:
        b.touchpoint_rows("buy", "checkout", CHECKOUT).touchpoint_rows("buy", "search", SEARCH)
    return b.write()


def measured(pkg: Path) -> tuple[JourneyMeasures, ...]:
    package = load_package(pkg)
    try:
        return measure_journeys(package.model, package.signals, AS_OF)
    finally:
        package.close()


def test_worked_example(tmp_path: Path) -> None:
    buy, _ = measured(build(tmp_path / "pkg"))
    assert (buy.id, buy.persona, buy.stakeholder_group) == ("buy", "Shopper", "shoppers")
    assert [s.name for s in buy.stages] == ["Discover", "Pay"]
    assert [t.id for t in buy.touchpoints] == ["search", "checkout", "pay"]
    assert (buy.period, buy.baseline_period) == ("2026-08-03..2026-11-01",
                                                 "2025-08-04..2026-08-02")
    search, checkout, _ = buy.touchpoints
    # current: mean of 6, 5, 4; visitors 200 + 100 + 100; drop-offs 30 + 20 + 10
    assert checkout.satisfaction == pytest.approx(5.0)
    assert (checkout.visitors, checkout.drop_offs) == (400, 60)
    assert checkout.drop_off_rate == pytest.approx(60 / 400)
    # baseline: mean of 9, 8, 7; drop-offs (5 + 10 + 5) ÷ visitors (100 + 200 + 100)
    assert checkout.baseline_satisfaction == pytest.approx(8.0)
    assert checkout.baseline_drop_off_rate == pytest.approx(20 / 400)
    assert checkout.satisfaction_drop == pytest.approx(3.0)
    assert checkout.drop_off_growth == pytest.approx(3.0)
    assert checkout.services == ("crm",)
    # the stable touchpoint
    assert search.satisfaction_drop == pytest.approx(0.0)
    assert search.drop_off_growth == pytest.approx(1.0)
    # the monthly series: whole months from 2025-09, the last one to date; August 2026 pools
    # the baseline's last day (7, 100, 5) and the current window's first (6, 200, 30)
    months = [(m.month.isoformat(), m.satisfaction, m.visitors, m.drop_off_rate)
              for m in checkout.months]
    assert months == [("2026-01-01", 8.0, 200, pytest.approx(0.05)),
                      ("2026-08-01", 6.5, 300, pytest.approx(35 / 300)),
                      ("2026-09-01", 5.0, 100, pytest.approx(0.2)),
                      ("2026-10-01", 4.0, 100, pytest.approx(0.1))]


def test_no_data_is_none_never_a_number(tmp_path: Path) -> None:
    buy, support = measured(build(tmp_path / "pkg"))
    pay = buy.touchpoints[2]
    assert pay.current is None and pay.baseline is None and pay.months == ()
    assert (pay.satisfaction, pay.drop_off_rate, pay.satisfaction_drop,
            pay.drop_off_growth, pay.visitors) == (None, None, None, None, None)
    assert buy.has_data and not support.has_data
    [call] = support.to_json()["stages"][0]["touchpoints"]
    assert call["satisfaction"] is None and call["drop_off_rate"] is None
    assert call["months"] == []


def test_without_a_touchpoints_table(tmp_path: Path) -> None:
    js = measured(build(tmp_path / "pkg", touchpoints=False))
    assert [j.id for j in js] == ["buy", "support"]
    assert not any(j.has_data for j in js)
    assert all(t.satisfaction is None and t.drop_off_rate is None
               for j in js for t in j.touchpoints)


def test_customer_experience_reads_the_journey_measures(tmp_path: Path) -> None:
    package = load_package(build(tmp_path / "pkg"))
    try:
        result = run_check(package)
    finally:
        package.close()
    checkout = result.journeys[0].touchpoints[1]
    f = next(v for v in result.verdicts if v.service.id == "crm").finding("customer_experience")
    ev = {e.metric: e for e in f.evidence}
    assert f.status is Status.LEAK
    assert ev["touchpoint_drop:buy/checkout"].value == pytest.approx(checkout.satisfaction_drop)
    assert ev["drop_off_growth:buy/checkout"].value == pytest.approx(checkout.drop_off_growth)
    assert ev["drop_off_growth:buy/checkout"].baseline == pytest.approx(0.05)


def test_emotion_curve(tmp_path: Path) -> None:
    buy, _ = measured(build(tmp_path / "pkg"))
    fig = journey_figure(buy)
    traces = {t.name: t for t in fig.data}
    assert list(traces["satisfaction, now"].y) == [pytest.approx(8.0), pytest.approx(5.0), None]
    assert list(traces["satisfaction, baseline"].y) == [8.0, 8.0, None]
    assert traces["satisfaction, baseline"].line.dash == "dash"
    assert list(traces["drop-off rate, now"].y) == [0.1, 0.15, None]
    assert traces["drop-off rate, now"].yaxis == "y2"
    # checkout is marked: it got worse; search is not
    colours = list(traces["satisfaction, now"].marker.color)
    assert colours[:2] == [STATUS_COLOURS[Status.OK], STATUS_COLOURS[Status.WATCH]]
    # one band per stage, labelled
    assert len(fig.layout.shapes) == 2
    assert [a.text for a in fig.layout.annotations] == ["<b>Discover</b>", "<b>Pay</b>"]
    assert "satisfaction 5.0 (baseline 8.0, -3.0)" in traces["satisfaction, now"].hovertext[1]


def test_journeys_command_json(tmp_path: Path) -> None:
    pkg = build(tmp_path / "pkg")
    r = dipstick("journeys", pkg, "--format", "json")
    assert r.returncode == 0, r.stderr
    buy, support = json.loads(r.stdout)
    checkout = buy["stages"][1]["touchpoints"][0]
    assert checkout["id"] == "checkout"
    assert checkout["satisfaction"] == pytest.approx(5.0)
    assert checkout["baseline_satisfaction"] == pytest.approx(8.0)
    assert checkout["drop_off_rate"] == pytest.approx(0.15)
    assert checkout["baseline_drop_off_rate"] == pytest.approx(0.05)
    assert checkout["months"][0] == {"month": "2026-01", "satisfaction": 8.0,
                                     "visitors": 200.0, "drop_off_rate": 0.05}
    assert buy["window"] == {"current": "2026-08-03..2026-11-01",
                             "baseline": "2025-08-04..2026-08-02"}
    assert support["stages"][0]["touchpoints"][0]["satisfaction"] is None


def test_journeys_command_table(tmp_path: Path) -> None:
    pkg = build(tmp_path / "pkg")
    r = dipstick("journeys", pkg)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if "Checkout" in line)
    for cell in ("5.0", "8.0", "-3.0", "15.0%", "5.0%", "3.00×", "400"):
        assert cell in row.split(), (cell, row)
    assert "Buy (buy) — Shopper · shoppers" in r.stdout
    assert "no touchpoint data for this journey" in r.stdout   # support


def test_journeys_table_prints_names_as_typed(tmp_path: Path) -> None:
    """A stage, journey or persona named like Rich markup was a MarkupError traceback, exit 1."""
    b = (PackageBuilder(tmp_path / "pkg").healthy()
         .journey("buy", {"[/red] Discover": [("search", ["crm"])]}, persona="[b]Shopper"))
    b.model["journeys"][0]["name"] = "Buy [/]"
    r = dipstick("journeys", b.write(), env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert "[/red] Discover" in r.stdout and "Buy [/] (buy) — [b]Shopper" in r.stdout


def test_journeys_on_a_bad_package_is_exit_2(tmp_path: Path) -> None:
    pkg = (PackageBuilder(tmp_path / "pkg").healthy().journey()
           .touchpoint_rows("buy", "nowhere", [(AS_OF, 8, 10, 1)]).write())
    r = dipstick("journeys", pkg)
    assert r.returncode == 2 and "nowhere" in r.stderr


def test_the_report_draws_each_journey_with_data(tmp_path: Path) -> None:
    package = load_package(build(tmp_path / "pkg"))
    try:
        result = run_check(package)
    finally:
        package.close()
    assert [j.id for j in result.journeys] == ["buy", "support"]
    html = render_report(result)
    assert 'id="journeys"' in html and 'href="#journeys"' in html
    assert 'data-journey="buy"' in html and 'id="fig-journey-1"' in html
    assert 'data-journey="support"' not in html    # no data: nothing to draw
    assert "1 of 2 journeys drawn" in html


def test_the_table_marks_a_fall_and_a_rise_in_the_indicators_colours(tmp_path: Path) -> None:
    from rich.console import Console

    from dipstick.cli.journeys import journey_table
    from dipstick.indicators.customer_experience import CustomerExperienceSpec

    buy, _ = measured(build(tmp_path / "pkg"))
    console = Console(record=True, force_terminal=True, color_system="standard", width=200)
    console.print(journey_table(buy, CustomerExperienceSpec()))
    text = console.export_text(styles=True)
    checkout = next(line for line in text.splitlines() if "Checkout" in line)
    # the leak style (bold red): past the customer_experience leak levels
    for cell in ("5.0", "-3.0", "3.00×"):
        assert re.search(rf"\x1b\[1;31m *{re.escape(cell)}\x1b\[0m", checkout), cell
    search = next(line for line in text.splitlines() if "Search" in line)
    assert "\x1b[1;31m" not in search and "\x1b[33m" not in search
