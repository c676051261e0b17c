"""schemathesis against the app's OpenAPI schema (/api/openapi.json), the app called in process
(schemathesis's ASGI transport) on SQLite with an API token: whatever the generated requests
(valid and invalid), no answer is a server error (5xx). Integers past PostgreSQL's column range
are refused by the routes' bounds (422) before any database sees them, so SQLite suffices.

Few examples per operation, so the module runs in well under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest

from dipstick.store import Store
from dipstick.store.users import create_token

from webserver import RunningApp

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")

EXAMPLES = 12   # per operation and generation mode
INT32 = 2**31   # PostgreSQL's integer column range (SQLite's is 2**63)

@pytest.fixture(scope="module")
def auth(app: RunningApp) -> dict[str, str]:
    with Store.open(app.database) as store:
        token = create_token(store, app.users["leader"], "schemathesis").token
    return {"Authorization": f"Bearer {token}"}


def _real_path_values(app: RunningApp, auth: dict[str, str]) -> dict[str, str]:

    with app.client(headers=auth) as http:
        services = http.get("/api/portfolio", params={"status": "leak", "limit": 1}).json()
        runs = http.get("/api/runs").json()
    values = {"service_id": services["services"][0]["id"]}
    if runs.get("runs"):
        values["run_id"] = str(runs["runs"][0].get("id", runs["runs"][0].get("run_id", 1)))
    return values


def test_no_generated_request_gets_a_server_error(app: RunningApp, auth: dict[str, str]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app.asgi, headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/api/me", "/api/portfolio"} <= paths, paths
    real = _real_path_values(app, auth)
    failures: list[str] = []
    calls = 0

    for op in operations:
        names = {p.name for p in op.path_parameters}
        known = {k: v for k, v in real.items() if k in names}
        strategies = [op.as_strategy(mode) for mode in (GenerationMode.POSITIVE,
                                                        GenerationMode.NEGATIVE)]
        if known:   # also with real ids, so the 200 paths are exercised, not only 404s
            strategies.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters=known))

        @settings(max_examples=EXAMPLES * len(strategies), deadline=None, database=None,
                  derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(strategies))
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} "
                                f"query={case.query!r} -> {response.status_code}: "
                                f"{response.text[:200]}")

        run()
    assert calls >= len(operations) * EXAMPLES
    assert not failures, "server errors:\n" + "\n".join(dict.fromkeys(failures))


def test_an_out_of_range_run_id_is_refused_not_a_server_error(app: RunningApp,
                                                      auth: dict[str, str]) -> None:
    import httpx

    sid = _real_path_values(app, auth)["service_id"]
    answers = {}
    for run in (INT32, 2**63):
        for path in (f"/services/{sid}", f"/api/services/{sid}"):
            # a connection of its own per request: a 500 may leave the connection unusable
            with app.client(headers=auth) as http:
                try:
                    answers[path, run] = http.get(path, params={"run": run}).status_code
                except httpx.TransportError as e:
                    answers[path, run] = repr(e)
    # refused by the routes' bounds, whatever the database (PostgreSQL would fail past 2**31)
    assert all(code == 422 for code in answers.values()), answers


def test_an_out_of_range_offset_is_refused_not_a_server_error(app: RunningApp,
                                                            auth: dict[str, str]) -> None:
    """Found by schemathesis: `/api/runs?offset=2**63` reached SQLite as an integer it cannot
    hold (500). Every paged route bounds its offset like its ids."""
    with app.client(headers=auth) as http:
        for path in ("/api/runs", "/api/portfolio", "/"):
            assert http.get(path, params={"offset": 2**63}).status_code == 422, path
            assert http.get(path, params={"offset": 0}).status_code == 200, path
