"""Pulse checks over HTTP, in process (SQLite and PostgreSQL): starting a check-in as the
service's owner, links, the public form and its abuse cases (used, forged, closed, bad answers,
forged posts, rate limits), results with the anonymity threshold, escaping, export, overdue."""

from __future__ import annotations

import csv
import functools
import html
import io
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import func, select, update

from dipstick.model import ValueModel
from dipstick.package import load_package, read_model
from dipstick.pulse import campaigns as repo
from dipstick.pulse.tokens import digest, make_nonce
from dipstick.store import Store
from dipstick.store.pulse_tables import PulseAnswer, PulseCampaign, PulseInvitation

from shared import session_day
from webserver import (
    BACKENDS,
    PreparedDemo,
    RunningApp,
    app_on,
    csrf_of,
    fresh,
    pinned,
    signed_in,
)

XSS = "<script>alert('pulse')</script><img src=x onerror=alert(1)>"
ESCAPED = str(escape(XSS))
pytestmark = pytest.mark.clock   # check-ins open and close by "today"


@pytest.fixture(scope="module", params=BACKENDS)
def app(request: pytest.FixtureRequest, package: Path, web_demo: PreparedDemo,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app in process, on SQLite and on PostgreSQL: the one web module run on both, as it
    writes through the most store paths (check-ins, invitations, answers, throttles)."""
    with app_on(request.param, package, tmp_path_factory, web_demo) as running:
        yield running


@pytest.fixture(autouse=True)
def today(web_demo: PreparedDemo) -> Iterator[date]:
    """Every test on a pinned "today": the demo's last day, or ``DIPSTICK_TEST_TODAY``."""
    with pinned(session_day()) as day:
        yield day


NONCE = re.compile(r'name="nonce" value="([^"]+)"')
DIMS = re.compile(r'name="(dim:[^"]+)" value="0"')


@contextmanager
def store_of(app: RunningApp) -> Iterator[Store]:
    with Store.open(app.database) as store:
        yield store


@functools.cache
def model_of(package: Path) -> ValueModel:
    """The package's value model, read once (only dipstick.yaml: loading the whole package
    for it cost seconds per check-in started)."""
    model, problems = read_model(package)
    assert model is not None, problems
    return model


def start(app: RunningApp, service: str | None = None, groups: list[str] | None = None
          ) -> repo.Campaign:
    with store_of(app) as store:
        return repo.start_campaign(store, model_of(app.package), service or app.owned[0],
                                   groups, created_by="test")


def links(app: RunningApp, c: repo.Campaign, n: int, group: str | None = None) -> list[str]:
    with store_of(app) as store:
        made = repo.add_invitations(store, c, [(None, group or c.groups[0])] * n)
    return [f"{app.url}/p/{x.token}" for x in made]


def answers_of(app: RunningApp, campaign_id: int) -> int:
    with store_of(app) as store, store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PulseAnswer)
                                .where(PulseAnswer.campaign_id == campaign_id)).scalar_one())


def form(http: httpx.Client, url: str) -> tuple[str, list[str]]:
    page = http.get(url)
    assert page.status_code == 200, page.text[:300]
    found = NONCE.search(page.text)
    assert found
    return found.group(1), DIMS.findall(page.text)


def answer(http: httpx.Client, url: str, score: int = 8, comment: str = "",
           recommend: str = "9", **extra: str) -> httpx.Response:
    nonce, dims = form(http, url)
    data = {d: str(score) for d in dims} | {"nonce": nonce, "comment": comment,
                                            "recommend": recommend} | extra
    return http.post(url, data=data)


def test_the_owner_starts_a_check_in_from_the_service_page(app: RunningApp) -> None:
    sid = app.owned[0]
    with signed_in(app, "owner") as http:
        page = http.get(f"/services/{sid}").text
        assert "Start a check-in" in page
        r = http.post("/pulse/campaigns", data={"service_id": sid, "csrf_token": csrf_of(page)})
        assert r.status_code == 303
        campaign = r.headers["location"]
        shown = http.get(campaign).text
        token = csrf_of(shown)
        # the groups by their names, as the value model gives them, not their ids (issue 15)
        loaded = load_package(app.package)
        groups = {g.id: g.name for g in loaded.model.stakeholder_groups}
        loaded.close()
        listed = re.search(r"<dt>Groups</dt><dd>(.*?)</dd>", shown)
        asked = [html.unescape(x) for x in listed.group(1).split(", ")] if listed else []
        assert asked and set(asked) <= set(groups.values())
        assert any(name != gid for gid, name in groups.items() if name in asked)
        made = http.post(campaign + "/links", data={"csrf_token": token, "kind": "anonymous",
                                                    "count": "3"})
        assert made.status_code == 200
        urls = re.findall(r'class="pulse-link" href="([^"]+)"', made.text)
        assert len(urls) == 3 and len(set(urls)) == 3
        assert all(len(u.rsplit("/", 1)[1]) >= 43 for u in urls)   # 256-bit tokens
        opened = http.post(campaign + "/links", data={"csrf_token": token, "kind": "open"})
        assert opened.status_code == 200 and "one answer per browser" in opened.text
        assert f'href="{campaign}"' in http.get(f"/services/{sid}").text
    with store_of(app) as store, store.engine.connect() as conn:
        stored = conn.execute(select(PulseInvitation.token_hash)).scalars().all()
    assert all(u.rsplit("/", 1)[1] not in stored for u in urls)   # kept hashed only


@pytest.mark.parametrize("role", ["viewer", "leader"])
def test_readers_cannot_start_or_make_links(app: RunningApp, role: str) -> None:
    c = start(app)
    with signed_in(app, role) as http:
        token = csrf_of(http.get("/pulse").text)
        assert "Start a check-in" not in http.get(f"/services/{app.owned[0]}").text
        r = http.post("/pulse/campaigns", data={"service_id": app.owned[0], "csrf_token": token})
        assert r.status_code == 403
        r = http.post(f"/pulse/campaigns/{c.id}/links",
                      data={"csrf_token": token, "kind": "anonymous", "count": "2"})
        assert r.status_code == 403


def test_an_owner_acts_only_on_their_own_services(app: RunningApp) -> None:
    other = next(s.id for s in model_of(app.package).services
                 if s.id not in app.owned and s.consumers)
    c = start(app, other)
    with signed_in(app, "owner") as http:
        token = csrf_of(http.get("/pulse").text)
        assert http.post("/pulse/campaigns", data={"service_id": other, "csrf_token": token}
                         ).status_code == 403
        assert http.post(f"/pulse/campaigns/{c.id}/links", data={
            "csrf_token": token, "kind": "anonymous", "count": "1"}).status_code == 403
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/pulse").text)
        assert http.post("/pulse/campaigns", data={"service_id": other, "csrf_token": token}
                         ).status_code == 303


def test_an_answer_is_stored_once_and_a_used_link_changes_nothing(app: RunningApp,
                                                                 today: date) -> None:
    c = start(app)
    url = links(app, c, 1)[0]
    with app.client() as http:
        nonce, dims = form(http, url)
        data = {d: "7" for d in dims} | {"nonce": nonce, "recommend": "10"}
        r = http.post(url, data=data)
        assert r.status_code == 200 and "Thank you" in r.text and "What happens next" in r.text
        assert answers_of(app, c.id) == 1          # committed before the 200
        again = http.post(url, data=data | {"comment": "second try"})
        assert again.status_code == 409
        assert http.get(url).status_code == 409
        j = http.post(url, data=data, headers={"accept": "application/json"})
        assert j.status_code == 409 and "used" in j.json()["detail"]
    assert answers_of(app, c.id) == 1
    with store_of(app) as store:
        stored = repo.answers(store, [c.id])
    assert stored[0].scores == dict.fromkeys([d[4:] for d in dims], 7)
    assert stored[0].recommend == 10 and stored[0].answered_on == today


def test_forged_and_closed_links_get_the_same_404(app: RunningApp, today: date) -> None:
    c = start(app)
    closed = links(app, c, 1)[0]
    with store_of(app) as store, store.engine.begin() as conn:
        conn.execute(update(PulseCampaign).where(PulseCampaign.id == c.id)
                     .values(closes_on=today - timedelta(days=1)))
    forged = f"{app.url}/p/{'A' * 43}"
    # a fresh app: the failures below must not throttle the other tests
    with fresh(app) as own, own.client() as http:
        base = own.url
        closed = closed.replace(app.url, base)
        forged = forged.replace(app.url, base)
        timings: dict[str, list[float]] = {"closed": [], "forged": []}
        bodies = {}
        for _ in range(8):
            for name, url in (("closed", closed), ("forged", forged)):
                t0 = time.perf_counter()
                r = http.get(url, headers={"accept": "text/html"})
                timings[name].append(time.perf_counter() - t0)
                assert r.status_code == 404
                bodies[name] = r.text
        assert bodies["closed"] == bodies["forged"]
        for url in (closed, forged):
            # without a nonce this server issued: 403, whether or not the link exists
            assert http.post(url, data={"nonce": "x"}).status_code == 403
            # with one (the tests know the server's secret): the same 404 for both
            nonce = make_nonce(b"test-secret", digest(url.rsplit("/", 1)[1]))
            r = http.post(url, data={"nonce": nonce}, headers={"accept": "application/json"})
            assert r.status_code == 404
            assert r.json() == {"error": 404, "detail": "this link does not open a check-in"}
    slow, fast = sorted(statistics.median(t) for t in timings.values())[::-1]
    assert slow < fast * 4 + 0.01, timings      # same shape: no tell-tale extra work
    assert answers_of(app, c.id) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"dim": "11"}, "dim"), ({"dim": "-1"}, "dim"), ({"dim": "seven"}, "dim"),
    ({"dim": ""}, "dim"), ({"recommend": "12"}, "recommend"),
    ({"comment": "x" * 2001}, "comment"),
])
def test_bad_answers_are_refused_with_422_and_nothing_stored(app: RunningApp,
                                                              change: dict[str, str],
                                                              field: str) -> None:
    c = start(app)
    url = links(app, c, 1)[0]
    with app.client() as http:
        nonce, dims = form(http, url)
        data = {d: "5" for d in dims} | {"nonce": nonce}
        if "dim" in change:
            data[dims[0]] = change["dim"]
        data |= {k: v for k, v in change.items() if k != "dim"}
        r = http.post(url, data=data, headers={"accept": "application/json"})
        assert r.status_code == 422, r.text
        problems = r.json()["problems"]
        assert any(p["field"].startswith(field) for p in problems), problems
        page = http.post(url, data=data)           # the HTML form says it too
        assert page.status_code == 422 and "was not stored" in page.text
        assert http.post(url, data={"nonce": nonce}, headers={"accept": "application/json"}
                         ).status_code == 422      # every field missing
    assert answers_of(app, c.id) == 0
    with app.client() as http:         # the link still works afterwards
        assert answer(http, url).status_code == 200


def test_a_post_without_the_forms_nonce_is_refused(app: RunningApp) -> None:
    c = start(app)
    url = links(app, c, 1)[0]
    with app.client() as http:
        _, dims = form(http, url)
        data = {d: "5" for d in dims}
        assert http.post(url, data=data).status_code == 403
        assert http.post(url, data=data | {"nonce": "1.abc"}).status_code == 403
        other = links(app, c, 1)[0]                # a nonce is bound to its link
        nonce, _ = form(http, other)
        assert http.post(url, data=data | {"nonce": nonce}).status_code == 403
    assert answers_of(app, c.id) == 0


def test_an_open_link_takes_one_answer_per_browser(app: RunningApp) -> None:
    c = start(app)
    with store_of(app) as store:
        url = f"{app.url}/p/{repo.open_link(store, c, c.groups[0]).token}"
    with app.client() as one, app.client() as two:
        first = one.get(url)
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert answer(one, url).status_code == 200
        assert one.get(url).status_code == 409
        assert answer(two, url).status_code == 200
    with app.client() as three:       # a post with no cookie is not an answer
        nonce, dims = form(three, url)
        three.cookies.clear()
        r = three.post(url, data={d: "5" for d in dims} | {"nonce": nonce})
        assert r.status_code == 403
    assert answers_of(app, c.id) == 2


def test_results_need_five_answers_and_escape_comments(app: RunningApp) -> None:
    c = start(app)
    group = c.groups[0]
    urls = links(app, c, 6, group)
    with app.client() as http:
        for i, url in enumerate(urls[:4]):
            assert answer(http, url, score=4 + i, comment=XSS if i == 0 else "",
                          recommend=str(9 + (i % 2) if i < 2 else 3)).status_code == 200
    with signed_in(app, "owner") as owner:
        page = owner.get(f"/pulse/campaigns/{c.id}").text
        assert "fewer than 5 answers" in page and ESCAPED not in page
        api = owner.get(f"/api/pulse/campaigns/{c.id}").json()
        assert api["groups"][0]["shown"] is False and "dimensions" not in api["groups"][0]
    with app.client() as http:
        assert answer(http, urls[4], score=8, recommend="").status_code == 200
    with signed_in(app, "owner") as owner:
        page = owner.get(f"/pulse/campaigns/{c.id}").text
        assert ESCAPED in page and XSS not in page
        g = owner.get(f"/api/pulse/campaigns/{c.id}").json()["groups"][0]
        assert g["shown"] and g["answers"] == 5 and g["comments"] == [XSS]
        assert g["response_rate"] == pytest.approx(5 / 6, abs=0.001)
        # scores 4, 5, 6, 7, 8 on every dimension: mean 6 each, so the weighted score is 6
        assert all(d["mean"] == 6.0 for d in g["dimensions"]) and g["score"] == 6.0
        # recommend 9, 10, 3, 3 (one skipped): 2 promoters, 2 detractors of 4 → 0
        assert g["recommend_answers"] == 4 and g["promoters_minus_detractors"] == 0.0
        export = owner.get(f"/pulse/campaigns/{c.id}/export.csv").text
    rows = list(csv.DictReader(io.StringIO(export)))
    assert {r["group"] for r in rows} == {group} and len(rows) == 5 * len(g["dimensions"])
    assert [r["comment"] for r in rows if r["comment"]] == [XSS]
    with signed_in(app, "viewer") as viewer:
        page = viewer.get(f"/pulse/campaigns/{c.id}").text
        assert ESCAPED not in page and XSS not in page
        assert "comments" not in viewer.get(f"/api/pulse/campaigns/{c.id}").json()["groups"][0]
        assert "script" not in viewer.get(f"/pulse/campaigns/{c.id}/export.csv").text


def test_an_answer_row_holds_nothing_that_points_at_the_invitation(app: RunningApp) -> None:
    columns = set(PulseAnswer.__table__.columns.keys())
    assert columns == {"id", "campaign_id", "group_id", "answered_on", "scores", "recommend",
                       "comment"}
    assert "answered_at" not in PulseInvitation.__table__.columns


def test_a_bad_invitee_csv_is_a_422_naming_row_and_field(app: RunningApp) -> None:
    c = start(app)
    bad = "email,group\nok@example.org,{g}\nnot-an-address,{g}\nx@example.org,nosuch\n".format(
        g=c.groups[0])
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/pulse").text)
        r = http.post(f"/pulse/campaigns/{c.id}/links", data={"csrf_token": token,
                                                               "kind": "invitees"},
                      files={"invitees": ("people.csv", bad, "text/csv")},
                      headers={"accept": "application/json"})
        assert r.status_code == 422
        problems = r.json()["problems"]
        assert {(p["file"], p["row"], p["field"]) for p in problems} == {
            ("people.csv", 2, "email"), ("people.csv", 3, "group")}
        page = http.post(f"/pulse/campaigns/{c.id}/links", data={"csrf_token": token,
                                                                  "kind": "invitees"},
                         files={"invitees": ("people.csv", bad, "text/csv")})
        assert page.status_code == 422 and "people.csv, row 2, field email" in page.text
        good = f"email,group\na@example.org,{c.groups[0]}\nb@example.org,{c.groups[0]}\n"
        r = http.post(f"/pulse/campaigns/{c.id}/links", data={"csrf_token": token,
                                                               "kind": "invitees"},
                      files={"invitees": ("people.csv", good, "text/csv")},
                      headers={"accept": "application/json"})
        assert r.status_code == 200
        assert [x["email"] for x in r.json()["links"]] == ["a@example.org", "b@example.org"]
    with store_of(app) as store:
        assert sum(n for n, _ in repo.invitation_counts(store, c.id).values()) == 2


def test_failures_are_rate_limited_per_link_and_per_address(app: RunningApp) -> None:
    c = start(app)
    url = links(app, c, 1)[0]
    with fresh(app) as own, own.client() as http:
        base = own.url
        mine = url.replace(app.url, base)
        nonce, dims = form(http, mine)
        bad: dict[str, Any] = {d: "99" for d in dims} | {"nonce": nonce}
        codes = [http.post(mine, data=bad).status_code for _ in range(11)]
        assert codes[:10] == [422] * 10 and codes[10] == 429
        r = http.post(mine, data={d: "5" for d in dims} | {"nonce": nonce})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0   # per link
        assert answers_of(app, c.id) == 0
        other = links(app, c, 1)[0].replace(app.url, base)
        assert http.get(other).status_code == 200                # other links still work
        codes = [http.get(f"{base}/p/guess{i:04d}").status_code for i in range(60)]
        assert set(codes[:50]) == {404} and codes[-1] == 429     # per address
        assert http.get(other).status_code == 429


def test_overdue_page_lists_pairs_and_starts_a_check_in(app: RunningApp, today: date,
                                                         web_demo: PreparedDemo) -> None:
    """Overdue is counted from the surveys' dates to "today": on a day before the demo's data
    nothing is, so a moved clock earlier than its last day is put back to that day."""
    with pinned(max(today, web_demo.as_of)):
        with signed_in(app, "admin") as http:
            view = http.get("/api/pulse/overdue").json()
            assert view["available"] and view["max_age_days"] == 90
            pairs = view["pairs"]
            assert pairs and all(p["days"] is None or p["days"] > 90 for p in pairs)
            page = http.get("/pulse/overdue").text
            assert "Start a check-in" in page
            # one reference date said plainly: days run to today, the check has its own as-of
            assert f"today, {view['as_of']}" in page and view["check_as_of"]
            p = pairs[0]
            token = csrf_of(page)
            r = http.post("/pulse/campaigns", data={"service_id": p["service_id"],
                                                    "group": p["group"], "csrf_token": token})
            assert r.status_code == 303
            after = http.get("/api/pulse/overdue").json()["pairs"]
            assert (p["service_id"], p["group"]) not in {(q["service_id"], q["group"])
                                                         for q in after}
        with signed_in(app, "viewer") as http:
            assert "Start a check-in" not in http.get("/pulse/overdue").text


def test_absurd_campaign_numbers_are_refused_not_a_server_error(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        for n in ("0", "99999999999", "-3"):
            assert http.get(f"/api/pulse/campaigns/{n}").status_code == 422
            assert http.get(f"/pulse/campaigns/{n}").status_code == 422
            assert http.get(f"/pulse/campaigns/{n}/export.csv").status_code == 422
        token = csrf_of(http.get("/pulse").text)
        for n in ("0", "99999999999", "x"):
            r = http.post(f"/pulse/campaigns/{n}/links", data={"csrf_token": token})
            assert r.status_code == 404, (n, r.status_code)
        assert http.get("/api/pulse/campaigns/2147483647").status_code == 404
