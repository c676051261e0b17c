"""Pulling the ServiceNow Table API: paging by offset and ``Link``, ``X-Total-Count``, the
encoded query, the staging CSV — against the local fake instance serving real incidents — and
the command's failures (no credentials, a 401, a 500 that never ends): exit codes, and the
package left byte for byte as it was."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import pytest

from dipstick.connectors.pull import servicenow
from dipstick.connectors.pull.http import Credentials, Fetcher, RetryPolicy
from dipstick.connectors.pull.staging import StagingCsv
from dipstick.errors import UsageError
from fakeservers import FakeServiceNow, Fault, incidents

from clirun import Ran, dipstick

TOKEN = Credentials(source="SERVICENOW_TOKEN", bearer="t0ken")
FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=5)
SINCE = datetime(2016, 1, 1)


@pytest.fixture(scope="module")
def records() -> list[dict[str, tuple[str, str]]]:
    return incidents(230)


def pull(sn: FakeServiceNow, tmp_path: Path, limit: int = 50, fields: tuple[str, ...] = (),
         since: datetime = SINCE) -> tuple[int, str | None, list[dict[str, str]], list]:
    totals: list[tuple[int, int | None]] = []
    query = servicenow.TableQuery(sn.url, "incident", since, fields, limit)
    with Fetcher(sn.url, TOKEN, FAST) as f, StagingCsv(tmp_path / "s.csv") as sink:
        n, mark = servicenow.fetch(f, query, sink.write, lambda d, t: totals.append((d, t)))
    with (tmp_path / "s.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return n, mark, rows, totals


def test_pages_follow_the_link_header_to_the_end(records: list, tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        n, mark, rows, totals = pull(sn, tmp_path)
    assert n == len(rows) == 230
    first = sn.requests[0].params
    assert first["sysparm_query"] == "sys_updated_on>=2016-01-01 00:00:00^ORDERBYsys_updated_on"
    assert first["sysparm_display_value"] == "all"
    assert first["sysparm_exclude_reference_link"] == "true"
    assert "sysparm_fields" not in first
    assert [r.params["sysparm_offset"] for r in sn.requests] == ["0", "50", "100", "150", "200"]
    assert totals == [(50, 230), (100, 230), (150, 230), (200, 230), (230, 230)]
    assert len({r["number"] for r in rows}) == 230                       # no page twice
    assert mark == max(v["sys_updated_on"][0] for v in records)


def test_without_a_link_header_it_pages_by_offset(records: list, tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken", links=False) as sn:
        n, _, rows, _ = pull(sn, tmp_path, limit=100)
    assert n == 230 and len({r["number"] for r in rows}) == 230
    assert [r.params["sysparm_offset"] for r in sn.requests] == ["0", "100", "200"]


def test_a_server_capping_the_page_size_is_followed(records: list, tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken", max_limit=40) as sn:
        n, _, rows, _ = pull(sn, tmp_path, limit=100)
    assert n == 230 and len({r["number"] for r in rows}) == 230          # next links, not 100s
    assert len(sn.requests) == 6


def test_the_staging_csv_reads_like_an_export(records: list, tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        _, _, rows, _ = pull(sn, tmp_path)
    by_number = {r["number"]: r for r in rows}
    real = next(r for r in records if r["resolved_at"][0] and r["assignment_group"][1])
    row = by_number[real["number"][1]]
    assert row["opened_at"] == real["opened_at"][0]          # ISO UTC, not 29/02/2016 01:16:00
    assert row["resolved_at"] == real["resolved_at"][0]
    assert row["assignment_group"] == real["assignment_group"][1]   # names, not sys_ids
    assert row["incident_state"] == real["incident_state"][1]      # Resolved, not 7
    assert row["priority"] == real["priority"][1]
    assert all(len(v) == 19 for r in rows for k, v in r.items()
               if k.endswith(("_at", "_on")) and v)
    header = (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[0] == "number" and "sys_updated_on" in header


def test_fields_are_asked_for_and_the_watermark_field_always(records: list,
                                                             tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        _, _, rows, _ = pull(sn, tmp_path, fields=("number", "assignment_group"))
    assert sn.requests[0].params["sysparm_fields"] == \
        "number,assignment_group,sys_updated_on,sys_id"
    assert set(rows[0]) == {"number", "assignment_group", "sys_updated_on", "sys_id"}


def test_the_query_starts_at_the_given_time(records: list, tmp_path: Path) -> None:
    stamps = sorted(r["sys_updated_on"][0] for r in records)
    middle = datetime.strptime(stamps[100], "%Y-%m-%d %H:%M:%S")
    with FakeServiceNow(records, token="t0ken") as sn:
        n, _, rows, _ = pull(sn, tmp_path, since=middle)
    assert n == sum(s >= stamps[100] for s in stamps)
    assert min(r["sys_updated_on"] for r in rows) == stamps[100]


def test_a_500_in_the_middle_is_retried_and_no_page_is_lost(records: list,
                                                            tmp_path: Path) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        sn.faults[3] = Fault(500)
        sn.faults[4] = Fault(429, {"Retry-After": "1"})
        n, _, rows, _ = pull(sn, tmp_path)
    assert n == 230 and len({r["number"] for r in rows}) == 230
    offsets = [r.params["sysparm_offset"] for r in sn.requests]
    assert offsets == ["0", "50", "100", "100", "100", "150", "200"]


@pytest.mark.parametrize(("args", "message"), [
    ({"instance": "acme.service-now.com"}, "--instance must be a URL"),
    ({"table": "incident; drop"}, "--table must be a table name"),
    ({"limit": 20000}, "--page-size must be 1..10000"),
    ({"fields": ("number", "a b")}, "not a ServiceNow field name"),
])
def test_bad_options_are_named(args: dict, message: str) -> None:
    values = {"instance": "https://acme.service-now.com", "table": "incident",
              "start": SINCE, "fields": (), "limit": 100, **args}
    with pytest.raises(UsageError, match=message):
        servicenow.TableQuery(**values)


# --- the command --------------------------------------------------------------------------

def run(*args: str | Path, env: dict[str, str]) -> Ran:
    return dipstick("pull", *args, env=env, unset=("SERVICENOW_", "JIRA_"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()} | {str(p.relative_to(folder)) + "/": b"" for p in
                               folder.rglob("*") if p.is_dir()}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package that a failed pull must not change."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "dipstick.yaml").write_text("organisation: {name: Acme, currency: EUR}\n")
    (folder / "tickets.csv").write_text("id,service,opened_at,type\nINC1,crm,2016-01-01,"
                                        "incident\n")
    return folder


def test_missing_credentials_exit_2_naming_the_variable(package: Path) -> None:
    before = snapshot(package)
    result = run("servicenow", "--instance", "https://acme.service-now.com", "--since",
                 "2016-01-01", "--into", package, env={"SERVICENOW_USER": "admin"})
    assert result.returncode == 2, result.stderr
    assert "SERVICENOW_PASSWORD is not set" in result.stderr
    assert snapshot(package) == before


def test_an_expired_token_exits_3_and_writes_nothing(records: list, package: Path) -> None:
    before = snapshot(package)
    with FakeServiceNow(records, token="t0ken") as sn:
        sn.expired = True
        result = run("servicenow", "--instance", sn.url, "--since", "2016-01-01", "--into",
                     package, "--format", "json", env={"SERVICENOW_TOKEN": "t0ken"})
    assert result.returncode == 3, result.stderr
    assert "HTTP 401" in result.stdout and "expired" in result.stdout
    assert len(sn.requests) == 1
    assert snapshot(package) == before


def test_a_500_that_never_recovers_exits_3_and_leaves_the_package_untouched(
        records: list, package: Path) -> None:
    before = snapshot(package)
    with FakeServiceNow(records, user="admin", password="pw") as sn:
        sn.fail_always, sn.fail_from = Fault(500), 3        # two good pages first
        result = run("servicenow", "--instance", sn.url, "--since", "2016-01-01", "--into",
                     package, "--page-size", "50", "--attempts", "3", "--backoff", "0.05",
                     env={"SERVICENOW_USER": "admin", "SERVICENOW_PASSWORD": "pw"})
    assert result.returncode == 3, result.stderr
    assert "still failing after 3 attempts" in result.stderr
    assert "nothing was written" in result.stderr
    assert len(sn.requests) == 2 + 3
    assert snapshot(package) == before


def test_a_first_pull_needs_since(package: Path) -> None:
    result = run("servicenow", "--instance", "https://acme.service-now.com", "--into", package,
                 env={"SERVICENOW_TOKEN": "t"})
    assert result.returncode == 2 and "--since is needed" in result.stderr


def test_nothing_new_touches_nothing_and_says_so(records: list, package: Path) -> None:
    before = snapshot(package)
    with FakeServiceNow(records, token="t0ken") as sn:
        result = run("servicenow", "--instance", sn.url, "--since", "2030-01-01", "--into",
                     package, env={"SERVICENOW_TOKEN": "t0ken", "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"records pulled\s*│\s*0\s", result.stdout), result.stdout
    assert "nothing new: the package was not touched" in result.stdout
    assert sn.requests[0].params["sysparm_query"].startswith("sys_updated_on>=2030-01-01 00:00")
    assert snapshot(package) == before
