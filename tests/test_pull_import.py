"""Pulls end to end, as users run them (the `dipstick pull` command, in-process) against the
local fake ServiceNow and Jira: the first pull builds the package's tickets, the next one asks
only for what changed since the watermark and merges it without duplicates, a failure or a bad
row leaves the package and its watermark byte for byte as they were."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dipstick.connectors.imports import ImportOptions
from dipstick.connectors.pull import pull_jira, pull_servicenow
from dipstick.connectors.pull.passes import moved_during
from fakeservers import FakeJira, FakeServiceNow, Fault, incidents, jira_issues

from clirun import Ran, dipstick

SN_ENV = {"SERVICENOW_USER": "admin", "SERVICENOW_PASSWORD": "pw"}
JIRA_ENV = {"JIRA_USER": "me@acme.example", "JIRA_TOKEN": "api-token"}
STAMP = "%Y-%m-%d %H:%M:%S"


def run(*args: str | Path, env: dict[str, str]) -> Ran:
    return dipstick("pull", *args, env=env, unset=("SERVICENOW_", "JIRA_"))


def tickets(package: Path) -> list[dict[str, Any]]:
    files = list(package.glob("tickets.*"))
    assert len(files) == 1, files
    rel = duckdb.sql(f"SELECT * FROM '{files[0]}' ORDER BY id")
    names = rel.columns
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def state(package: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((package / ".dipstick" / "pull-state.json").read_text())
    (entry,) = data["pulls"].values()
    return dict(entry)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/"
            for p in sorted(folder.rglob("*"))}


def servicenow(sn: FakeServiceNow, package: Path, *extra: str) -> dict[str, Any]:
    result = run("servicenow", "--instance", sn.url, "--into", package, "--page-size", "50",
                 "--service-from", "assignment_group", "--starter-services", "--format", "json",
                 *extra, env=SN_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def later(stamp: str, minutes: int) -> str:
    return (datetime.strptime(stamp, STAMP) + timedelta(minutes=minutes)).strftime(STAMP)


def test_servicenow_pulls_then_resumes_from_the_watermark_without_duplicates(
        tmp_path: Path) -> None:
    every = incidents(260)
    package = tmp_path / "acme"
    with FakeServiceNow(every[:200], user="admin", password="pw") as sn:
        sn.faults[2] = Fault(500)                          # a 500 in the middle, then a 429
        sn.faults[3] = Fault(429, {"Retry-After": "1"})
        first = servicenow(sn, package, "--since", "2016-01-01", "--backoff", "0.1")
        assert first["records"] == 200 and not first["resumed"]
        assert (first["requests"], first["retries"]) == (4 + 2, 2)
        assert first["import"]["rows_in_table"] == 200
        rows = tickets(package)
        assert len(rows) == len({r["id"] for r in rows}) == 200
        mark = state(package)["watermark"]
        assert mark == max(r["sys_updated_on"][0] for r in every[:200]) == first["watermark"]

        # the instance moves on: three incidents are reopened, sixty new ones arrive
        changed = [dict(r) for r in every[10:13]]
        for i, r in enumerate(changed):
            r["reopen_count"] = ("2", "2")
            r["incident_state"] = ("2", "Active")
            r["sys_updated_on"] = (later(mark, 10 + i), "")
        fresh = [dict(r, sys_updated_on=(later(mark, 20 + i), "")) for i, r in
                 enumerate(every[200:])]
        sn.records = every[:10] + changed + every[13:200] + fresh
        seen = len(sn.requests)

        second = servicenow(sn, package)                  # no --since: the watermark
        query = sn.requests[seen].params["sysparm_query"]
        assert query == f"sys_updated_on>={later(mark, -5)}^ORDERBYsys_updated_on"
        assert second["resumed"] and second["started_from"] == later(mark, -5)
        overlap = sum(later(mark, -5) <= r["sys_updated_on"][0] for r in every[:200])
        assert second["records"] == 3 + 60 + overlap
        rows = tickets(package)
        assert len(rows) == len({r["id"] for r in rows}) == 260
        by_id = {r["id"]: r for r in rows}
        for r in changed:
            assert by_id[r["number"][1]]["reopened"] == 2
            assert by_id[r["number"][1]]["state"] == "Active"
        assert state(package)["watermark"] == later(mark, 20 + 59) == second["watermark"]

        again = servicenow(sn, package)                   # nothing new: only the overlap
        assert again["records"] == 6        # the new incidents updated at +74..+79 min
        assert again["started_from"] == later(mark, 20 + 59 - 5)
        assert len(tickets(package)) == 260


def test_a_failed_pull_leaves_package_and_watermark_untouched(tmp_path: Path) -> None:
    package = tmp_path / "acme"
    with FakeServiceNow(incidents(120), user="admin", password="pw") as sn:
        servicenow(sn, package, "--since", "2016-01-01")
        before = snapshot(package)
        assert ".dipstick/pull-state.json" in before
        seen = len(sn.requests)
        sn.fail_always, sn.fail_from = Fault(503, {"Retry-After": "0"}), seen + 1
        result = run("servicenow", "--instance", sn.url, "--into", package, "--full",
                     "--since", "2016-01-01", "--attempts", "2", env=SN_ENV)
    assert result.returncode == 3, result.stderr
    assert "still failing after 2 attempts" in result.stderr and "HTTP 503" in result.stderr
    assert snapshot(package) == before


def test_a_bad_pulled_row_is_named_and_nothing_moves(tmp_path: Path) -> None:
    records = incidents(80)
    bad = next(i for i, r in enumerate(records) if r["resolved_at"][0])
    records[bad] = dict(records[bad], resolved_at=("2015-01-01 00:00:00", ""))
    package = tmp_path / "acme"
    with FakeServiceNow(records[:bad], user="admin", password="pw") as sn:
        servicenow(sn, package, "--since", "2016-01-01")
        before = snapshot(package)
        sn.records = records
        result = run("servicenow", "--instance", sn.url, "--into", package, "--full",
                     "--since", "2016-01-01", "--service-from", "assignment_group",
                     "--starter-services", "--format", "json", env=SN_ENV)
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)
    named = [p for p in error["problems"] if p["field"] == "resolved_at"]
    assert named and named[0]["row"] is not None and "before opened_at" in named[0]["message"]
    kept = Path(error["problems"][-1]["file"])
    assert kept.exists() and records[bad]["number"][1] in kept.read_text()
    assert snapshot(package) == before
    kept.unlink()
    kept.parent.rmdir()


@pytest.mark.parametrize("cloud", [False, True], ids=["server", "cloud"])
def test_jira_pulls_then_resumes_with_the_jql_watermark(tmp_path: Path, cloud: bool) -> None:
    every = jira_issues(150)
    package = tmp_path / "acme"

    def pull(fake: FakeJira) -> dict[str, Any]:
        result = run("jira", "--url", fake.url, "--jql", "project = OPS ORDER BY key",
                     "--into", package, "--starter-services", "--format", "json", env=JIRA_ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary

    with FakeJira(every[:120], max_results=30, cloud=cloud, user="me@acme.example",
                  password="api-token") as fake:
        first = pull(fake)
        assert first["records"] == 120 and first["requests"] == 4 + cloud   # + the 410
        assert '"updated' not in fake.requests[0].params["jql"]        # all of them
        rows = tickets(package)
        assert len(rows) == len({r["id"] for r in rows}) == 120
        assert {r["type"] for r in rows} <= {"incident", "request"}
        mark = state(package)["watermark"]
        assert mark == max(i["fields"]["updated"] for i in every[:120])

        wall = datetime.strptime(mark[:19], "%Y-%m-%dT%H:%M:%S")

        def at(minutes: int) -> str:
            return (wall + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

        moved = {**every[5], "fields": {**every[5]["fields"], "updated": at(30),
                                         "status": {"name": "Done"},
                                         "resolutiondate": at(30)}}
        fresh = [{**i, "fields": {**i["fields"], "updated": at(40 + n)}}
                 for n, i in enumerate(every[120:])]
        fake.issues = [*every[:5], moved, *every[6:120], *fresh]
        seen = len(fake.requests)
        second = pull(fake)
        jqls = {r.params["jql"] for r in fake.requests[seen:]}
    start = wall - timedelta(minutes=5)
    assert jqls == {f'(project = OPS) AND updated >= "{start:%Y/%m/%d %H:%M}" '
                    "ORDER BY updated ASC, key ASC"}          # every page of the second pull
    assert second["resumed"] and second["records"] >= 31
    rows = tickets(package)
    assert len(rows) == len({r["id"] for r in rows}) == 150
    assert {r["id"]: r for r in rows}[moved["key"]]["state"] == "Done"


@pytest.mark.parametrize(("env", "named"), [
    ({}, "JIRA_BEARER"),
    ({"JIRA_USER": "me@acme.example"}, "JIRA_TOKEN is not set"),
])
def test_jira_without_credentials_exits_2_naming_them(tmp_path: Path, env: dict[str, str],
                                                      named: str) -> None:
    result = run("jira", "--url", "https://acme.atlassian.net", "--jql", "project = OPS",
                 "--into", tmp_path / "acme", env=env)
    assert result.returncode == 2 and named in result.stderr
    assert not (tmp_path / "acme").exists()


def test_records_updated_while_paging_are_not_skipped(tmp_path: Path) -> None:
    """Offset paging over an update-ordered query: an incident already pulled is updated
    mid-pull, moves to the end, and shifts the next page by one — the first pass skips a
    record; the pull sees the incident twice and pages again from its old update time."""
    records = incidents(230)
    package = tmp_path / "acme"
    oldest = min(records, key=lambda r: r["sys_updated_on"][0])
    newest = max(r["sys_updated_on"][0] for r in records)
    with FakeServiceNow(records, token="t") as sn:
        def update_an_incident_already_pulled() -> None:
            i = sn.records.index(oldest)
            sn.records = [*sn.records[:i], *sn.records[i + 1:],
                          dict(oldest, sys_updated_on=(later(newest, 1), ""),
                               reopen_count=("3", "3"))]

        sn.before[3] = update_an_incident_already_pulled
        summary = pull_servicenow(sn.url, "incident", datetime(2016, 1, 1), package,
                                  ImportOptions(service_from="assignment_group",
                                                starter_services=True),
                                  page_size=50, env={"SERVICENOW_TOKEN": "t"})
    queries = [r.params["sysparm_query"] for r in sn.requests]
    second = queries.index(f"sys_updated_on>={oldest['sys_updated_on'][0]}"
                           "^ORDERBYsys_updated_on")
    first_pass = {n for page in sn.served[:second] for n in page}
    assert len(first_pass) == 229                     # the gap the second pass closes
    assert summary.notes and "pass 2 re-read from" in summary.notes[0]
    rows = tickets(package)
    assert len(rows) == len({r["id"] for r in rows}) == 230
    assert {r["id"]: r for r in rows}[oldest["number"][0]]["reopened"] == 3
    assert summary.watermark == later(newest, 1)


def test_moved_records_are_found_by_key_and_earliest_time(tmp_path: Path) -> None:
    part = tmp_path / "p.csv"
    part.write_text('sys_id,sys_updated_on,note\n'
                    'a,2016-03-01 10:00:00,"first, with a comma"\n'
                    'b,2016-03-01 10:05:00,"two\nlines"\n'
                    'c,2016-03-01 10:07:00,\n'
                    'a,2016-03-02 08:00:00,moved to the end\n', encoding="utf-8")
    assert moved_during(part, "sys_id", "sys_updated_on") == (1, datetime(2016, 3, 1, 10))
    assert moved_during(part, "number", "sys_updated_on") is None      # no key column
    part.write_text("sys_id,sys_updated_on\na,2016-03-01 10:00:00\n", encoding="utf-8")
    assert moved_during(part, "sys_id", "sys_updated_on") is None


def test_jira_issues_updated_while_paging_are_not_skipped(tmp_path: Path) -> None:
    issues = jira_issues(120)
    package = tmp_path / "acme"
    oldest = min(issues, key=lambda i: i["fields"]["updated"])
    newest = max(i["fields"]["updated"] for i in issues)
    with FakeJira(issues, max_results=25, token="pat") as fake:
        def update_an_issue_already_pulled() -> None:
            moved = {**oldest, "fields": {**oldest["fields"], "status": {"name": "Done"},
                                          "updated": newest[:17] + "59.000+0000"}}
            fake.issues = [i for i in fake.issues if i is not oldest] + [moved]

        fake.before[2] = update_an_issue_already_pulled
        summary = pull_jira(fake.url, "project = OPS", None, package,
                            ImportOptions(starter_services=True), page_size=25,
                            env={"JIRA_BEARER": "pat"})
    start = datetime.strptime(oldest["fields"]["updated"][:16], "%Y-%m-%dT%H:%M")
    assert f'updated >= "{start:%Y/%m/%d %H:%M}"' in fake.requests[-1].params["jql"]
    assert summary.notes and "pass 2" in summary.notes[0]
    rows = tickets(package)
    assert len(rows) == len({r["id"] for r in rows}) == 120
    assert {r["id"]: r for r in rows}[oldest["key"]]["state"] == "Done"
