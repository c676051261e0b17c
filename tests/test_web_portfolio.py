"""The portfolio page and its API, the app in process over a real SQLite database:
filters, search, the htmx partial, pagination, changes since the previous check, escaping, and
that the page and the API show the same numbers."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dipstick.check import CheckResult, run_check
from dipstick.model import ValueModel
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.web import views

from webserver import PreparedDemo, RunningApp, app_on, signed_in

EARLIER_DAYS = 91


@dataclasses.dataclass(frozen=True)
class Demo:
    model: ValueModel
    earlier: CheckResult        # the demo checked EARLIER_DAYS before its as-of date


@pytest.fixture(scope="module")
def demo(package: Path, web_demo: PreparedDemo) -> Demo:
    """The demo checked earlier (its as-of date from the session's stored check: one check
    here, not two)."""
    loaded = load_package(package)
    try:
        earlier = web_demo.as_of - timedelta(days=EARLIER_DAYS)
        return Demo(loaded.model, run_check(loaded, earlier))
    finally:
        loaded.close()


@pytest.fixture(scope="module")
def app(package: Path, demo: Demo, web_demo: PreparedDemo,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with app_on("sqlite", package, tmp_path_factory, web_demo) as running:
        yield _with_previous(running, demo)


def _with_previous(app: RunningApp, demo: Demo) -> RunningApp:
    """Store the earlier check as the run before the app's (started a month before it); the
    value model of the latest run is loaded already (tests/webserver.py waits for it)."""
    with Store.open(app.database) as store:
        started = store.runs(limit=1)[0].started_at - timedelta(days=30)
        store.save_run(demo.earlier, started_at=started, finished_at=started, command="test")
    with signed_in(app, "viewer") as http:
        assert http.get("/api/portfolio").json()["model"]["available"]
    return app


def everything(http: httpx.Client, **params: str) -> dict[str, Any]:
    data: dict[str, Any] = http.get("/api/portfolio",
                                    params=params | {"limit": "1000"}).json()
    assert data["total"] == len(data["services"])
    return data


def ids(data: dict[str, Any]) -> list[str]:
    return [s["id"] for s in data["services"]]


def test_each_filter_selects_what_it_says(app: RunningApp, demo: Demo) -> None:
    services = {s.id: s for s in demo.model.services}
    with signed_in(app, "viewer") as http:
        full = everything(http)
        assert full["total"] == len(services) and not full["filters"]
        rows = {s["id"]: s for s in full["services"]}

        owner = services[full["services"][0]["id"]].owner or ""
        got = everything(http, owner=owner)
        assert ids(got) == [i for i in ids(full) if services[i].owner == owner]
        assert got["filters"] == {"owner": owner}

        capability = services[full["services"][-1]["id"]].capability or ""
        assert set(ids(everything(http, capability=capability))) == {
            i for i, s in services.items() if s.capability == capability} != set()

        group = "online_shoppers"
        got = everything(http, group=group)
        assert set(ids(got)) == {i for i, s in services.items() if group in s.consumers}
        assert 0 < got["total"] < len(services)

        assert everything(http, lifecycle="live")["total"] == sum(
            1 for s in services.values() if s.lifecycle == "live")
        assert everything(http, lifecycle="retired")["total"] == sum(
            1 for s in services.values() if s.lifecycle == "retired")

        for cause in full["causes"]:
            lit = {i for i, r in rows.items() if r["lights"].get(cause) in ("leak", "watch")}
            assert set(ids(everything(http, cause=cause))) == lit
        leaking = everything(http, status="leak")
        assert leaking["total"] == full["summary"]["leak"] == leaking["matched"]["leak"]

        both = everything(http, group=group, status="leak")
        assert set(ids(both)) == set(ids(got)) & set(ids(leaking))
        # the selection's totals are its rows' sums
        assert both["matched"]["leak_per_month"]["money"] == pytest.approx(
            sum(s["leak_per_month"]["money"] for s in both["services"]), abs=0.01)


def test_search_is_case_insensitive_over_name_id_owner_and_capability(
        app: RunningApp, demo: Demo) -> None:
    with signed_in(app, "viewer") as http:
        got = everything(http, q="  PAYMENT ")
        expected = {s.id for s in demo.model.services if any(
            "payment" in (v or "").lower() for v in (s.id, s.name, s.owner, s.capability))}
        assert set(ids(got)) == expected != set()
        assert got["filters"] == {"q": "PAYMENT"}
        page = http.get("/", params={"q": "PAYMENT"}).text
        assert 'value="PAYMENT"' in page
        assert set(re.findall(r'data-service="([^"]+)"', page)) == expected
        nothing = http.get("/", params={"q": "no such service anywhere"}).text
        assert 'id="no-match"' in nothing


def test_filters_are_a_plain_get_form_enhanced_by_htmx(app: RunningApp) -> None:
    with signed_in(app, "viewer") as http:
        page = http.get("/")
        assert page.status_code == 200 and "HX-Request" in page.headers["vary"]
        form = re.search(r'<form class="filters".*?</form>', page.text, re.S)
        assert form and 'method="get"' in form.group(0) and 'action="/"' in form.group(0)
        assert 'hx-target="#portfolio-results"' in form.group(0)
        assert 'hx-push-url="true"' in form.group(0)
        for name in ("q", "owner", "group", "lifecycle", "capability", "cause", "status"):
            assert f'name="{name}"' in form.group(0)
        assert '<div id="portfolio-results"' in page.text

        partial = http.get("/", params={"status": "leak"}, headers={"HX-Request": "true"})
        assert partial.status_code == 200
        assert partial.headers["hx-push-url"] == "/?status=leak"   # not every empty field
        assert "<html" not in partial.text and "<form" not in partial.text
        assert 'id="portfolio"' in partial.text
        statuses = re.findall(r'<tr class="(\w+)" data-service=', partial.text)
        assert statuses and set(statuses) == {"leak"}
        # a history restore needs the whole page
        restore = http.get("/", headers={"HX-Request": "true",
                                         "HX-History-Restore-Request": "true"})
        assert "<html" in restore.text


def test_the_api_pages_and_the_page_links_to_the_next(app: RunningApp) -> None:
    with signed_in(app, "viewer") as http:
        full = everything(http)
        pages: list[str] = []
        for offset in range(0, full["total"], 10):
            data = http.get("/api/portfolio", params={"limit": 10, "offset": offset}).json()
            assert data["total"] == full["total"] and data["limit"] == 10
            assert data["offset"] == offset and len(data["services"]) <= 10
            pages += ids(data)
        assert pages == ids(full)
        assert http.get("/api/portfolio", params={"limit": 0}).status_code == 422
        assert http.get("/api/portfolio", params={"offset": -1}).status_code == 422
        assert http.get("/api/portfolio",
                        params={"limit": views.MAX_LIMIT + 1}).status_code == 422

        page = http.get("/", params={"limit": 10, "status": "leak"}).text
        assert len(re.findall(r"data-service=", page)) == 10
        assert 'href="/?status=leak&amp;limit=10&amp;offset=10"' in page

        runs = http.get("/api/runs").json()
        assert runs["total"] == 2 and len(runs["runs"]) == 2
        first = http.get("/api/runs", params={"limit": 1}).json()
        second = http.get("/api/runs", params={"limit": 1, "offset": 1}).json()
        assert [r["id"] for r in first["runs"] + second["runs"]] == [r["id"] for r in
                                                                     runs["runs"]]
        newest = runs["runs"][0]
        assert newest["id"] == full["run"]["run_id"]
        assert newest["counts"]["leak"] == full["summary"]["leak"]


def test_the_page_shows_the_numbers_of_the_api(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        for params in ({}, {"group": "online_shoppers"}, {"cause": "perception"}):
            data = everything(http, **params)
            page = http.get("/", params=params | {"limit": "1000"}).text
            assert re.findall(r'data-service="([^"]+)"', page) == ids(data)
            table = page[page.index('id="portfolio"'):]
            money = [m.replace(",", "") for m in re.findall(
                r'<td class="num money">([\d,]+|–)</td>\s*<td class="num">', table)]
            assert money == [f"{s['leak_per_month']['money']:.0f}"
                             if s["leak_per_month"]["money"] else "–" for s in data["services"]]
            matched = data["matched"]
            assert f'id="matched-count">{matched["services"]}<' in page
            assert (f'id="matched-money">{matched["leak_per_month"]["money"]:,.0f} '
                    f'{data["run"]["currency"]}<') in page
            assert f'id="matched-hours">{matched["leak_per_month"]["hours"]:,.0f} h<' in page
            changes = data["changes"]
            assert f'{len(changes["new"])} new</span>' in page
            assert f'{len(changes["ended"])} ended</span>' in page
        summary = data["summary"]["leak_per_month"]
        assert f'id="total-money">{summary["money"]:,.0f} ' in page
        assert f'id="total-hours">{summary["hours"]:,.0f} h<' in page


def test_changes_since_the_previous_check_of_the_organisation(app: RunningApp) -> None:
    with Store.open(app.database) as store:
        latest, previous = store.runs(limit=2)
        now, before = store.load_run(latest.id), store.load_run(previous.id)

    def leaks(doc: dict[str, Any]) -> set[tuple[str, str]]:
        return {(s["id"], c) for s in doc["services"] for c, f in s["causes"].items()
                if f["status"] == "leak"}

    with signed_in(app, "viewer") as http:
        data = everything(http)
        changes = data["changes"]
        assert changes["previous"] == {"run_id": previous.id, "as_of": before["as_of"]}
        new = {(c["service"], c["cause"]) for c in changes["new"]}
        ended = {(c["service"], c["cause"]) for c in changes["ended"]}
        assert new == leaks(now) - leaks(before)
        assert ended == leaks(before) - leaks(now)
        assert new or ended, "the demo three months earlier should differ"
        assert changes["new_leak_per_month"]["money"] == pytest.approx(
            sum(c["leak_per_month"]["money"] for c in changes["new"]), abs=0.01)
        # the changes follow the filters
        cause = next(iter(new or ended))[1]
        only = everything(http, cause=cause)["changes"]
        assert {(c["service"], c["cause"]) for c in only["new"] + only["ended"]} == {
            p for p in new | ended if p[1] == cause}

        page = http.get("/").text
        assert f"run #{previous.id}, as of {before['as_of']}" in page
        for c in changes["new"][:5]:
            assert f'<a href="{c["url"]}">{html.escape(c["name"])}</a>' in page


def test_the_heatmap_covers_the_selection_and_links_to_services(app: RunningApp) -> None:
    with signed_in(app, "viewer") as http:
        for params in ({}, {"group": "online_shoppers"}):
            data = everything(http, **params)
            page = http.get("/", params=params).text
            assert '<script src="/static/plotly.min.js"' in page
            island = re.search(r'<script type="application/json" id="heatmap-\d+">(.*?)</script>',
                               page, re.S)
            assert island, "no heatmap"
            fig = json.loads(island.group(1))
            assert len(fig["layout"]["meta"]["service_ids"]) == data["total"]
            assert set(fig["layout"]["meta"]["links"]) == {s["url"] for s in data["services"]}
        # every service name links to its page, also without the chart
        assert re.search(r'<a href="/services/[^"]+">', page)


def test_a_hostile_search_is_echoed_escaped(app: RunningApp) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    with signed_in(app, "viewer") as http:
        for headers in ({}, {"HX-Request": "true"}):
            page = http.get("/", params={"q": hostile}, headers=headers).text
            assert "<script>alert(1)" not in page and "<img src=x" not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        data = http.get("/api/portfolio", params={"q": hostile}).json()
        assert data["filters"]["q"] == hostile and data["total"] == 0


def test_every_role_may_see_the_portfolio(app: RunningApp) -> None:
    for role in ("admin", "leader", "owner", "viewer"):
        with signed_in(app, role) as http:
            assert http.get("/").status_code == 200
            assert http.get("/api/portfolio").status_code == 200
            assert http.get("/api/runs").status_code == 200
    with app.client() as anonymous:
        assert anonymous.get("/api/runs").status_code == 401


def test_the_portfolio_answers_from_its_caches_once_warm(app: RunningApp) -> None:
    """Not the benchmark (benchmarks/web.py): a guard that nothing re-reads or re-checks the
    run per request — the stored run and the re-checked value model the pages use are the
    very objects they used before (counted in objects, not in seconds: a loaded machine must
    not fail it, a re-check per request must)."""
    assert app.asgi is not None
    store = app.asgi.state.store
    with signed_in(app, "viewer") as http:
        http.get("/")
        run = views.latest_run(store)
        assert run is not None
        as_of = datetime.fromisoformat(run["as_of"]).date()
        model = views.model_context(run["package"], as_of, store=store)
        for path, params in (("/", {}), ("/", {"q": "a", "status": "leak"}),
                             ("/api/portfolio", {})):
            for _ in range(5):
                assert http.get(path, params=params).status_code == 200
            assert views.latest_run(store) is run, (path, params)
            assert views.model_context(run["package"], as_of, store=store) is model, path


def test_without_the_value_model_its_filters_are_off_and_say_why(
        demo: Demo, tmp_path: Path) -> None:
    moved = dataclasses.replace(demo.earlier, package=str(tmp_path / "gone"))
    with Store.open(f"sqlite:///{tmp_path / 'app.db'}") as store:
        store.migrate()
        now = datetime.now(UTC)
        store.save_run(moved, started_at=now, finished_at=now, command="test")
        view = views.portfolio(store, views.Filters.of(capability="payments", owner=None))
    assert view["model"]["available"] is False and "not there" in view["model"]["reason"]
    assert view["ignored"] == ["capability"] and view["filters"] == {}
    assert view["total"] == len(demo.earlier.verdicts) and view["changes"] is None
    assert view["facets"]["groups"] == [] and view["facets"]["capabilities"] == []
