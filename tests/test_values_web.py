"""A web check of a package whose numbers or dates mean nothing (issue 17, part B1): the job
fails with the problems, and ``GET /api/runs/jobs/{id}`` answers them as JSON every time
(it answered 500 when a result held ``inf``, which is not JSON)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dipstick.store import Store
from dipstick.store.users import create_token

from builder import PackageBuilder
from test_web_runs import wait_for
from webserver import RunningApp, running_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app checking a package that is valid when it starts (the app reads the package at
    each check: a test changes its hourly rate with ``rate``)."""
    root = PackageBuilder(tmp_path_factory.mktemp("inf") / "pkg").healthy().write()
    database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    with running_app(database, root) as app:
        yield app


def rate(app: RunningApp, value: str) -> None:
    file = app.package / "dipstick.yaml"
    text = file.read_text()
    start = text.index("hourly_rate: ")
    end = text.index("\n", start)
    file.write_text(text[:start] + f"hourly_rate: {value}" + text[end:])


def test_a_web_check_of_an_infinite_rate_fails_with_the_problem_as_json(app: RunningApp) -> None:
    with Store.open(app.database) as store:
        token = create_token(store, app.users["admin"], "ci").token
    rate(app, ".inf")
    with app.client(headers={"Authorization": f"Bearer {token}"}) as http:
        before = http.get("/api/runs").json()["total"]
        r = http.post("/api/runs", json={"package": "configured"})
        assert r.status_code == 202, r.text
        job = wait_for(http, r.json()["id"])
        assert job["state"] == "failed", job
        assert "organisation.hourly_rate" in str(job)
        for _ in range(2):   # every time, not only the first
            again = http.get(f"/api/runs/jobs/{job['id']}")
            assert again.status_code == 200 and again.json()["state"] == "failed"
        assert http.get("/api/runs").json()["total"] == before   # nothing stored


def test_a_web_check_as_of_9999_is_refused(app: RunningApp) -> None:
    with Store.open(app.database) as store:
        token = create_token(store, app.users["admin"], "ci2").token
    rate(app, "50")
    with app.client(headers={"Authorization": f"Bearer {token}"}) as http:
        for day in ("9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01"):
            r = http.post("/api/runs", json={"package": "configured", "as_of": day})
            assert r.status_code == 422, (day, r.text)
            [why] = r.json()["detail"]          # the API's error body, the field named
            assert why["loc"] == ["body", "as_of"] and why["input"] == day, why
        r = http.post("/api/runs", json={"package": "configured", "as_of": "2200-12-31"})
        assert r.status_code == 202, r.text   # the range's last day is in it
