"""The self-assessment on the web, over a real SQLite app database holding a check of a day-one
organisation (no signal table; the owners' answers in the package): the portfolio and the
service page mark the self-assessed lights, owners answer for their own services only, answers
posted on the web count at the next check ("Check now"), and the form works in chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dipstick.selfassess import QUESTIONNAIRE
from dipstick.store import Store
from dipstick.store.selfassess import stored_answers

from browser import ARTIFACTS, TIMEOUT_MS, chromium
from test_selfassess import day_one
from test_web_runs import wait_for
from webserver import PASSWORD, RunningApp, csrf_of, running_app, served, signed_in


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    root = day_one(tmp_path_factory.mktemp("dayone"))
    database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    with running_app(database, root) as running:
        assert running.owned == ("crm",)
        yield running


def row(http: httpx.Client, sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in http.get("/api/portfolio").json()["services"]
                                 if s["id"] == sid)
    return found


def check_now(admin: httpx.Client) -> None:
    """The web's re-check of the configured package, followed to its end."""
    token = csrf_of(admin.get("/runs").text)
    job = admin.post("/api/runs", json={"package": "configured"},
                     headers={"X-CSRF-Token": token})
    assert job.status_code == 202, job.text
    assert wait_for(admin, job.json()["id"])["state"] == "done"


def answer_all(cause: str, value: int) -> dict[str, str]:
    return {f"q:{cause}:{q.id}": str(value) for q in QUESTIONNAIRE[cause]}


def test_the_portfolio_and_service_page_mark_self_assessed_lights(app: RunningApp) -> None:
    with signed_in(app, "viewer") as http:
        crm = row(http, "crm")
        assert crm["status"] == "leak"
        assert crm["self_assessed"] == ["perception", "training"]
        assert row(http, "hr")["self_assessed"] == []
        page = http.get("/").text
        assert 'id="legend-basis"' in page and "self-assessed" in page
        assert 'aria-label="training: leak (self-assessed)"' in page
        assert 'aria-label="change: unknown"' in page          # no answer: stays measured
        service = http.get("/services/crm").text
        assert re.search(r'id="cause-training".*?self-assessed', service, re.S)
        assert 'id="self-assess-link"' not in service          # a viewer does not answer
        assert http.get("/services/crm/self-assessment").status_code == 403
        api = http.get("/api/services/crm/self-assessment").json()
        training = next(c for c in api["causes"] if c["cause"] == "training")
        assert training["basis"] == "self-assessed"
        assert [q["answer"] for q in training["questions"]] == [2, 2, 3]   # from the file
        assert training["questions"][0]["answers"][0]["meaning"] == \
            QUESTIONNAIRE["training"][0].answers[0]


def test_an_owner_answers_for_their_own_services_only(app: RunningApp) -> None:
    with signed_in(app, "owner") as http:
        page = http.get("/services/crm/self-assessment")
        assert page.status_code == 200
        token = csrf_of(page.text)
        # every answer shown with its meaning, as a radio button
        for q in QUESTIONNAIRE["flow"]:
            assert f'name="q:flow:{q.id}"' in page.text
            assert all(m in page.text for m in q.answers[1:2])
        assert 'id="self-assess-link"' in http.get("/services/crm").text
        assert http.get("/services/hr/self-assessment").status_code == 403
        refused = http.post("/services/hr/self-assessment",
                            data={"csrf_token": token, **answer_all("flow", 1)})
        assert refused.status_code == 403
        forged = http.post("/services/crm/self-assessment", data=answer_all("flow", 1))
        assert forged.status_code == 403                      # no form token
        bad = http.post("/services/crm/self-assessment",
                        data={"csrf_token": token, "q:flow:waiting": "9"})
        assert bad.status_code == 422
    with Store.open(app.database) as store:
        assert stored_answers(store, "Test Org") == []        # nothing of the refused posts


def test_answers_posted_on_the_web_show_after_the_next_check(app: RunningApp) -> None:
    with signed_in(app, "owner") as owner:
        token = csrf_of(owner.get("/services/crm/self-assessment").text)
        r = owner.post("/services/crm/self-assessment",
                       data={"csrf_token": token, **answer_all("employee_experience", 1),
                             "q:training:trained": "2"})           # unchanged: not stored
        assert r.status_code == 303 and r.headers["location"].endswith("saved=3")
    with signed_in(app, "leader") as leader:    # leaders answer for any service
        token = csrf_of(leader.get("/services/hr/self-assessment").text)
        r = leader.post("/services/hr/self-assessment",
                        data={"csrf_token": token, **answer_all("change", 5)})
        assert r.status_code == 303
    with Store.open(app.database) as store:
        kept = stored_answers(store, "Test Org")
    assert {(a.service, a.cause, a.answered_by) for a in kept} == {
        ("crm", "employee_experience", app.users["owner"]),
        ("hr", "change", app.users["leader"])}
    with signed_in(app, "admin") as admin:
        assert row(admin, "crm")["lights"]["employee_experience"] == "unknown"   # not yet
        check_now(admin)
        crm, hr = row(admin, "crm"), row(admin, "hr")
        assert crm["lights"]["employee_experience"] == "leak"
        assert "employee_experience" in crm["self_assessed"]
        assert "training" in crm["self_assessed"]                # the file's still count
        assert (hr["lights"]["change"], hr["self_assessed"]) == ("ok", ["change"])
        assert crm["leak_per_month"]["money"] == 0               # opinions are not priced
        page = admin.get("/services/crm/self-assessment").text
        assert f"Answered by {app.users['owner']}" in page


def test_an_owner_answers_in_the_browser(app: RunningApp) -> None:
    with served(app) as live, chromium() as browser:
        context = browser.new_context(base_url=live.url, viewport={"width": 1300, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            page.goto("/login")
            page.fill("input[name=email]", live.users["owner"])
            page.fill("input[name=password]", PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(re.compile(r"^[^?]*/$"))
            assert page.locator("#legend-basis").is_visible()
            assert page.locator("#portfolio td.self-assessed").count() >= 2
            page.goto("/services/crm")
            page.click("#self-assess-link a")
            page.wait_for_url(re.compile(r"/services/crm/self-assessment$"))
            alignment = QUESTIONNAIRE["alignment"]
            for q in alignment:       # click the label: the answer's meaning is the target
                page.get_by_label(re.compile(re.escape(q.answers[3]))).first.check()
            page.click("form.selfassess button[type=submit]")
            page.wait_for_url(re.compile(r"saved=3$"))
            assert "Saved 3 answer(s)" in page.locator("#saved").inner_text()
            assert page.locator(f"input[name='q:alignment:{alignment[0].id}'][value='4']"
                                ).is_checked()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "selfassess-saved.png"), full_page=True)
        finally:
            context.close()
    assert not errors, errors
