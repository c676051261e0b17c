"""The roles matrix: every route of the app × every role (and nobody signed in), asserted
against a table written out here, in process on SQLite.

A route the app has and the table lacks fails (``test_every_route_is_in_the_table``): whoever
adds a route says here who may use it. Raw survey comments never reach a viewer, on any page or
endpoint.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from webserver import ROLES, RunningApp, csrf_of, signed_in

ANONYMOUS = "anonymous"
WHO = (ANONYMOUS, *ROLES)

# expected status per caller; "login" = 303 to /login?next=… (pages without a session)
PAGE = {ANONYMOUS: "login", "viewer": 200, "owner": 200, "leader": 200, "admin": 200}
API = {ANONYMOUS: 401, "viewer": 200, "owner": 200, "leader": 200, "admin": 200}
PUBLIC = dict.fromkeys(WHO, 200)
ADMIN_PAGE = {ANONYMOUS: "login", "viewer": 403, "owner": 403, "leader": 403, "admin": 200}
ADMIN_API = {ANONYMOUS: 401, "viewer": 403, "owner": 403, "leader": 403, "admin": 200}

TABLE: dict[tuple[str, str], dict[str, Any]] = {
    # sign-in and assets
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): dict.fromkeys(WHO, 401),     # a wrong password, with the form token
    ("POST", "/logout"): dict.fromkeys(WHO, "login"),
    ("GET", "/static/plotly.min.js"): PUBLIC,
    ("GET", "/static"): PUBLIC,                       # the mount: /static/app.css
    # the API's OpenAPI schema (no Swagger UI: it would load from a CDN)
    ("GET", "/api/openapi.json"): API,
    # pages
    ("GET", "/"): PAGE,
    ("GET", "/services/{service_id}"): PAGE,
    ("GET", "/value-map"): PAGE,
    ("GET", "/streams"): PAGE,
    ("GET", "/journeys"): PAGE,
    # the JSON API
    ("GET", "/api/me"): API,
    ("GET", "/api/portfolio"): API,
    ("GET", "/api/runs"): API,
    ("GET", "/api/services/{service_id}"): API,
    ("GET", "/api/services/{service_id}/evidence"): API,
    ("GET", "/api/services/{service_id}/shifts"): API,
    ("GET", "/api/services/{service_id}/history"): API,
    ("GET", "/api/outcomes"): API,
    ("GET", "/api/streams"): API,
    ("GET", "/api/journeys"): API,
    # running checks from the web: everyone reads the history, only admins start or load
    ("GET", "/runs"): PAGE,
    ("POST", "/runs"): ADMIN_PAGE | {"admin": 303},          # → the job's page
    ("POST", "/runs/upload"): ADMIN_PAGE | {"admin": 409},   # uploads off: said before the body
    ("GET", "/runs/jobs/{job_id}"): ADMIN_PAGE,
    ("GET", "/api/runs/{run_id}"): API,
    ("GET", "/api/packages"): ADMIN_API,
    ("POST", "/api/packages"): ADMIN_API | {"admin": 409},   # uploads off: said before the body
    ("POST", "/api/runs"): ADMIN_API | {"admin": 202},
    ("GET", "/api/runs/jobs/{job_id}"): ADMIN_API,
    # pulse checks (docs/pulse.md): the campaign is of the owner's service; the answer form is
    # public (the link is the key; a post without the form's nonce is refused)
    ("GET", "/pulse"): PAGE,
    ("GET", "/pulse/overdue"): PAGE,
    ("POST", "/pulse/campaigns"): PAGE | {r: 422 for r in ROLES},   # no service_id sent
    ("GET", "/pulse/campaigns/{campaign_id}"): PAGE,
    ("GET", "/pulse/campaigns/{campaign_id}/export.csv"): PAGE,      # viewers: no comments
    ("POST", "/pulse/campaigns/{campaign_id}/links"):                # no count sent: 422
        PAGE | {"viewer": 403, "leader": 403, "owner": 422, "admin": 422},
    ("GET", "/api/pulse/campaigns"): API,
    ("GET", "/api/pulse/campaigns/{campaign_id}"): API,
    ("GET", "/api/pulse/overdue"): API,
    # the self-assessment (docs/self-assessment.md): leaders and admins answer for every
    # service, owners for their own (the matrix's service is not the owner's), viewers never;
    # a post with the form token and no answer stores nothing and returns to the page
    ("GET", "/services/{service_id}/self-assessment"): PAGE | {"viewer": 403, "owner": 403},
    ("POST", "/services/{service_id}/self-assessment"):
        PAGE | {"viewer": 403, "owner": 403, "leader": 303, "admin": 303},
    ("GET", "/api/services/{service_id}/self-assessment"): API,
    # actions (docs/actions.md): owners act on their own services (the matrix's is not the
    # owner's), leaders and admins on all, viewers never
    ("GET", "/ledger"): PAGE,
    ("GET", "/api/ledger"): API,
    ("GET", "/api/actions"): API,
    ("GET", "/api/actions/{action_id}"): API,
    ("POST", "/api/actions"): API | {r: 422 for r in ROLES},             # no body sent
    ("PATCH", "/api/actions/{action_id}"): API | {r: 422 for r in ROLES},
    ("POST", "/services/{service_id}/actions"):                          # no cause sent
        PAGE | {"viewer": 403, "owner": 403, "leader": 422, "admin": 422},
    ("POST", "/actions/{action_id}"):                                    # nothing to change
        PAGE | {"viewer": 403, "owner": 403, "leader": 422, "admin": 422},
    ("GET", "/p/{token}"): PUBLIC,
    ("POST", "/p/{token}"): dict.fromkeys(WHO, 403),
    # the admin's users page (docs/web.md, "Managing users"): a post with only the form token
    # names no user (422)
    ("GET", "/users"): ADMIN_PAGE,
    ("POST", "/users/disable"): ADMIN_PAGE | {"admin": 422},
    ("POST", "/users/enable"): ADMIN_PAGE | {"admin": 422},
    ("POST", "/users/role"): ADMIN_PAGE | {"admin": 422},
    ("POST", "/users/tokens/revoke"): ADMIN_PAGE | {"admin": 422},
    # sign-in through the identity provider: not set up in this app (tests/test_oidc.py is)
    ("GET", "/login/oidc"): dict.fromkeys(WHO, 404),
    ("GET", "/login/oidc/callback"): dict.fromkeys(WHO, 404),
    # the audit trail (issue 17, docs/web.md): admins only
    ("GET", "/audit"): ADMIN_PAGE,
    ("GET", "/api/audit"): ADMIN_API,
}


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, routers included (FastAPI ≥ 0.16x keeps
    included routers as nested route groups; older ones flatten them)."""
    from dipstick.web.app import WebConfig, create_app

    found: set[tuple[str, str]] = set()
    for route in create_app(WebConfig(secret_key="roles-test")).routes:
        if hasattr(route, "effective_route_contexts"):
            pairs = [(c.path, c.original_route) for c in route.effective_route_contexts()]
        else:
            pairs = [(getattr(route, "path", ""), route)]
        for path, original in pairs:
            methods = getattr(original, "methods", None) or {"GET"}   # a mount serves GET
            found |= {(m, path) for m in methods if m != "HEAD"}
    return found


def test_every_route_is_in_the_table() -> None:
    routes = app_routes()
    missing = sorted(routes - TABLE.keys())
    assert not missing, f"routes with no entry in the roles table (say who may use them): {missing}"
    stale = sorted(TABLE.keys() - routes)
    assert not stale, f"roles table entries for routes the app no longer has: {stale}"
    assert all(set(row) == set(WHO) for row in TABLE.values())


# --- the server -------------------------------------------------------------------------------

@dataclass
class Matrix:
    app: RunningApp
    clients: dict[str, httpx.Client]
    params: dict[str, str]          # path parameter -> a real value
    comments: list[str]             # raw survey comments the leader sees for params' service


@pytest.fixture(scope="module")
def matrix(app: RunningApp) -> Iterator[Matrix]:
    """The app in process on SQLite (no route has database-specific code), a signed-in client
    per role, and real values for every path parameter."""
    with ExitStack() as stack:
        clients = {role: stack.enter_context(signed_in(app, role)) for role in ROLES}
        clients[ANONYMOUS] = stack.enter_context(
            app.client())
        params, comments = _real_params(clients["leader"])
        params |= _run_params(clients["admin"])
        params |= _pulse_params(app)
        params["action_id"] = _action(clients["leader"], params["service_id"])
        yield Matrix(app, clients, params, comments)


def _real_params(leader: httpx.Client) -> tuple[dict[str, str], list[str]]:
    """A leaking service of the demo whose raw comments the leader can read."""
    services = leader.get("/api/portfolio", params={"status": "leak", "limit": 100}).json()
    ids = [s["id"] for s in services["services"]]
    assert ids, "the demo has no leaking service"
    for sid in ids:
        found = leader.get(f"/api/services/{sid}")
        if found.status_code != 200:
            continue
        texts = [c["text"] for c in found.json().get("surveys", {}).get("comments", [])
                 if c.get("text")]
        if texts:
            return {"service_id": sid}, texts
    return {"service_id": ids[0]}, []


def _action(leader: httpx.Client, service_id: str) -> str:
    """An action on the matrix service's largest root leak (docs/actions.md)."""
    causes = leader.get(f"/api/services/{service_id}/evidence").json()["causes"]
    cause = next(c["cause"] for c in causes if c["status"] == "leak" and not c["symptom_of"])
    token = csrf_of(leader.get("/login").text)
    r = leader.post("/api/actions", json={"service_id": service_id, "cause": cause},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _run_params(admin: httpx.Client) -> dict[str, str]:
    """A stored run and a web check (job) started by the admin."""
    run_id = admin.get("/api/runs?limit=1").json()["runs"][0]["id"]
    token = csrf_of(admin.get("/runs").text)
    job = admin.post("/api/runs", json={"package": "configured"},
                     headers={"X-CSRF-Token": token}).json()
    return {"run_id": str(run_id), "job_id": job["id"]}


def _pulse_params(app: RunningApp) -> dict[str, str]:
    """A check-in of the owner's service and one unused invitation link of it."""
    from dipstick.package import load_package
    from dipstick.pulse.campaigns import add_invitations, start_campaign
    from dipstick.store import Store

    loaded = load_package(app.package)
    with Store.open(app.database) as store:
        c = start_campaign(store, loaded.model, app.owned[0], created_by="test")
        link = add_invitations(store, c, [(None, c.groups[0])])[0]
    loaded.close()
    return {"campaign_id": str(c.id), "token": link.token}


def _url(path: str, params: dict[str, str]) -> str:
    if path == "/static":
        return "/static/app.css"
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    unknown = [n for n in names if n not in params]
    assert not unknown, f"no real value for path parameter(s) {unknown} of {path}: add one"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: params[m.group(1)], path)


def _call(m: Matrix, who: str, method: str, path: str) -> httpx.Response:
    url = _url(path, m.params)
    http = m.clients[who]
    if method == "GET":
        return http.get(url)
    if path == "/logout":   # a session of its own, so the shared ones stay signed in
        if who == ANONYMOUS:
            token = csrf_of(http.get("/login").text)
            return http.post(url, data={"csrf_token": token})
        with signed_in(m.app, who) as own:
            token = csrf_of(own.get("/").text)
            return own.post(url, data={"csrf_token": token})
    if path == "/login":
        token = csrf_of(http.get("/login").text)
        return http.post(url, data={"email": m.app.users.get(who, "nobody@example.org"),
                                    "password": "not the password", "csrf_token": token})
    token = csrf_of(http.get("/login").text)
    if (method, path) == ("POST", "/runs"):      # a check of the configured package
        return http.post(url, data={"csrf_token": token, "package": "configured"})
    if (method, path) == ("POST", "/api/runs"):
        return http.post(url, json={"package": "configured"}, headers={"X-CSRF-Token": token})
    if (method, path) == ("POST", "/runs/upload"):   # the token rides ahead of the body
        return http.post(url, params={"csrf_token": token})
    if path.startswith("/api/"):                 # a session's API writes carry the header
        return http.request(method, url, headers={"X-CSRF-Token": token})
    # a new POST (or other) route: the form token of the caller's session, nothing else
    return http.request(method, url, data={"csrf_token": token})


def _case(method: str, path: str, who: str, expected: Any) -> Any:
    marks = ()
    if hasattr(expected, "marks"):   # a pytest.param: a known bug, marked xfail
        marks, expected = expected.marks, expected.values[0]
    return pytest.param(method, path, who, expected, id=f"{method} {path} as {who}", marks=marks)


CASES = [_case(method, path, who, expected)
         for (method, path), row in TABLE.items() for who, expected in row.items()]


@pytest.mark.parametrize(("method", "path", "who", "expected"), CASES)
def test_role_matrix(matrix: Matrix, method: str, path: str, who: str, expected: Any) -> None:
    r = _call(matrix, who, method, path)
    if expected == "login":
        assert r.status_code == 303, (r.status_code, r.text[:300])
        assert r.headers["location"].startswith("/login"), r.headers["location"]
    else:
        assert r.status_code == expected, (r.status_code, r.text[:300])
    if who == ANONYMOUS and method == "GET" and path.startswith("/api/") and expected == 401:
        assert r.json()["error"] == 401


def test_the_leader_reads_raw_comments(matrix: Matrix) -> None:
    """The viewer check below is not vacuous: the demo service has comments the leader sees."""
    assert matrix.comments, "no leaking demo service shows raw comments to a leader"
    page = matrix.clients["leader"].get(_url("/services/{service_id}", matrix.params)).text
    assert any(html.escape(c) in page for c in matrix.comments)


@pytest.mark.parametrize("path", sorted(p for m, p in TABLE if m == "GET" and p != "/static"))
def test_a_viewer_never_gets_raw_comments(matrix: Matrix, path: str) -> None:
    r = matrix.clients["viewer"].get(_url(path, matrix.params))
    expected = TABLE["GET", path]["viewer"]
    assert r.status_code == (expected if expected in (200, 404) else 403)
    body = r.text
    leaked = [c for c in matrix.comments if c in body or html.escape(c) in body]
    assert not leaked, f"{path} shows a viewer raw comments: {leaked[:3]}"
    if path.startswith("/api/services/"):
        assert "comments" not in r.json().get("surveys", {})
