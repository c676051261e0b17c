"""The value map, streams and journeys pages and their APIs, the app in process over a real
SQLite database, against the demo organisation's model and ground truth."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from dipstick.check import CheckResult, run_check
from dipstick.figures._common import short_label
from dipstick.figures.valuemap import WORST_LIMIT, MapOptions, value_map_figure
from dipstick.findings import CheckContext, CommonSpec
from dipstick.indicators.common import monthly_costs
from dipstick.indicators.registry import split_settings
from dipstick.model import ValueModel
from dipstick.package import load_package

from builder import PackageBuilder
from webserver import RunningApp, signed_in

PAGES = ("/value-map", "/streams", "/journeys")
APIS = ("/api/outcomes", "/api/streams", "/api/journeys")


@pytest.fixture(scope="module")
def model(package: Path) -> ValueModel:
    loaded = load_package(package)
    try:
        return loaded.model
    finally:
        loaded.close()


def island(page: str, figure_id: str) -> dict[str, Any]:
    """The figure JSON of a page's island (and its drawing div must be there)."""
    assert f'data-figure="{figure_id}"' in page
    found = re.search(rf'<script type="application/json" id="{re.escape(figure_id)}">(.*?)'
                      r"</script>", page, re.S)
    assert found, f"no island {figure_id}"
    spec: dict[str, Any] = json.loads(found.group(1))
    return spec


def section(page: str, element_id: str) -> str:
    found = re.search(rf'<section[^>]*id="{re.escape(element_id)}".*?</section>', page, re.S)
    assert found, f"no section {element_id}"
    return found.group(0)


def test_the_value_map_draws_services_outcomes_and_groups(app: RunningApp,
                                                          model: ValueModel) -> None:
    with signed_in(app, "leader") as http:
        page = http.get("/value-map")
    assert page.status_code == 200
    assert '<a href="/value-map">Value map</a>' in page.text
    sankey = island(page.text, "valuemap-sankey")["data"][0]
    assert sankey["type"] == "sankey"
    labels = set(sankey["node"]["label"])
    live = [o for o in model.outcomes if o.status == "active"]
    supported = {v.outcome for s in model.services for v in s.supports}
    assert {short_label(o.name) for o in live if o.id in supported} <= labels
    consumers = {g for s in model.services for g in s.consumers}
    groups = [g for g in model.stakeholder_groups if g.id in consumers]
    assert groups and {short_label(g.name) for g in groups} <= labels
    assert "no live outcome" in labels
    # every demo service on its own (under the grouping limit), coloured by its light
    assert {short_label(s.name) for s in model.services} <= labels
    assert len(sankey["link"]["value"]) == len(sankey["link"]["source"]) > len(model.services)


def test_services_supporting_no_live_outcome_stand_out(app: RunningApp, model: ValueModel,
                                                       package: Path) -> None:
    truth = json.loads((package / "ground_truth.json").read_text())
    live = {o.id for o in model.outcomes if o.status == "active"}
    expected = {s.id for s in model.services if s.lifecycle != "retired"
                and not any(v.outcome in live for v in s.supports)}
    planted = {x["service"] for x in truth["leaks"] if x["cause"] == "alignment"}
    assert expected and expected <= planted      # the demo's "supports only a retired outcome"
    with signed_in(app, "leader") as http:
        data = http.get("/api/outcomes").json()
        page = http.get("/value-map").text
    assert {s["id"] for s in data["no_live_outcome"]} == expected
    listed = section(page, "no-live-outcome")
    for sid in expected:
        s = model.service(sid)
        assert f'data-service="{sid}"' in listed and html.escape(s.name) in listed
    assert data["summary"]["no_live_outcome"] == len(expected)


def test_the_outcomes_api_has_the_page_numbers(app: RunningApp, model: ValueModel) -> None:
    with signed_in(app, "owner") as http:
        data = http.get("/api/outcomes").json()
        page = http.get("/value-map").text
    assert data["run"]["organisation"] == "Northwind Retail (demo)" and data["missing"] is None
    assert [o["id"] for o in data["outcomes"]] != [] and (
        {o["id"] for o in data["outcomes"]} == {o.id for o in model.outcomes})
    summary = re.search(r'<p class="totals" id="outcome-summary">.*?</p>', page, re.S)
    assert summary
    for key in ("active", "off_target", "kpi_unknown", "no_live_outcome"):
        assert f'data-key="{key}">{data["summary"][key]}<' in summary.group(0)
    table = re.search(r'<table class="lights" id="outcomes">.*?</table>', page, re.S)
    assert table
    rows = {m.group(1): m.group(0) for m in
            re.finditer(r'<tr data-outcome="([^"]+)".*?</tr>', table.group(0), re.S)}
    assert list(rows) == [o["id"] for o in data["outcomes"]]
    for o in data["outcomes"]:
        row = rows[o["id"]]
        kpi = o["kpi"]
        assert f'class="dot {o["kpi_status"]}"' in row
        if kpi and kpi["actual"] is not None:
            assert f'data-key="actual">{kpi["actual"]:g}<' in row
            assert f'{kpi["gap"]:.0%}' in row
        for s in o["services"]:
            assert f'href="/services/{s["id"]}"' in row
            assert s["status"] in ("leak", "watch", "ok", "unknown") and s["lights"]
    # the planted KPI drifts show as off target
    off = {o["id"] for o in data["outcomes"] if o["kpi_status"] in ("leak", "watch")}
    assert {"qualified_leads", "repeat_purchase"} <= off
    assert data["summary"]["off_target"] == len(off)


def test_streams_show_every_vsm_and_the_discovered_process_map(app: RunningApp,
                                                               model: ValueModel) -> None:
    with signed_in(app, "leader") as http:
        page = http.get("/streams").text
        data = http.get("/api/streams").json()
    by_id = {s["id"]: s for s in data["streams"]}
    assert set(by_id) == {s.id for s in model.value_streams}
    hand = [s for s in model.value_streams if s.steps]
    assert hand
    for n, s in enumerate(data["streams"], start=1):
        card = section(page, f"stream-{s['id']}")
        assert html.escape(s["name"]) in card
        vsm = island(card, f"vsm-{n}")
        assert [b["type"] for b in vsm["data"]] == ["bar", "bar"]
        if s["discovery"] is None:
            assert "Process map" not in card
    for s in hand:
        assert by_id[s.id]["source"] == "steps" and by_id[s.id]["discovery"] is None
        assert [st["name"] for st in by_id[s.id]["steps"]] == [st.name for st in s.steps]
    found = by_id["access_request"]
    assert found["source"] == "event_log" and found["discovery"]["cases"] > 0
    n = [s["id"] for s in data["streams"]].index("access_request") + 1
    card = section(page, "stream-access_request")
    assert "Process map" in card
    assert island(card, f"process-{n}")["layout"]["meta"]["edges_total"] == len(
        found["discovery"]["edges"])
    assert f'{found["discovery"]["cases"]:,}' in card


def test_journeys_show_their_emotion_curves_and_touchpoints(app: RunningApp,
                                                            model: ValueModel) -> None:
    with signed_in(app, "leader") as http:
        page = http.get("/journeys").text
        data = http.get("/api/journeys").json()
    assert [j["id"] for j in data["journeys"]] == [j.id for j in model.journeys]
    for n, j in enumerate(data["journeys"], start=1):
        card = section(page, f"journey-{j['id']}")
        curve = island(card, f"journey-{n}")
        assert curve["layout"]["meta"]["journey"] == j["id"]
        tps = [t for st in j["stages"] for t in st["touchpoints"]]
        assert curve["layout"]["meta"]["touchpoints"] == [t["id"] for t in tps]
        for t in tps:
            assert f'data-touchpoint="{t["id"]}"' in card
            if t["drop_off_rate"] is not None:
                assert f'{t["drop_off_rate"]:.1%}' in card
    # the demo's planted drop-off at "Track the delivery" shows as got worse
    worse = {t["name"] for j in data["journeys"] for st in j["stages"]
             for t in st["touchpoints"] if t["got_worse"]}
    assert "Track the delivery" in worse


def test_a_viewer_may_read_these_pages_and_nobody_without_signing_in(app: RunningApp) -> None:
    with signed_in(app, "viewer") as http:
        for path in PAGES + APIS:
            assert http.get(path).status_code == 200, path
    with app.client() as http:
        for path in PAGES:
            r = http.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
        for path in APIS:
            assert http.get(path).status_code == 401


def test_the_sankey_groups_a_large_catalog_and_escapes_names(tmp_path: Path) -> None:
    """Past 80 services the leak/watch ones stay on their own (at most 60, worst first) and the
    rest are grouped per capability; names reach Plotly escaped."""
    b = PackageBuilder(tmp_path / "pkg")
    for i in range(90):
        b.service(f"s{i}", capability=f"cap{i % 3}")
    b.service("evil", name="<script>alert(1)</script>", supports=[])
    loaded = load_package(b.write())
    try:
        result = run_check(loaded)
        fig = value_map_figure(loaded.model, result)
    finally:
        loaded.close()
    meta = fig.layout.meta
    assert meta["individual"] == WORST_LIMIT and meta["grouped"] == 91 - WORST_LIMIT
    assert meta["groups"] == 3
    labels = list(fig.data[0].node.label)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in labels   # the leaking one, worst first
    assert not any("<script" in str(x) for x in labels + list(fig.data[0].node.customdata))
    assert meta["links"]["&lt;script&gt;alert(1)&lt;/script&gt;"] == "/services/evil"
    assert sum(1 for x in labels if x.startswith("cap")) == 3 and "no live outcome" in labels


def test_the_lists_are_paged_with_their_totals(app: RunningApp) -> None:
    """Outcomes, streams and journeys: ``limit``/``offset`` give consecutive pages that put
    back together are the whole list; out-of-range paging is a 422 with a JSON body."""
    with signed_in(app, "leader") as http:
        for api, key in (("/api/outcomes", "outcomes"), ("/api/streams", "streams"),
                         ("/api/journeys", "journeys")):
            whole = http.get(api).json()[key]
            assert len(whole) >= 2, api
            pages = [http.get(api, params={"limit": 1, "offset": i}).json()
                     for i in range(len(whole) + 1)]
            assert [p[key][0] for p in pages[:-1]] == whole
            assert pages[-1][key] == []
            assert all(p["limit"] == 1 and p["offset"] == i for i, p in enumerate(pages))
            if key != "outcomes":
                assert all(p["total"] == len(whole) for p in pages)
            else:
                assert all(p["summary"]["outcomes"] == len(whole) for p in pages)
            bad = http.get(api, params={"limit": 0})
            assert bad.status_code == 422 and bad.json()


def test_every_cost_on_the_value_map_is_the_one_the_check_priced_the_service_with(
        app: RunningApp, package: Path, demo_result: CheckResult) -> None:
    """Issue 15: the map read the catalog's monthly_cost (survey tool: 1,460 EUR) while the
    leak formulas read costs.csv's latest month in the window (1,475 EUR). Every cost of the
    page, the API and the Sankey is now the check's own figure, and the page says what it is."""
    loaded = load_package(package)
    try:
        model = loaded.model
        ctx = CheckContext(model, loaded.signals, demo_result.window,
                           split_settings(model.settings, CommonSpec))
        priced = monthly_costs(ctx)
    finally:
        loaded.close()
    assert any(round(s.monthly_cost) != round(priced[s.id]) for s in model.services)
    with signed_in(app, "leader") as http:
        data = http.get("/api/outcomes").json()
        page = http.get("/value-map").text
    shown = {s["id"]: s["monthly_cost"] for o in data["outcomes"] for s in o["services"]}
    shown |= {s["id"]: s["monthly_cost"] for s in data["no_live_outcome"]}
    assert set(shown) >= {s.id for s in model.services if s.lifecycle != "retired"}
    assert shown == {sid: round(priced[sid], 2) for sid in shown}
    # the leak formulas name the same figure ("run cost 1,475 EUR")
    named = {v.service.id: m.group(1) for v in demo_result.verdicts for f in v.findings
             if (m := re.search(r"run cost ([\d,]+) EUR", f.leak.formula))}
    assert named and all(f"{shown[sid]:,.0f}" == text for sid, text in named.items())
    listed = section(page, "no-live-outcome")
    for s in data["no_live_outcome"]:
        assert re.search(rf'data-service="{s["id"]}".*?data-key="monthly_cost">'
                         rf'{s["monthly_cost"]:,.0f} EUR<', listed, re.S)
    assert data["summary"]["cost_basis"] in html.unescape(listed)
    assert "latest month of costs.csv" in data["summary"]["cost_basis"]
    # the Sankey: each service's hover and its links' widths
    sankey = island(page, "valuemap-sankey")
    node, links = sankey["data"][0]["node"], sankey["layout"]["meta"]["links"]
    for label, href in links.items():
        sid = href.rsplit("/", 1)[1]
        hover = node["customdata"][node["label"].index(label)]
        assert f"{priced[sid]:,.0f} EUR run cost a month" in hover, (sid, hover)
    assert {h.rsplit("/", 1)[1] for h in links.values()} == {
        s.id for s in model.services if s.lifecycle != "retired"}


def test_grouping_by_capability_or_owner_and_filtering_draw_fewer_nodes(tmp_path: Path) -> None:
    """Services sharing a capability or an owner become one node each; a group of one stays
    its service; the filters keep only the lights or names asked for."""
    b = PackageBuilder(tmp_path / "pkg")
    for i in range(12):
        b.service(f"s{i}", capability=f"cap{i % 3}", owner=f"o{i % 4}@example.org")
    b.service("alone", name="Lonely tool", capability="solo", owner="solo@example.org")
    loaded = load_package(b.write())
    try:
        result = run_check(loaded)
        figures = {g: value_map_figure(loaded.model, result, options=MapOptions(group=g))
                   for g in ("none", "capability", "owner")}
        lonely = value_map_figure(loaded.model, result, options=MapOptions(text="LONELY"))
    finally:
        loaded.close()
    meta = {g: f.layout.meta for g, f in figures.items()}
    assert meta["none"]["individual"] == 13 and meta["none"]["groups"] == 0
    assert meta["capability"]["groups"] == 3 and meta["capability"]["individual"] == 1
    assert meta["owner"]["groups"] == 4 and meta["owner"]["individual"] == 1
    sizes = {g: len(f.data[0].node.label) for g, f in figures.items()}
    assert sizes["capability"] < sizes["owner"] < sizes["none"]
    assert "Lonely tool" in figures["capability"].data[0].node.label
    assert "cap0 · 4 services" in figures["capability"].data[0].node.label
    assert lonely.layout.meta["services"] == 1
    assert list(lonely.layout.meta["links"]) == ["Lonely tool"]
