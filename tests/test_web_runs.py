"""Running checks from the web (issue 5, item 5), in process on SQLite:
an admin checks the configured package or uploads a zip (validated first, kept as a new
version), follows the progress, and the run lands in the same history the CLI writes to.
A bad or unsafe zip replaces nothing and stores nothing; only admins may start anything.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dipstick.check import run_check
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.store.users import create_token

from builder import PackageBuilder
from webserver import RunningApp, csrf_of, running_app, signed_in


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small leaking package: quick to check, and a known answer to compare with."""
    root = tmp_path_factory.mktemp("small") / "pkg"
    return (PackageBuilder(root).healthy().satisfaction_step("crm", before=8.5, after=4.0)
            .write())


@pytest.fixture(scope="module")
def app(small: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app in process on SQLite, checking ``small`` and keeping uploads."""
    database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    with running_app(database, small, packages_dir=tmp_path_factory.mktemp("uploads")) as app:
        yield app


def zipped(folder: Path, top: str | None = "pkg") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                name = f.relative_to(folder).as_posix()
                z.write(f, f"{top}/{name}" if top else name)
    return buf.getvalue()


def wait_for(http: httpx.Client, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/api/runs/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def total_runs(http: httpx.Client) -> int:
    total: int = http.get("/api/runs").json()["total"]
    return total


def expected_summary(package: Path) -> dict[str, Any]:
    loaded = load_package(package)
    try:
        summary: dict[str, Any] = run_check(loaded).to_json()["summary"]
        return summary
    finally:
        loaded.close()


def test_admin_checks_the_configured_package_and_it_joins_the_history(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        page = http.get("/runs")
        assert page.status_code == 200
        assert 'value="configured"' in page.text and "Check now" in page.text
        before = total_runs(http)
        r = http.post("/runs", data={"package": "configured", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"].startswith("/runs/jobs/")
        job_id = r.headers["location"].rsplit("/", 1)[1]
        # the job page polls while the check runs and stops when it is done
        first = http.get(f"/runs/jobs/{job_id}")
        assert first.status_code == 200 and 'id="job"' in first.text
        job = wait_for(http, job_id)
        assert job["state"] == "done", job
        assert job["progress"]["step"] == job["progress"]["total"]
        assert job["summary"] == expected_summary(app.package)
        assert total_runs(http) == before + 1
        stored = http.get(f"/api/runs/{job['run_id']}").json()
        assert stored["summary"] == job["summary"]
        assert stored["package"] == str(app.package.resolve())
        latest = http.get("/api/runs?limit=1").json()["runs"][0]
        assert latest["id"] == job["run_id"] and "web check" in latest["command"]
        assert app.users["admin"] in latest["command"]
        done = http.get(f"/runs/jobs/{job_id}", headers={"HX-Request": "true"})
        assert 'data-state="done"' in done.text and "hx-trigger" not in done.text
        assert f"run #{job['run_id']}" in done.text
        # the portfolio shows the new run
        assert http.get("/api/portfolio").json()["run"]["run_id"] == job["run_id"]


def test_upload_validates_then_keeps_a_new_version_and_checks_it(app: RunningApp,
                                                                  tmp_path: Path) -> None:
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/runs").text)
        r = http.post(f"/runs/upload?csrf_token={token}", data={"name": "acme", "check": "true"},
                      files={"file": ("acme.zip", zipped(app.package), "application/zip")})
        assert r.status_code == 303, r.text[:500]
        job = wait_for(http, r.headers["location"].rsplit("/", 1)[1])
        assert job["state"] == "done", job
        listed = {p["key"]: p for p in http.get("/api/packages").json()["packages"]}
        assert "upload:acme" in listed
        first = listed["upload:acme"]
        assert job["path"] == first["path"] and (Path(first["path"]) / "dipstick.yaml").is_file()
        assert job["summary"] == expected_summary(app.package)

        # a bad package: one ticket names a service nobody declared → 422, nothing replaced
        bad = tmp_path / "bad"
        shutil.copytree(app.package, bad)
        tickets = bad / "tickets.csv"
        lines = tickets.read_text().splitlines()
        head = lines[0].split(",")
        row = lines[1].split(",")
        row[head.index("service")] = "ghost"
        lines[1] = ",".join(row)
        tickets.write_text("\n".join(lines) + "\n")
        runs_before = total_runs(http)
        r = http.post("/api/packages", data={"name": "acme"},
                      files={"file": ("acme.zip", zipped(bad), "application/zip")},
                      headers={"X-CSRF-Token": token})
        assert r.status_code == 422, r.text[:500]
        detail = r.json()["detail"]
        assert "nothing was replaced" in detail["message"]
        problem = detail["problems"][0]
        assert (problem["file"], problem["row"], problem["field"], problem["value"]) == (
            "tickets.csv", 1, "service", "ghost")
        again = {p["key"]: p for p in http.get("/api/packages").json()["packages"]}
        assert again["upload:acme"] == first             # the current version is unchanged
        assert total_runs(http) == runs_before
        # the page says the same in HTML
        page = http.post(f"/runs/upload?csrf_token={token}", data={"name": "acme"},
                         files={"file": ("acme.zip", zipped(bad), "application/zip")})
        assert page.status_code == 422 and "nothing was replaced" in page.text
        assert "ghost" in page.text and "tickets.csv" in page.text

        # a good one under the same name becomes the current version; the old one stays
        r = http.post("/api/packages", data={"name": "acme"},
                      files={"file": ("x.zip", zipped(app.package, top=None), "application/zip")},
                      headers={"X-CSRF-Token": token})
        assert r.status_code == 201, r.text[:500]
        assert r.json()["version"] != first["version"]
        assert Path(first["path"]).is_dir()


@pytest.mark.parametrize("members,why", [
    ({"../evil.yaml": b"x"}, "unsafe path"),
    ({"/etc/evil": b"x"}, "unsafe path"),
    ({"readme.txt": b"hello"}, "no dipstick.yaml"),
    (None, "not a zip"),
])
def test_unsafe_or_broken_zips_are_refused(app: RunningApp, members: dict[str, bytes] | None,
                                           why: str, tmp_path: Path) -> None:
    if members is None:
        body = b"this is not a zip"
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        body = buf.getvalue()
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/runs").text)
        r = http.post("/api/packages", data={"name": "evil"}, headers={"X-CSRF-Token": token},
                      files={"file": ("evil.zip", body, "application/zip")})
        assert r.status_code == 422
        assert why in r.json()["detail"]["problems"][0]["message"]
        keys = [p["key"] for p in http.get("/api/packages").json()["packages"]]
        assert "upload:evil" not in keys
    assert not (Path(app.package).parent / "evil.yaml").exists()


def test_a_symlink_member_is_refused(tmp_path: Path) -> None:
    from dipstick.errors import PackageError
    from dipstick.package.archive import store_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        link = zipfile.ZipInfo("dipstick.yaml")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
    buf.seek(0)
    with pytest.raises(PackageError, match="symbolic links"):
        store_zip(buf, tmp_path / "packages", "linked")
    assert not any((tmp_path / "packages" / "linked").glob("2*"))


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    from dipstick.errors import PackageError
    from dipstick.package.archive import store_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pkg/dipstick.yaml", "organisation: {name: x}\n")
        z.writestr("pkg/tickets.csv", b"0" * (64 << 20))      # 64 MiB of zeros: ratio ~1000
    buf.seek(0)
    with pytest.raises(PackageError, match="zip bomb"):
        store_zip(buf, tmp_path / "packages", "bomb")


def test_only_admins_start_checks_or_load_packages(app: RunningApp) -> None:
    for role in ("leader", "owner", "viewer"):
        with signed_in(app, role) as http:
            page = http.get("/runs")
            assert page.status_code == 200 and "History" in page.text
            assert "Check now" not in page.text and 'action="/runs/upload"' not in page.text
            token = csrf_of(page.text)
            r = http.post("/runs", data={"package": "configured", "csrf_token": token})
            assert r.status_code == 403, role
            r = http.post("/api/runs", json={"package": "configured"},
                          headers={"X-CSRF-Token": token})
            assert r.status_code == 403, role
            assert http.get("/api/packages").status_code == 403
    with signed_in(app, "admin") as http:
        # a session without the form token in the header is not enough for the API
        r = http.post("/api/runs", json={"package": "configured"})
        assert r.status_code == 403
        r = http.post("/runs", data={"package": "configured"})       # no CSRF token
        assert r.status_code == 403
        r = http.post("/api/runs", json={"package": "../../etc"},
                      headers={"X-CSRF-Token": csrf_of(http.get("/runs").text)})
        assert r.status_code == 404


def test_an_admin_token_starts_a_check_over_the_api(app: RunningApp) -> None:
    with Store.open(app.database) as store:
        token = create_token(store, app.users["admin"], "ci").token
    with app.client(headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.post("/api/runs", json={"package": "configured", "as_of": "2026-10-01"})
        assert r.status_code == 202, r.text
        job = wait_for(http, r.json()["id"])
        assert job["state"] == "done" and job["as_of"] == "2026-10-01"
        assert http.get(f"/api/runs/{job['run_id']}").json()["as_of"] == "2026-10-01"
        assert http.post("/api/runs", json={"package": "configured",
                                            "as_of": "not-a-date"}).status_code == 422
        assert http.get("/api/runs/jobs/0123456789abcdef").status_code == 404
        assert http.get("/api/runs/999999").status_code == 404
