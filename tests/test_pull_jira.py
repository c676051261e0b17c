"""Pulling Jira's REST search: ``startAt``/``maxResults``/``total`` paging (with a server that
caps the page size), the incremental JQL, rows shaped like Jira's CSV export, retries and a
refused token — against the local fake Jira serving the real incidents as issues."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from dipstick.connectors.pull import jira
from dipstick.connectors.pull.http import Credentials, Fetcher, PullError, RetryPolicy
from dipstick.connectors.pull.staging import StagingCsv
from fakeservers import FakeJira, Fault, jira_issues

BEARER = Credentials(source="JIRA_BEARER", bearer="pat")
FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=5)


@pytest.fixture(scope="module")
def issues() -> list[dict]:
    return jira_issues(180)


def pull(fake: FakeJira, tmp_path: Path, jql: str = "project = OPS",
         start: datetime | None = None, limit: int = 100,
         credentials: Credentials = BEARER) -> tuple[int, str | None, list[dict[str, str]], list]:
    totals: list[tuple[int, int | None]] = []
    query = jira.SearchQuery(fake.url, jql, start, limit)
    with Fetcher(fake.url, credentials, FAST) as f, \
            StagingCsv(tmp_path / "j.csv", jira.COLUMNS) as sink:
        n, mark = jira.fetch(f, query, sink.write, lambda d, t: totals.append((d, t)))
    with (tmp_path / "j.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return n, mark, rows, totals


@pytest.mark.parametrize(("jql", "start", "expected"), [
    ("project = OPS", None, "(project = OPS) ORDER BY updated ASC, key ASC"),
    ("project = OPS ORDER BY created DESC", datetime(2016, 3, 1, 9, 5),
     '(project = OPS) AND updated >= "2016/03/01 09:05" ORDER BY updated ASC, key ASC'),
    ("", datetime(2016, 3, 1), 'updated >= "2016/03/01 00:00" ORDER BY updated ASC, key ASC'),
    ("a = 1 OR b = 2 order by key", None, "(a = 1 OR b = 2) ORDER BY updated ASC, key ASC"),
])
def test_the_jql_is_narrowed_to_updates_and_ordered(jql: str, start: datetime | None,
                                                   expected: str) -> None:
    assert jira.incremental_jql(jql, start) == expected


def test_pages_by_start_at_up_to_the_total_with_a_capped_page_size(issues: list,
                                                                   tmp_path: Path) -> None:
    with FakeJira(issues, max_results=40, token="pat") as fake:
        n, mark, rows, totals = pull(fake, tmp_path, limit=100)
    assert n == len(rows) == 180
    assert [r.params["startAt"] for r in fake.requests] == ["0", "40", "80", "120", "160"]
    assert {r.params["maxResults"] for r in fake.requests} == {"100"}
    assert fake.requests[0].params["fields"] == jira.FIELDS
    assert totals[-1] == (180, 180)
    assert len({r["Issue key"] for r in rows}) == 180
    assert mark == max(i["fields"]["updated"] for i in issues)


def test_rows_have_the_shape_of_jiras_csv_export(issues: list, tmp_path: Path) -> None:
    with FakeJira(issues, token="pat") as fake:
        _, _, rows, _ = pull(fake, tmp_path)
    header = (tmp_path / "j.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "Issue key,Issue Type,Status,Created,Resolved,Component/s,Labels,Updated"
    issue = next(i for i in issues if i["fields"]["resolutiondate"] and i["fields"]["components"])
    row = next(r for r in rows if r["Issue key"] == issue["key"])
    f = issue["fields"]
    assert row["Issue Type"] == f["issuetype"]["name"]
    assert row["Status"] == f["status"]["name"]
    assert row["Created"] == f["created"][:19].replace("T", " ")
    assert row["Resolved"] == f["resolutiondate"][:19].replace("T", " ")
    assert row["Component/s"] == f["components"][0]["name"]
    assert row["Labels"] == f["labels"][0]
    assert {r["Status"] for r in rows} <= {"To Do", "In Progress", "Done"}


def test_several_components_give_the_first_and_offsets_are_kept() -> None:
    row = jira.to_row({"key": "OPS-1", "fields": {
        "issuetype": {"name": "Bug"}, "status": {"name": "Done"},
        "created": "2016-03-01T10:00:00.000+0100", "resolutiondate": None,
        "components": [{"name": "CRM"}, {"name": "Web"}], "labels": ["a", "b"],
        "updated": "2016-03-01T10:30:00.000+0100"}})
    assert row == {"Issue key": "OPS-1", "Issue Type": "Bug", "Status": "Done",
                   "Created": "2016-03-01 10:00:00", "Resolved": "",    # Jira's wall clock
                   "Component/s": "CRM", "Labels": "a",       # the first, one service
                   "Updated": "2016-03-01 10:30:00"}


def test_only_issues_updated_since_the_start_are_asked_for(issues: list,
                                                          tmp_path: Path) -> None:
    stamps = sorted(i["fields"]["updated"] for i in issues)
    start = datetime.strptime(stamps[120][:16], "%Y-%m-%dT%H:%M")
    with FakeJira(issues, token="pat") as fake:
        n, _, rows, _ = pull(fake, tmp_path, start=start)
    assert f'updated >= "{start:%Y/%m/%d %H:%M}"' in fake.requests[0].params["jql"]
    assert n == sum(s[:16] >= stamps[120][:16] for s in stamps) < 180
    assert min(r["Updated"] for r in rows) >= f"{start:%Y-%m-%d %H:%M}"


def test_throttling_and_a_500_in_the_middle_are_retried(issues: list, tmp_path: Path) -> None:
    with FakeJira(issues, max_results=50, user="me@acme.example", password="api-token") as fake:
        fake.faults[2] = Fault(429, {"Retry-After": "1"})
        fake.faults[3] = Fault(502)
        n, _, rows, _ = pull(fake, tmp_path, credentials=Credentials(
            source="JIRA_USER/JIRA_TOKEN", basic=("me@acme.example", "api-token")))
    assert n == 180 and len({r["Issue key"] for r in rows}) == 180
    assert [r.params["startAt"] for r in fake.requests] == ["0", "50", "50", "50", "100", "150"]


def test_an_expired_token_is_an_error_naming_the_variable(issues: list,
                                                          tmp_path: Path) -> None:
    with FakeJira(issues, token="pat") as fake, pytest.raises(PullError, match="JIRA_BEARER"):
        fake.expired = True
        pull(fake, tmp_path)


def test_jira_cloud_gone_search_switches_to_token_paging(issues: list, tmp_path: Path) -> None:
    with FakeJira(issues, max_results=40, cloud=True, token="pat") as fake:
        fake.faults[3] = Fault(503)                       # and a retry inside token paging
        n, mark, rows, totals = pull(fake, tmp_path, start=datetime(2016, 1, 1))
    paths = [r.path for r in fake.requests]
    assert paths == ["/rest/api/2/search"] + ["/rest/api/2/search/jql"] * 6
    tokens = [r.params.get("nextPageToken") for r in fake.requests[1:]]
    assert tokens[0] is None and tokens[1] == tokens[2]     # the 503: the same page again
    assert None not in tokens[1:] and len(set(tokens[1:])) == 4
    assert all('updated >= "2016/01/01 00:00"' in r.params["jql"] for r in fake.requests)
    assert n == len({r["Issue key"] for r in rows}) == 180
    assert totals[-1] == (180, None)                        # no total on this endpoint
    assert mark == max(i["fields"]["updated"] for i in issues)
