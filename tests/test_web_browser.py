"""End to end in a real browser: Playwright driving Debian's chromium (never a downloaded
browser) against a real server (uvicorn) over SQLite (the web layer has no database-specific
code). Sign in through the form, see the demo portfolio, filter it, open a leaking service
(evidence, trend chart), open the value map (Sankey). Screenshots go to ``test-artifacts/``.
Any console error or uncaught page error fails the test — which also checks that the
Content-Security-Policy lets htmx and plotly.js run.

Without /usr/bin/chromium the tests skip, unless ``DIPSTICK_REQUIRE_BROWSER=1`` (CI) makes that
a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from browser import ARTIFACTS, TIMEOUT_MS
from test_web_roles import app_routes
from webserver import PASSWORD, PreparedDemo, RunningApp, app_on

ORGANISATION = "Northwind Retail (demo)"


@pytest.fixture(scope="module")
def app(package: Path, web_demo: PreparedDemo, browser: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on a real socket: chromium needs one."""
    with app_on("sqlite", package, tmp_path_factory, web_demo, served=True) as running:
        yield running


@dataclass
class Watched:
    """A page whose console errors, uncaught errors and dialogs are recorded."""

    page: Any
    name: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{step}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert not self.errors, "browser console errors:\n" + "\n".join(self.errors)
        assert not self.dialogs, f"dialogs opened (script ran): {self.dialogs}"


@pytest.fixture
def watched(browser: Any, app: RunningApp, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = browser.new_context(base_url=app.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    w = Watched(page, name)

    def on_console(message: Any) -> None:
        if message.type == "error":
            w.errors.append(f"console: {message.text} ({message.location})")

    def on_dialog(dialog: Any) -> None:
        w.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: w.errors.append(f"page error: {error}"))
    page.on("dialog", on_dialog)
    try:
        yield w
        w.assert_clean()
    finally:
        try:
            w.shot("last")   # where the test ended, passed or not
        finally:
            context.close()


def _sign_in(w: Watched, app: RunningApp, role: str = "leader") -> None:
    page = w.page
    page.goto("/")
    page.wait_for_url(re.compile(r"/login"))
    w.shot("1-login")
    page.fill("input[name=email]", app.users[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"^[^?]*/$"))
    page.wait_for_load_state("networkidle")


def _routes() -> set[str]:
    return {path for _, path in app_routes()}


def _leaking_service_ids(page: Any) -> list[str]:
    """The ids of the leaking services listed on the portfolio page, worst first."""
    ids: list[str] = page.eval_on_selector_all(
        "#portfolio tbody tr.leak a[href^='/services/']",
        "links => links.map(a => a.getAttribute('href').split('/')[2])")
    return ids


def test_sign_in_and_see_the_demo_portfolio(watched: Watched, app: RunningApp) -> None:
    from playwright.sync_api import expect

    _sign_in(watched, app)
    page = watched.page
    expect(page.locator("h1")).to_contain_text(ORGANISATION)
    rows = page.locator("#portfolio tbody tr")
    assert rows.count() > 10
    leaking = page.locator("#portfolio tbody tr.leak")
    assert leaking.count() > 0, "the demo portfolio shows no leaking service"
    # the leak lights: one dot per cause per service, some of them red
    assert page.locator("#portfolio td.light .dot.leak").count() > 0
    assert page.locator("#portfolio tbody tr").first.get_attribute("class") == "leak"
    expect(page.locator(".totals .pill.leak")).to_contain_text("leak")
    watched.shot("2-portfolio")


def test_the_portfolio_opens_on_the_largest_leaks_and_fits_1280_px(
        browser: Any, app: RunningApp) -> None:
    """Issue 15: the first screen shows what to act on, and no money needs a sideways scroll."""
    context = browser.new_context(base_url=app.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    w = Watched(context.new_page(), "portfolio-1280")
    try:
        _sign_in(w, app)
        page = w.page
        top = page.locator("#top-leaks")
        box = top.bounding_box()
        assert box is not None and box["y"] < 800, "the largest leaks are below the first screen"
        heatmap = page.locator(".fig.heatmap").bounding_box()
        assert heatmap is not None and heatmap["y"] > box["y"], "the heatmap comes first"
        rows = top.locator("tbody tr")
        assert 0 < rows.count() <= 10
        first = rows.first.locator("td")
        assert first.nth(2).inner_text().strip(), "no root cause"
        assert first.nth(5).inner_text().strip() not in ("", "–"), "no recommended action"
        assert first.nth(6).inner_text().strip() == "–"   # no action yet: a dash
        w.shot("1-first-screen")
        width = page.evaluate("document.documentElement.clientWidth")
        for selector in ("#top-leaks td.money", "#portfolio td.money"):
            cells = page.locator(selector)
            assert cells.count() > 0
            for i in range(min(cells.count(), 30)):
                b = cells.nth(i).bounding_box()
                assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= width, \
                    f"{selector} #{i} is outside the {width} px viewport: {b}"
        for card in page.locator("section.card").all():
            scroll = card.evaluate("e => e.scrollWidth - e.clientWidth")
            assert scroll <= 1, f"{card.get_attribute('id')} scrolls sideways by {scroll} px"
        w.assert_clean()
    finally:
        w.shot("last")
        context.close()


def test_the_pages_name_a_favicon(app: RunningApp) -> None:

    with app.client() as http:
        declared = re.search(r"<link[^>]+rel=\"(shortcut )?icon\"", http.get("/login").text)
        assert declared or http.get("/favicon.ico").status_code == 200, (
            "chromium asks for /favicon.ico and logs its 404 as a console error")


def test_filter_and_search_the_portfolio(watched: Watched, app: RunningApp) -> None:
    """Whatever narrowing the portfolio offers (a search box, filter selects) narrows the table
    to matching services."""
    from playwright.sync_api import expect

    _sign_in(watched, app)
    page = watched.page
    search = page.locator("input[type=search]")
    selects = page.locator("main form select")
    if search.count() == 0 and selects.count() == 0:
        pytest.skip("the portfolio page offers no search box or filter yet")
    before = page.locator("#portfolio tbody tr").count()
    if search.count():
        # the name of the worst service: searching for it keeps it and drops most others
        first = page.locator("#portfolio tbody tr").first
        name = first.locator("td a").first.inner_text().strip()   # the name, not its story
        search.first.fill(name)
        search.first.press("Enter")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#portfolio tbody tr").first).to_contain_text(name, timeout=10_000)
        page.wait_for_function(
            "n => document.querySelectorAll('#portfolio tbody tr').length < n", arg=before)
        watched.shot("3-search")
        search.first.fill("")
        search.first.press("Enter")
        page.wait_for_load_state("networkidle")
    if selects.count():
        select = selects.first
        values = [v for v in select.locator("option").evaluate_all(
            "os => os.map(o => o.value)") if v]
        assert values, "a filter with no choices"
        select.select_option(values[0])
        form = select.locator("xpath=ancestor::form")
        if form.locator("button[type=submit]").count():
            form.locator("button[type=submit]").first.click()
        page.wait_for_load_state("networkidle")
        page.wait_for_function(
            "n => document.querySelectorAll('#portfolio tbody tr').length < n", arg=before)
        watched.shot("4-filter")


def test_open_a_leaking_service_with_its_evidence_and_trend(watched: Watched,
                                                            app: RunningApp) -> None:
    from playwright.sync_api import expect

    if "/services/{service_id}" not in _routes():
        pytest.skip("the service page (/services/{id}) is not built yet")
    _sign_in(watched, app)
    page = watched.page
    ids = _leaking_service_ids(page)
    assert ids, "no leaking service links to its page from the portfolio"
    page.locator(f"#portfolio tbody tr.leak a[href='/services/{ids[0]}']").first.click()
    page.wait_for_url(re.compile(rf"/services/{re.escape(ids[0])}$"))
    page.wait_for_load_state("networkidle")
    main = page.locator("main")
    expect(main).to_contain_text(re.compile("evidence", re.IGNORECASE))
    expect(main.locator(".dot.leak, .pill.leak").first).to_be_visible()
    # a trend drawn by plotly.js from its JSON island
    chart = page.locator("[data-figure] .js-plotly-plot, [data-figure].js-plotly-plot").first
    expect(chart).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("[data-figure] .main-svg").first).to_be_visible()
    watched.shot("5-service")


def test_open_the_value_map(watched: Watched, app: RunningApp) -> None:
    from playwright.sync_api import expect

    if "/value-map" not in _routes():
        pytest.skip("the value map page (/value-map) is not built yet")
    _sign_in(watched, app)
    page = watched.page
    link = page.locator("a[href='/value-map']")
    if link.count():
        link.first.click()
        page.wait_for_url(re.compile(r"/value-map$"))
    else:
        page.goto("/value-map")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-figure] .js-plotly-plot, [data-figure].js-plotly-plot")
           .first).to_be_attached(timeout=TIMEOUT_MS)
    # plotly draws a Sankey's links and nodes in their own layer
    expect(page.locator(".sankey .sankey-link").first).to_be_attached(timeout=TIMEOUT_MS)
    assert page.locator(".sankey .sankey-node").count() > 2
    watched.shot("6-value-map")


@pytest.mark.parametrize("path", ["/streams", "/journeys"])
def test_the_stream_and_journey_pages_draw_their_figures(watched: Watched, app: RunningApp,
                                                         path: str) -> None:
    from playwright.sync_api import expect

    if path not in _routes():
        pytest.skip(f"the {path} page is not built yet")
    _sign_in(watched, app)
    page = watched.page
    page.locator(f"nav a[href='{path}']").first.click()
    page.wait_for_url(re.compile(rf"{path}$"))
    page.wait_for_load_state("networkidle")
    figures = page.locator("[data-figure]")
    assert figures.count() > 0, f"{path} shows no figure"
    expect(page.locator("[data-figure] .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    drawn = page.locator("[data-figure] .js-plotly-plot, [data-figure].js-plotly-plot")
    assert drawn.count() == figures.count(), "a figure was not drawn"
    watched.shot(f"7{path.replace('/', '-')}")


def test_an_admin_runs_a_check_from_the_web_and_follows_its_progress(watched: Watched,
                                                                      app: RunningApp) -> None:
    """Runs → Check now → the job page's progress bar, refreshed by htmx, ends on the stored
    run; the portfolio then shows that run."""
    from playwright.sync_api import expect

    _sign_in(watched, app, "admin")
    page = watched.page
    page.locator("nav a[href='/runs']").first.click()
    page.wait_for_url(re.compile(r"/runs$"))
    watched.shot("8-runs")
    page.select_option("select[name=package]", "configured")
    page.click("#run-a-check button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/jobs/[0-9a-f]{16}$"))
    expect(page.locator("#job progress")).to_be_attached()
    done = page.locator("#job[data-state=done]")
    expect(done).to_be_attached(timeout=180_000)
    expect(done).to_contain_text("Stored as run #")
    run_id = re.search(r"run #(\d+)", done.inner_text())
    assert run_id, done.inner_text()
    watched.shot("9-job-done")
    done.locator("a[href='/']").click()
    page.wait_for_url(re.compile(r"^[^?]*/$"))
    expect(page.locator(".card .muted").first).to_contain_text(f"run #{run_id.group(1)}")
