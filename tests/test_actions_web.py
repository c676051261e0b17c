"""Actions on the web and the JSON API, in process over the demo's app database (its latest
check): who may act (owners on their own services, leaders and admins on all; viewers read),
CSRF on forms and session API writes, 4xx with a JSON body on bad input, the ledger page."""

from __future__ import annotations

import re
from typing import Any

import httpx

from webserver import RunningApp, csrf_of, signed_in


def root_leaks(http: httpx.Client) -> list[tuple[str, str, str | None]]:
    """(service, cause, owner) of every root leak in the latest check, largest first."""
    run = http.get("/api/runs").json()["runs"][0]["id"]
    doc = http.get(f"/api/runs/{run}").json()
    found = [(s["id"], c, s["owner"], f["leak_per_month"]["money"]) for s in doc["services"]
             for c, f in s["causes"].items()
             if f["status"] == "leak" and not f["symptom_of"] and f["basis"] == "measured"]
    return [(s, c, o) for s, c, o, _ in sorted(found, key=lambda x: -x[3])]


def test_a_leader_creates_and_moves_an_action_from_the_service_page(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        sid, cause, _ = root_leaks(http)[0]
        page = http.get(f"/services/{sid}").text
        assert f'id="new-{cause}"' in page and 'href="/ledger"' in page
        token = csrf_of(page)
        r = http.post(f"/services/{sid}/actions", data={
            "csrf_token": token, "cause": cause, "owner": "fixer@example.org",
            "due": "2026-12-31"})
        assert r.status_code == 303 and r.headers["location"].endswith("#actions")
        action = http.get("/api/actions", params={"service": sid}).json()["actions"][0]
        assert (action["cause"], action["owner"], action["status"]) == \
            (cause, "fixer@example.org", "proposed")
        # the portfolio's largest leaks show the action beside its leak
        top = http.get("/").text
        row = re.search(rf'<tr class="leak" data-top="{re.escape(sid)}">(.*?)</tr>', top, re.S)
        assert row and '<span class="tag proposed">proposed</span>' in row.group(1)
        assert "fixer@example.org" in row.group(1) and "due 2026-12-31" in row.group(1)
        page = http.get(f"/services/{sid}").text
        assert f'id="action-{action["id"]}"' in page and f'id="new-{cause}"' not in page
        bad = http.post(f"/actions/{action['id']}", data={"csrf_token": token,
                                                           "status": "dismissed"})
        assert bad.status_code == 422 and "needs a reason" in bad.text
        forged = http.post(f"/actions/{action['id']}", data={"status": "in progress"})
        assert forged.status_code == 403
        ok = http.post(f"/actions/{action['id']}", data={"csrf_token": token,
                                                          "status": "dismissed",
                                                          "reason": "accepted risk"})
        assert ok.status_code == 303
        got = http.get(f"/api/actions/{action['id']}").json()
        assert got["status"] == "dismissed" and got["reason"] == "accepted risk"
        assert [h["by"] for h in got["history"]] == [app.users["leader"]] * 2
        ledger = http.get("/ledger")
        assert ledger.status_code == 200 and f'id="ledger-action-{action["id"]}"' in ledger.text


def test_owners_act_on_their_own_services_only_and_viewers_never(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        leaks = root_leaks(http)
    mine = next((x for x in leaks if x[0] in app.owned), None)
    other = next(x for x in leaks if x[0] not in app.owned)
    with signed_in(app, "owner") as http:
        token = csrf_of(http.get(f"/services/{other[0]}").text)
        r = http.post("/api/actions", json={"service_id": other[0], "cause": other[1]},
                      headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and r.json()["error"] == 403
        if mine is not None:
            r = http.post("/api/actions", json={"service_id": mine[0], "cause": mine[1]},
                          headers={"X-CSRF-Token": token})
            assert r.status_code == 201, r.text
    with signed_in(app, "viewer") as http:
        token = csrf_of(http.get("/ledger").text)
        r = http.post(f"/services/{other[0]}/actions",
                      data={"csrf_token": token, "cause": other[1]})
        assert r.status_code == 403
        assert http.get("/api/ledger").status_code == 200


def test_the_api_answers_bad_input_with_4xx_and_a_json_body(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        sid, cause, _ = root_leaks(http)[-1]
        token = csrf_of(http.get("/ledger").text)
        h = {"X-CSRF-Token": token}
        no_token = http.post("/api/actions", json={"service_id": sid, "cause": cause})
        assert no_token.status_code == 403
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            ("post", "/api/actions", {"service_id": sid, "cause": "nonsense"}, 422,
             "no finding"),
            ("post", "/api/actions", {"service_id": sid}, 422, ""),
            ("patch", "/api/actions/99999", {"status": "done"}, 404, "no action"),
        ]
        for method, url, body, status, text in cases:
            r = http.request(method, url, json=body, headers=h)
            assert r.status_code == status, (url, body, r.text)
            assert "detail" in r.json() and text in str(r.json()["detail"])
        created = http.post("/api/actions", json={"service_id": sid, "cause": cause,
                                                  "due": "2026-12-31"}, headers=h)
        assert created.status_code == 201, created.text
        aid = created.json()["id"]
        r = http.patch(f"/api/actions/{aid}", json={"status": "finished"}, headers=h)
        assert r.status_code == 422 and "must be one of" in r.json()["detail"]
        r = http.patch(f"/api/actions/{aid}", json={"status": "done", "on": "2026-11-20"},
                       headers=h)
        assert r.status_code == 200 and r.json()["recovery"]["state"] == "not recovered yet"
        assert http.get("/api/actions", params={"status": "bogus"}).status_code == 422
        ledger = http.get("/api/ledger").json()
        assert ledger["rows"][-1]["open_actions"] >= 0 and "value_at_risk" in ledger["formulas"]
