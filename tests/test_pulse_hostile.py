"""HTML in every name a check-in shows (organisation, service, group, comments) stays text on
every pulse page — the campaign list and results, the overdue list, the public form and its
thank-you page — and no script runs in chromium (on SQLite; chromium against a real server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dipstick.package import load_package
from dipstick.pulse import campaigns as repo
from dipstick.store import Store
from test_web_security import EVIL, EVIL_ID, RAW, hostile_package

from shared import session_day
from webserver import PASSWORD, PreparedDemo, RunningApp, pinned, served, signed_in

pytestmark = pytest.mark.clock   # check-ins open and close by "today"


@pytest.fixture(scope="module", autouse=True)
def today(web_demo: PreparedDemo) -> Iterator[date]:
    """The module on a pinned "today" (the check-in is made once for all its tests)."""
    with pinned(session_day()) as day:
        yield day


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_package(tmp_path_factory.mktemp("pulse-hostile") / "hostile")


@pytest.fixture(scope="module")
def checkin(app: RunningApp) -> Iterator[tuple[int, list[str]]]:
    loaded = load_package(app.package)
    with Store.open(app.database) as store:
        c = repo.start_campaign(store, loaded.model, EVIL_ID, created_by="test")
        urls = [f"{app.url}/p/{x.token}"
                for x in repo.add_invitations(store, c, [(None, c.groups[0])] * 6)]
    loaded.close()
    with app.client() as http:
        for i, url in enumerate(urls[:5]):
            page = http.get(url).text
            assert not any(r in page for r in RAW), page
            nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            dims = set(re.findall(r'name="(dim:[^"]+)"', page))
            done = http.post(url, data=dict.fromkeys(dims, "3") | {
                "nonce": nonce, "comment": f"{i} {EVIL}"})
            assert done.status_code == 200 and not any(r in done.text for r in RAW)
    yield c.id, urls


def test_pulse_pages_show_html_as_text(app: RunningApp, checkin: tuple[int, list[str]]) -> None:
    cid, _ = checkin
    with signed_in(app, "admin") as http:
        for path in ("/pulse", f"/pulse/campaigns/{cid}", "/pulse/overdue",
                     f"/services/{EVIL_ID}"):
            page = http.get(path)
            assert page.status_code == 200, path
            leaked = [r for r in RAW if r in page.text]
            assert not leaked, (path, leaked)
        assert "Svc &lt;script&gt;" in http.get(f"/pulse/campaigns/{cid}").text
        doc = http.get(f"/api/pulse/campaigns/{cid}").json()
        assert doc["campaign"]["service_name"] == f"Svc {EVIL}"        # JSON keeps it as data
        assert sorted(doc["groups"][0]["comments"]) == sorted(f"{i} {EVIL}" for i in range(5))


def test_no_script_runs_on_the_pulse_pages(app: RunningApp, checkin: tuple[int, list[str]],
                                           browser: Any) -> None:
    cid, urls = checkin
    dialogs: list[str] = []
    errors: list[str] = []
    with served(app) as live:       # chromium needs a socket
        _no_script_runs(live, cid, [u.replace(app.url, live.url) for u in urls], browser,
                        dialogs, errors)
    assert not dialogs, f"a script from user text ran: {dialogs}"
    assert not errors, errors


def _no_script_runs(app: RunningApp, cid: int, urls: list[str], browser: Any,
                    dialogs: list[str], errors: list[str]) -> None:
    context = browser.new_context(base_url=app.url)
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(urls[5])                           # the public form, no account
        assert "Svc <script>" in page.locator("h1").inner_text()
        page.goto("/login")
        page.fill("input[name=email]", app.users["admin"])
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(re.compile(r"^[^?]*/$"))
        for path in ("/pulse", f"/pulse/campaigns/{cid}", "/pulse/overdue"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
        page.goto(f"/pulse/campaigns/{cid}")
        assert f"0 {EVIL}" in page.locator("ul.comments").inner_text()
    finally:
        context.close()
