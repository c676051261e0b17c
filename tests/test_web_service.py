"""The service page and its API, the app in process over a real SQLite database: a
leaking demo service's evidence, action, trend with its shift, stakeholders, value links,
streams, journeys and history; the same numbers on the page and in the JSON; 404s; comments
only for the roles that may read them."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from webserver import RunningApp, signed_in

LEAKING = "delivery_tracking"   # leaks by customer experience, in the buy_online journey
DESK = "service_desk"           # a step of the discovered access_request stream


def island(html: str, figure_id: str) -> dict[str, Any]:
    """A figure's JSON island from the page (and that its drawing div is there)."""
    assert f'data-figure="{figure_id}"' in html
    found = re.search(rf'<script type="application/json" id="{figure_id}">(.*?)</script>',
                      html, re.S)
    assert found, f"no island {figure_id}"
    spec: dict[str, Any] = json.loads(found.group(1))
    return spec


def section(html: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', html, re.S)
    assert found, f"no section {section_id}"
    return found.group(1)


def test_a_leaking_service_shows_evidence_action_and_its_trend(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        data = http.get(f"/api/services/{LEAKING}").json()
        page = http.get(f"/services/{LEAKING}")
    assert page.status_code == 200
    html = page.text
    assert data["service"]["status"] == "leak" and data["context"]["available"]
    # the breadcrumb names the service, not its id (issue 15)
    assert f'<a href="/">Portfolio</a> › {data["service"]["name"]}</p>' in html
    leaking = [c for c in data["causes"] if c["status"] == "leak"]
    assert leaking and data["causes"][0]["status"] == "leak"      # worst first
    cause = leaking[0]
    block = re.search(rf'<details class="cause leak" id="cause-{cause["cause"]}"(.*?)</details>',
                      html, re.S)
    assert block
    assert unescape(cause["action"]) in unescape(block.group(1))
    for e in cause["evidence"]:
        assert e["label"] in unescape(block.group(1))
    assert any(e["metric"].startswith("shift:") for e in cause["evidence"])
    # the trend of the leaking signal, its shift marked, with the since date
    trend = next(t for t in data["trends"] if t["cause"] == cause["cause"])
    assert trend["since"] == cause["since"] == trend["shift"] == data["service"]["since"]
    assert len(trend["weeks"]) == len(trend["values"]) > 10
    fig = island(html, "fig-trend-0")
    assert any(f"shift, week of {trend['shift']}" in a["text"]
               for a in fig["layout"]["annotations"])
    assert fig["layout"]["shapes"]                                   # the vertical shift line
    trends = section(html, "trends")
    assert f'<strong class="since">{trend["since"]}</strong>' in trends


def test_page_and_api_show_the_same_numbers(app: RunningApp) -> None:
    with signed_in(app, "owner") as http:
        data = http.get(f"/api/services/{LEAKING}").json()
        html = http.get(f"/services/{LEAKING}").text
        evidence = http.get(f"/api/services/{LEAKING}/evidence").json()
        shifts = http.get(f"/api/services/{LEAKING}/shifts").json()
        history = http.get(f"/api/services/{LEAKING}/history").json()
    # the sub-resources are slices of the same data
    assert evidence["causes"] == data["causes"] and evidence["service"] == data["service"]
    assert shifts["trends"] == data["trends"]
    assert history["history"] == data["history"]
    leak = data["service"]["leak_per_month"]
    assert f"{leak['money']:,.0f} {data['run']['currency']}" in section(html, "history")
    assert f"<strong>{leak['money']:,.0f} {data['run']['currency']}</strong>" in html
    # value scores by group, in the order the API gives them
    shown = re.findall(r'class="num group-score">([^<]*)<', html)
    assert shown == [f"{g['score']:.1f}" for g in data["surveys"]["groups"]]
    assert shown, "the leaking demo service has pulse-check answers"
    dims = section(html, "stakeholders")
    for g in data["surveys"]["groups"]:
        for d in g["dimensions"]:
            assert f"{d['name']} <strong>{d['mean']:.1f}</strong>" in unescape(dims)
    # check-in recency per consuming group
    for k in data["surveys"]["checkins"]:
        assert k["name"] in unescape(dims)
        if k["status"] == "ok":
            assert f"last asked {k['last']} ({k['days']} days ago)" in dims
    assert {k["group"] for k in data["surveys"]["checkins"]} >= {
        g["id"] for g in data["value_links"]["consumers"]}


def test_a_group_not_asked_for_long_says_since_when(app: RunningApp) -> None:
    """Somewhere in the demo a consuming group has not been asked lately: the page says
    "not asked since …" (or "never asked") exactly where the API says watch."""
    with signed_in(app, "leader") as http:
        portfolio = http.get("/api/portfolio").json()
        for s in portfolio["services"]:
            if s["lights"].get("perception") != "watch":
                continue
            data = http.get(f"/api/services/{s['id']}").json()
            stale = [k for k in data["surveys"]["checkins"] if k["status"] == "watch"]
            if not stale:
                continue
            html = unescape(section(http.get(f"/services/{s['id']}").text, "stakeholders"))
            for k in stale:
                said = ("never asked" if k["last"] is None
                        else f"not asked since {k['last']} ({k['days']} days)")
                assert said in html
            return
    pytest.fail("no demo service with a stale check-in")


def test_unknown_service_is_404_as_page_and_json(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        page = http.get("/services/no_such_service", headers={"accept": "text/html"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "no_such_service" in page.text
        for tail in ("", "/evidence", "/shifts", "/history"):
            r = http.get(f"/api/services/no_such_service{tail}")
            assert r.status_code == 404, tail
            assert r.json()["error"] == 404
        assert http.get(f"/services/{LEAKING}?run=999999",
                        headers={"accept": "text/html"}).status_code == 404


def test_nothing_without_signing_in(app: RunningApp) -> None:
    with app.client() as http:
        r = http.get(f"/services/{LEAKING}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        for tail in ("", "/evidence", "/shifts", "/history"):
            assert http.get(f"/api/services/{LEAKING}{tail}").status_code == 401


def test_viewers_do_not_get_comments_leaders_do(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        lead = http.get(f"/api/services/{LEAKING}").json()
        lead_page = http.get(f"/services/{LEAKING}").text
    with signed_in(app, "viewer") as http:
        view = http.get(f"/api/services/{LEAKING}").json()
        view_page = http.get(f"/services/{LEAKING}")
    comments = lead["surveys"]["comments"]
    assert comments, "the demo has comments on this service in the current window"
    assert 'class="comments"' in lead_page
    for c in comments:
        assert c["text"] in unescape(lead_page)
    assert view_page.status_code == 200
    assert "comments" not in view["surveys"]
    assert 'class="comments"' not in view_page.text
    for c in comments:
        assert c["text"] not in unescape(view_page.text)
    # everything else is the same for both
    assert {k: v for k, v in lead["surveys"].items() if k != "comments"} == view["surveys"]


def test_value_links_streams_and_journeys(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        desk = http.get(f"/api/services/{DESK}").json()
        desk_page = http.get(f"/services/{DESK}").text
        leak = http.get(f"/api/services/{LEAKING}").json()
        leak_page = http.get(f"/services/{LEAKING}").text
    # the service desk: a hand-given stream and the one discovered from the event log
    discovered = [m for m in desk["streams"] if m["source"] == "event_log"]
    assert discovered and discovered[0]["name"] == "Grant access to a system"
    i = desk["streams"].index(discovered[0])
    island(desk_page, f"fig-stream-{i}")
    island(desk_page, f"fig-process-{i}")
    assert [o["id"] for o in desk["value_links"]["outcomes"]] == ["it_productivity"]
    assert "<td>" in section(desk_page, "value-links")
    # delivery tracking: in the buy_online journey, supporting two outcomes
    assert [j["id"] for j in leak["journeys"]] == ["buy_online"]
    assert all(LEAKING in t["services"] for t in leak["journeys"][0]["touchpoints"])
    island(leak_page, "fig-journey-0")
    links = unescape(section(leak_page, "value-links"))
    for o in leak["value_links"]["outcomes"]:
        assert o["name"] in links and f"{o['contribution']:.0%}" in links
    assert {o["id"] for o in leak["value_links"]["outcomes"]} == {"customer_nps", "order_cycle"}
    assert leak["streams"] and all(m["steps_using"] for m in leak["streams"])


def test_history_after_two_runs_and_a_run_whose_package_is_gone(
        app: RunningApp, tmp_path: Path) -> None:
    """An older check (stored earlier) joins the history; opening it when its package is not
    there any more shows why the package's sections are empty instead of failing."""
    from dipstick.check import run_check
    from dipstick.package import load_package
    from dipstick.store import Store

    with signed_in(app, "leader") as http:
        before = http.get(f"/api/services/{LEAKING}/history").json()["history"]
        as_of = datetime.fromisoformat(before[-1]["as_of"]).date() - timedelta(days=28)
        loaded = load_package(app.package)
        try:
            older = run_check(loaded, as_of, services=[LEAKING, DESK])
        finally:
            loaded.close()
        older = replace(older, package=str(tmp_path / "gone"))
        then = datetime.now(UTC) - timedelta(days=30)   # stored earlier: not the latest run
        with Store.open(app.database) as store:
            run_id = store.save_run(older, started_at=then, finished_at=then, command="test")
        history = http.get(f"/api/services/{LEAKING}/history").json()["history"]
        assert len(history) == len(before) + 1
        assert history[0]["run_id"] == run_id and history[0]["as_of"] == as_of.isoformat()
        assert [h["as_of"] for h in history] == sorted(h["as_of"] for h in history)
        html = http.get(f"/services/{LEAKING}").text
        rows = section(html, "history")
        assert f'?run={run_id}">#{run_id}</a>' in rows
        fig = island(html, "fig-history")
        assert fig["data"][0]["x"] == [h["as_of"] for h in history]
        assert fig["data"][0]["y"] == [h["leak_per_month"]["money"] for h in history]
        # the older run, whose package has gone
        data = http.get(f"/api/services/{LEAKING}?run={run_id}").json()
        assert data["run"]["run_id"] == run_id and not data["context"]["available"]
        assert "not there any more" in data["context"]["reason"]
        assert data["trends"] is None and data["surveys"] is None and data["causes"]
        page = http.get(f"/services/{LEAKING}?run={run_id}")
        assert page.status_code == 200 and "not there any more" in page.text
        assert "Recommended action" in page.text
        # the history as of the older run stops there; a run without the service is 404
        upto = http.get(f"/api/services/{LEAKING}/history?run={run_id}").json()["history"]
        assert upto == history[:1]
        assert http.get(f"/api/services/{LEAKING}/history?run={history[-1]['run_id']}"
                        ).json()["history"] == history
        other = next(s["id"] for s in http.get("/api/portfolio").json()["services"]
                     if s["id"] not in (LEAKING, DESK))
        assert http.get(f"/api/services/{other}/history?run={run_id}").status_code == 404


def test_user_text_is_escaped(tmp_path: Path) -> None:
    """Names, notes and comments are shown as typed, never as markup (autoescape, no |safe),
    and figure islands cannot close their script element."""
    from starlette.requests import Request

    from dipstick.figures import json_island as make_island
    from dipstick.web.app import templates
    from dipstick.web.service import history_figure

    evil = '<script>alert(1)</script>'
    point = {"run_id": 1, "as_of": "2026-01-01", "started_at": "2026-01-01T00:00:00",
             "status": "leak", "score": 90.0, "leak_per_month": {"money": 1.0, "hours": 0.0},
             "cause": "perception"}
    view = {
        "run": {"run_id": 1, "organisation": evil, "currency": "EUR", "as_of": "2026-01-01",
                "window": {"current": "a..b", "baseline": "c..d"}, "package": evil},
        "service": {"id": "x", "name": evil, "owner": evil, "lifecycle": "live",
                    "status": "leak", "score": 90.0, "since": None,
                    "leak_per_month": {"money": 1.0, "hours": 0.0, "cause": "perception",
                                       "formula": evil}},
        "episodes": [{"root": "perception", "since": None, "change": evil, "symptoms": [evil],
                      "story": evil}],
        "causes": [{"cause": "perception", "title": "Perception", "status": "leak",
                    "symptom_of": evil, "episode": evil,
                    "score": 90.0, "summary": evil, "since": None, "action": evil,
                    "leak_per_month": {"money": 1.0, "hours": 0.0, "formula": evil},
                    "evidence": [{"metric": "m", "label": evil, "value": evil, "period": "p",
                                  "status": "leak", "score": 1.0, "unit": "",
                                  "threshold": None, "baseline": None, "note": evil}]}],
        "context": {"available": True, "reason": None}, "trends": [],
        "surveys": {"groups": [], "checkin_max_age_days": 90,
                    "checkins": [{"group": "g", "name": evil, "consumer": True, "last": None,
                                  "days": None, "status": "watch"}],
                    "comments": [{"date": "2026-01-01", "group": "g", "group_name": evil,
                                  "dimension": "d", "score": 1.0, "text": evil}]},
        "value_links": {"consumers": [{"id": "g", "name": evil, "kind": "customer"}],
                        "outcomes": [{"id": "o", "name": evil, "contribution": 1.0,
                                      "status": "active", "owner": evil, "kpi": None}]},
        "streams": [], "journeys": [], "history": [point],
    }
    figs = {"trends": [], "streams": [], "processes": {}, "journeys": [],
            "history": make_island(history_figure([point], evil, "EUR"))}
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                       "query_string": b"", "session": {}})
    expected = {"money": 1.0, "hours": 0.0, "low": None, "high": None, "formula": evil,
                "since": None, "as_of": "2026-01-01", "drivers": []}
    actions = {"may_act": True, "latest": True, "owner": evil, "recovery_formula": evil,
               "leaks": [{"cause": "flow", "money": 1.0, "low": None, "high": None,
                          "since": None}],
               "actions": [{"id": 1, "cause": "perception", "owner": evil, "due": None,
                            "status": "done", "reason": evil, "note": evil,
                            "done_on": "2026-01-01", "dismissed_on": None,
                            "expected": expected, "next": ["in progress"],
                            "recovery": {"state": "not recovered yet", "reason": evil,
                                         "formula": evil, "money": None, "low": None,
                                         "high": None},
                            "history": [{"at": "2026-01-01T00:00", "by": evil, "note": evil,
                                         "changes": {"owner": [evil, evil]}}]}]}
    html = templates().get_template("service.html.j2").render(
        request=request, who=None, csrf="t", view=view, figs=figs, figures=True,
        actions=actions)
    assert "<script>alert" not in html and 'id="action-1"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    spec = island(html, "fig-history")
    assert "<script>" not in spec["layout"]["title"]["text"]


def test_pages_state_what_the_check_judged(app: RunningApp) -> None:
    """Issue 14: the portfolio says why the check has its date and what each table held;
    each cause on a service page says on how many rows of which tables it judged."""
    with signed_in(app, "leader") as http:
        portfolio = http.get("/").text
        page = http.get(f"/services/{LEAKING}").text
        data = http.get(f"/api/services/{LEAKING}").json()
    assert "What this check judged" in portfolio and "<td>tickets</td>" in portfolio
    emx = next(c for c in data["causes"] if c["cause"] == "employee_experience")
    tickets = next(k for k in emx["coverage"] if k["table"] == "tickets")
    assert f"Judged on {emx['coverage'][0]['table']}: window" in unescape(page)
    assert f"{tickets['window']['rows']:,} rows ({tickets['window']['first']}.." in page


def test_history_with_several_runs_of_one_date_is_one_point_per_run() -> None:
    """Issue 15: five re-checks as of one date made a date axis of milliseconds
    (23:59:59.999 … 00:00:00.0005); each run is now its own point on a category axis."""
    from dipstick.web.service import history_figure

    points = [{"run_id": i, "as_of": "2026-11-01", "started_at": f"2026-12-05T10:0{i}:00",
               "status": "leak", "score": 80.0,
               "leak_per_month": {"money": 100.0 * i, "hours": 1.0}, "cause": "flow"}
              for i in range(1, 6)]
    fig = history_figure(points, "Invoicing", "EUR")
    assert fig["layout"]["xaxis"]["type"] == "category"
    assert fig["data"][0]["x"] == [f"2026-11-01 · #{i}" for i in range(1, 6)]
    distinct = [{**p, "as_of": f"2026-1{i - 1}-01"} for i, p in enumerate(points[:3], 1)]
    assert history_figure(distinct, "Invoicing", "EUR")["layout"]["xaxis"]["type"] == "date"
