"""The leader's loop in chromium on the demo (issue 15): a leak in the check half a year before
the demo's end → an action with an owner → in progress → done a month later → the final check
is stored → the service page and the ledger show the value recovered. Playwright drives
Debian's chromium against a real server (tests/browser.py); screenshots in test-artifacts/."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from dipstick.check import run_check
from dipstick.demo.fixes import early_as_of
from dipstick.digest import latest_summary
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.store.users import create_user
from dipstick.summary.html import render_html
from dipstick.summary.pdf import render_pdf

import shared
from browser import ARTIFACTS, TIMEOUT_MS
from webserver import PASSWORD, SECRET, WebConfig, model_ready, serving

LEADER = "leader@example.org"


@pytest.fixture(scope="module")
def loop_app(web_demo: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[str, str, Path]]:
    """The demo's early check stored alone (as the leader saw it then), served."""
    final = shared.demo_check(shared.session_dir(tmp_path_factory))
    package = load_package(web_demo.package)
    try:
        early = run_check(package, early_as_of(final.as_of))
    finally:
        package.close()
    url = f"sqlite:///{tmp_path_factory.mktemp('loop') / 'app.db'}"
    with Store.open(url) as store:
        store.migrate()
        at = datetime.combine(early.as_of, time(12), tzinfo=UTC)
        store.save_run(early, started_at=at, finished_at=at, command="early")
        create_user(store, LEADER, PASSWORD, "leader", name="Test leader")
    with serving(WebConfig(database=url, secret_key=SECRET, package=web_demo.package),
                 model=True) as base:
        yield base, url, web_demo.package


def test_leak_action_done_value_recovered_on_the_service_page_and_ledger(
        browser: Any, loop_app: tuple[str, str, Path], tmp_path_factory: Any) -> None:
    from playwright.sync_api import expect

    base, url, _ = loop_app
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.goto("/login")
        page.fill("input[name=email]", LEADER)
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(re.compile(r"^[^?]*/$"))

        # a leak: BI's change leaks in the early check, with no action yet
        page.goto("/services/bi")
        form = page.locator("#new-change")
        expect(form).to_be_visible()
        button = form.locator("button[type=submit]")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44, box
        form.locator("input[name=owner]").fill("kim.rossi@northwind.example")
        form.locator("input[name=due]").fill("2026-06-30")
        button.click()
        page.wait_for_url(re.compile(r"/services/bi"))
        action = page.locator("#actions article.action").first
        expect(action.locator(".astatus")).to_have_text("proposed")
        expect(action.locator(".aowner")).to_have_text("kim.rossi@northwind.example")
        aid = (action.get_attribute("id") or "").removeprefix("action-")

        # in progress, then done a month after the check
        page.select_option(f"#status-{aid}", "in progress")
        page.click(f"#action-{aid} button[type=submit]")
        expect(page.locator(f"#action-{aid} .astatus")).to_have_text("in progress")
        page.select_option(f"#status-{aid}", "done")
        page.fill(f"#on-{aid}", "2026-06-01")
        page.click(f"#action-{aid} button[type=submit]")
        expect(page.locator(f"#action-{aid} .astatus")).to_have_text("done")
        expect(page.locator(f"#action-{aid} .recovery")).to_contain_text("Not recovered yet")
        page.screenshot(path=str(ARTIFACTS / "actions-loop-1-done.png"), full_page=True)

        # the final check re-measures the leak after the done date
        final = shared.demo_check(shared.session_dir(tmp_path_factory))
        with Store.open(url) as store:
            at = datetime.combine(final.as_of, time(12), tzinfo=UTC)
            store.save_run(final, started_at=at, finished_at=at, command="final")
            model_ready(store)
        page.goto("/services/bi")   # from /services/bi#actions: a full load, not a jump
        recovered = page.locator(f"#action-{aid} .recovery.recovered")
        expect(recovered).to_contain_text("Value recovered")
        expect(recovered).to_contain_text("32,630 EUR / month")
        expect(recovered).to_contain_text("E0 − E1")       # the formula beside the figure
        page.screenshot(path=str(ARTIFACTS / "actions-loop-2-recovered.png"), full_page=True)

        # the portfolio ledger: recovered in the final check's row, nothing in the early one
        page.click("nav a[href='/ledger']")
        rows = page.locator("table.ledger tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0).locator("td.recovered")).to_have_text("0 EUR")
        expect(rows.nth(1).locator("td.recovered")).to_have_text("32,630 EUR")
        expect(page.locator(f"#ledger-action-{aid}")).to_contain_text("recovered 32,630")
        assert date.fromisoformat(rows.nth(1).locator("td").first.inner_text()) == final.as_of
        page.screenshot(path=str(ARTIFACTS / "actions-loop-3-ledger.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()

    # the one-page summary of the final check, as the digest sends it: HTML and PDF
    with Store.open(url) as store:
        summary = latest_summary(store)
    assert summary.recovered.money == pytest.approx(32630, abs=1)
    html = render_html(summary)
    assert "32,630" in html and "Value recovered" in html
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(summary))).pages)
    assert "32,630" in text and summary.organisation in text

