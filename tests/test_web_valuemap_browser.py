"""The value map readable in chromium at 1,280 px on the demo's 68 services (issue 15): no
two labels of the Sankey overlap, none is cut by the figure's edge, and grouping by
capability or owner (a plain GET form) draws fewer nodes. Playwright drives Debian's chromium
against a real server (tests/browser.py); screenshots in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import ARTIFACTS, TIMEOUT_MS
from webserver import PASSWORD, PreparedDemo, RunningApp, app_on

Box = dict[str, float]


@pytest.fixture(scope="module")
def app(package: Path, web_demo: PreparedDemo, browser: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on a real socket: chromium needs one."""
    with app_on("sqlite", package, tmp_path_factory, web_demo, served=True) as running:
        yield running


@pytest.fixture(scope="module")
def page(browser: Any, app: RunningApp) -> Iterator[Any]:
    """A leader signed in, in a 1,280 px wide window; console errors fail the test."""
    context = browser.new_context(base_url=app.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto("/login")
    tab.fill("input[name=email]", app.users["leader"])
    tab.fill("input[name=password]", PASSWORD)
    tab.click("form[action='/login'] button[type=submit]")
    tab.wait_for_url(re.compile(r"^[^?]*/$"))
    try:
        yield tab
        assert not errors, errors
    finally:
        context.close()


def drawn(page: Any, query: str) -> tuple[list[Box], Box, int]:
    """Open the value map with ``query``; the boxes of its node labels, of the figure, and
    how many nodes it draws."""
    from playwright.sync_api import expect

    page.goto(f"/value-map{query}")
    figure = page.locator("[data-figure='valuemap-sankey'] .main-svg").first
    expect(figure).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator(".sankey .node-label").first).to_be_attached(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9]+", "-", query).strip("-") or "default"
    page.screenshot(path=str(ARTIFACTS / f"value-map-{name}.png"), full_page=True)
    labels = [b for b in page.locator(".sankey .node-label").evaluate_all(
        "els => els.filter(e => e.textContent).map(e => e.getBoundingClientRect().toJSON())")]
    return labels, figure.bounding_box(), page.locator(".sankey .sankey-node").count()


def overlaps(a: Box, b: Box) -> bool:
    return (a["left"] < b["right"] - 0.5 and b["left"] < a["right"] - 0.5
            and a["top"] < b["bottom"] - 0.5 and b["top"] < a["bottom"] - 0.5)


@pytest.mark.parametrize("query", ["", "?group=capability", "?group=owner",
                                   "?group=none&show=leak"])
def test_no_label_overlaps_another_or_leaves_the_figure(page: Any, query: str) -> None:
    labels, figure, nodes = drawn(page, query)
    assert nodes >= 3 and len(labels) == nodes
    page_box = {"left": figure["x"], "top": figure["y"], "right": figure["x"] + figure["width"],
                "bottom": figure["y"] + figure["height"]}
    for box in labels:
        assert box["width"] > 0
        assert (page_box["left"] <= box["left"] and box["right"] <= page_box["right"]
                and page_box["top"] <= box["top"] and box["bottom"] <= page_box["bottom"]), box
    clashes = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:] if overlaps(a, b)]
    assert not clashes, f"{len(clashes)} overlapping label pairs, e.g. {clashes[0]}"


def test_grouping_and_filtering_draw_fewer_nodes(page: Any) -> None:
    every = drawn(page, "?group=none")[2]
    assert drawn(page, "?group=capability")[2] < every
    assert drawn(page, "?group=owner")[2] < every
    assert drawn(page, "?group=none&show=leak")[2] < every
    # the control is a plain GET form: it works without a script
    page.goto("/value-map")
    page.select_option("form#map-options select[name=group]", "owner")
    page.click("form#map-options button[type=submit]")
    page.wait_for_url(re.compile(r"group=owner"))
    assert page.locator("form#map-options select[name=group]").input_value() == "owner"
