"""SQL injection, re-run as a test (issue 17: the attack test's 1,178 requests held; keep it so).

Every GET route the app answers gets SQL in every path and query parameter it declares, as an
admin (who may open every route) and on both backends: no answer is a 5xx, and afterwards
the app database holds exactly what it held before (no row more, none less), its users
still sign in. A SQL-built query that pasted a parameter in would fail one of the three.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, inspect, select, table

from dipstick.store import Store
from dipstick.web.app import WebConfig, create_app

from webserver import PASSWORD, PreparedDemo, RunningApp, app_on, csrf_of, signed_in

PAYLOADS = (
    "' OR '1'='1",
    "x'; DROP TABLE users; --",
    "1 UNION SELECT email, password_hash FROM users --",
    "%' AND 1=CAST((SELECT password_hash FROM users LIMIT 1) AS INT) --",
    "\\'; DELETE FROM runs; --",
    "1; UPDATE users SET role='admin'",
)
# declared types that take no text: SQL there is a 422 before any query (tested all the same)
SKIP_PATHS = ("/static", "/static/plotly.min.js", "/login/oidc", "/login/oidc/callback")


def _params(dependant: Any) -> tuple[list[str], list[str]]:
    """The path and query parameters a route declares, its dependencies' included."""
    paths = [p.alias for p in dependant.path_params]
    queries = [p.alias for p in dependant.query_params]
    for sub in dependant.dependencies:
        more_paths, more_queries = _params(sub)
        paths += more_paths
        queries += more_queries
    return paths, queries


def get_routes() -> list[tuple[str, list[str], list[str]]]:
    """(path, its path parameters, its query parameters) of every GET route."""
    found = []
    for route in create_app(WebConfig(secret_key="injection-test")).routes:
        pairs = ([(c.path, c.original_route) for c in route.effective_route_contexts()]
                 if hasattr(route, "effective_route_contexts") else [(getattr(route, "path", ""),
                                                                      route)])
        for path, original in pairs:
            if isinstance(original, APIRoute) and "GET" in original.methods \
                    and path not in SKIP_PATHS:
                paths, queries = _params(original.dependant)
                found.append((path, sorted(set(paths)), sorted(set(queries))))
    return sorted(found)


def counts(database: str) -> dict[str, int]:
    """Rows per table of the app database, but the two a sign-in adds to (its session, its
    audit entry)."""
    with Store.open(database) as store:
        names = [n for n in inspect(store.engine).get_table_names()
                 if n not in ("audit_log", "web_sessions", "alembic_version")]
        with store.engine.connect() as conn:
            return {n: conn.execute(select(func.count()).select_from(table(n))).scalar_one()
                    for n in names}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, package: Path, web_demo: PreparedDemo,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with app_on(request.param, package, tmp_path_factory, web_demo) as running:
        yield running


def test_sql_in_every_parameter_of_every_get_route_changes_nothing(app: RunningApp) -> None:
    routes = get_routes()
    assert len(routes) > 30 and any(q for _, _, q in routes)   # the walk found the routes
    before = counts(app.database)
    assert before["users"] and before["runs"]
    asked = 0
    with signed_in(app, "admin") as http:
        for path, path_params, query_params in routes:
            for payload in PAYLOADS:
                url = path
                for name in path_params:
                    url = url.replace(f"{{{name}}}", payload.replace("/", "%2F"))
                for name in query_params or [None]:
                    answer = http.get(url, params={name: payload} if name else None)
                    asked += 1
                    assert answer.status_code < 500, (url, name, payload, answer.text[:300])
    assert asked > 300
    assert counts(app.database) == before
    with app.client() as http:   # the users still sign in with their own passwords
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users["viewer"], "password": PASSWORD,
                                      "csrf_token": token})
        assert r.status_code == 303
        assert http.get("/api/me").json()["role"] == "viewer"


def test_sql_in_the_sign_in_form_signs_no_one_in(app: RunningApp) -> None:
    for payload in PAYLOADS:
        with app.client() as http:
            token = csrf_of(http.get("/login").text)
            for email, password in ((payload, payload), (app.users["admin"], payload),
                                    (f"{app.users['admin']}' --", "x")):
                r = http.post("/login", data={"email": email, "password": password,
                                              "csrf_token": token})
                assert r.status_code in (401, 429), (email, r.status_code)
            assert http.get("/api/me").status_code == 401
