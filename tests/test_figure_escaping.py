"""Names from data never reach Plotly as markup (issue 17, part B2). Plotly draws a subset of
HTML — links included — in every text of a figure, so a value-stream step called
``<a href="https://evil.example/phish">Session expired …</a>`` once rendered as a live link on
``/streams``, a service page and report.html. Here a package names its service, steps,
event-log activities, stream, journey, stage, touchpoint, outcome, KPI, group and currency in
HTML; every figure of the report and of the web pages is read back from its JSON island and
no string in it may hold a tag other than the few the figures write themselves. Then chromium
draws ``/streams`` and no link to the phishing address exists in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dipstick.check import run_check
from dipstick.package import load_package
from dipstick.report import write_report

from browser import TIMEOUT_MS
from builder import PackageBuilder
from webserver import PASSWORD, RunningApp, running_app, served, signed_in

PHISH = "https://evil.example/phish"
LINK = f'<a href="{PHISH}">Session expired - click to sign in</a>'
SPAN = '<span style="font-size:40px">big</span>'
EVIL = f"{LINK}{SPAN}"
SID = "evil"
#: the only tags the figures write themselves (bold heads, line breaks, formulas in italics)
OURS = {"b", "br", "i", "extra"}
TAG = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)")
ISLAND = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def hostile_package(root: Path) -> Path:
    """A leaking service on a hand-drawn stream and an event-log stream, on a journey, every
    name HTML."""
    b = PackageBuilder(root)
    b.model["organisation"]["currency"] = "<sup>EUR</sup>"
    b.model["stakeholder_groups"][0]["name"] = f"Staff {EVIL}"
    b.model["outcomes"][0]["name"] = f"Sales {EVIL}"
    b.model["outcomes"][0]["kpi"]["name"] = f"Orders {EVIL}"
    b.healthy("crm")
    b.service(SID, name=f"Svc {EVIL}", capability=f"cap {EVIL}", owner="o@example.org",
              consumers=["staff", "shoppers"])
    b.usage(SID).satisfaction_step(SID).surveys(SID)
    b.model["value_streams"] = [
        {"id": "hand", "name": f"Stream {EVIL}", "runs_per_month": 20, "steps": [
            {"name": f"Step {EVIL}", "process_minutes": 30, "wait_minutes": 600,
             "complete_accurate": 0.8, "services": [SID],
             "baseline": {"process_minutes": 30, "wait_minutes": 60}},
            {"name": "Ship", "process_minutes": 10, "wait_minutes": 20, "services": ["crm"]}]},
        {"id": "logged", "name": f"Log {EVIL}", "runs_per_month": 20,
         "event_log": {"process": "orders", "services": [SID]}}]
    events = []
    for case in range(30):
        start = b.as_of - timedelta(days=60 - case)
        for k, activity in enumerate((f"Act {EVIL}", f"Awaiting {SPAN}", f"Act {EVIL}",
                                      "Done")):
            events.append({"case_id": f"C{case}", "activity": activity, "process": "orders",
                           "timestamp": f"{start.isoformat()} {9 + 2 * k:02d}:00:00",
                           "resource": f"team {k % 2}", "service": SID})
    b.rows("events", events)
    b.journey("buy", {f"Stage {EVIL}": [("checkout", [SID]), ("pay", [SID])]})
    journey = b.model["journeys"][0]
    journey["name"], journey["persona"] = f"Buy {EVIL}", f"Shopper {EVIL}"
    for tp in journey["stages"][0]["touchpoints"]:
        tp["name"], tp["channel"] = f"{tp['id']} {EVIL}", f"web {SPAN}"
    for tid in ("checkout", "pay"):
        b.touchpoint_rows("buy", tid, [
            (b.as_of - timedelta(days=d), 8.0 if d > 100 else 5.0, 100, 5 if d > 100 else 20)
            for d in range(1, 400, 7)])
    return b.write()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_package(tmp_path_factory.mktemp("figures-hostile") / "pkg")


@pytest.fixture(scope="module")
def app(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    with running_app(database, package) as running:
        yield running


def islands(page: str) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in ISLAND.findall(page)}


def strings(value: Any) -> Iterator[str]:
    """Every string of a figure Plotly may draw (``meta`` is read by our script and the page's
    template, which escapes it, never drawn)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "meta":
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def foreign_tags(figure: Any) -> list[str]:
    """Strings of the figure holding a tag the figures do not write themselves."""
    return [s for s in strings(figure)
            if any(t.lower() not in OURS for t in TAG.findall(s))]


def assert_escaped(figures: dict[str, Any], where: str) -> None:
    assert figures, f"no figure on {where}"
    for name, figure in figures.items():
        assert not foreign_tags(figure), (where, name, foreign_tags(figure)[:3])


def test_no_name_reaches_a_report_figure_as_markup(package: Path, tmp_path: Path) -> None:
    loaded = load_package(package)
    try:
        result = run_check(loaded)
    finally:
        loaded.close()
    assert result.streams and result.processes and result.journeys
    page = write_report(result, tmp_path / "report.html").read_text()
    figures = islands(page)
    assert_escaped(figures, "report.html")
    drawn = " ".join(s for f in figures.values() for s in strings(f))
    for shown in ("Step &lt;a href", "Act &lt;a href", "Svc &lt;a href", "&lt;sup&gt;EUR"):
        assert shown in drawn, shown               # the names are there, as text


@pytest.mark.parametrize("path", ["/", "/streams", f"/services/{SID}", "/value-map",
                                  "/journeys"])
def test_no_name_reaches_a_page_figure_as_markup(app: RunningApp, path: str) -> None:
    with signed_in(app, "leader") as http:
        page = http.get(path)
        assert page.status_code == 200, page.text[:300]
        assert_escaped(islands(page.text), path)


def test_a_step_named_as_a_link_is_no_link_in_the_browser(app: RunningApp,
                                                           browser: Any) -> None:
    from playwright.sync_api import expect

    with served(app) as live:
        context = browser.new_context(base_url=live.url)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            page.goto("/login")
            page.fill("input[name=email]", app.users["leader"])
            page.fill("input[name=password]", PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(re.compile(r"^[^?]*/$"))
            page.goto("/streams")
            ticks = page.locator("[data-figure] .ytick text")
            expect(ticks.first).to_be_attached()                    # the figures are drawn
            links = page.evaluate(
                """url => Array.from(document.querySelectorAll('[data-figure] a'))
                   .filter(a => [a.getAttribute('href'), a.getAttribute('xlink:href'),
                                 a.getAttributeNS('http://www.w3.org/1999/xlink', 'href')]
                                .some(h => h && h.indexOf(url) >= 0)).length""", PHISH)
            assert links == 0
            expect(ticks.filter(has_text="Step <a href").first).to_be_attached()   # as text
            expect(ticks.filter(has_text="Act <a href").first).to_be_attached()
        finally:
            context.close()
