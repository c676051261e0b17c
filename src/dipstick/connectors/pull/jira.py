"""Issues from Jira's REST search (``GET /rest/api/2/search``), page by page, as rows shaped
like Jira's CSV export (``Issue key, Issue Type, Status, Created, Resolved, Component/s,
Labels, Updated``).

The protocol as Atlassian documents it: ``jql``, ``startAt`` (0-based), ``maxResults`` and
``fields``; the answer carries ``startAt``, ``maxResults`` (which may be lower than asked: the
server caps it), ``total`` and ``issues``. Paging goes on from ``startAt + len(issues)`` and
stops when that reaches ``total`` (or a page comes back empty). Jira Cloud replaced that
endpoint by ``/rest/api/2/search/jql`` (``nextPageToken``, ``isLast``); a 410 Gone switches to
it. The incremental clause is
``updated >= "yyyy/MM/dd HH:mm"``: JQL has minute precision and reads the time in the Jira
user's time zone, so the watermark keeps the wall clock Jira returned and the pull overlaps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dipstick.connectors.pull.http import Answer, Fetcher, PullError
from dipstick.errors import UsageError

COLUMNS = ("Issue key", "Issue Type", "Status", "Created", "Resolved", "Component/s", "Labels",
           "Updated")
FIELDS = "issuetype,status,created,resolutiondate,components,labels,updated"
ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class SearchQuery:
    """One pull: the user's JQL narrowed to issues updated at or after ``start`` (Jira's
    wall clock)."""

    url: str
    jql: str
    start: datetime | None
    limit: int = 100

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise UsageError(f"--url must be a URL such as https://acme.atlassian.net, not "
                             f"{self.url!r}")
        if not 1 <= self.limit <= 1000:
            raise UsageError(f"--page-size must be 1..1000, not {self.limit}")

    @property
    def search_url(self) -> str:
        return f"{self.url.rstrip('/')}/rest/api/2/search"

    @property
    def jql_url(self) -> str:
        return f"{self.url.rstrip('/')}/rest/api/2/search/jql"

    def params(self, start_at: int) -> dict[str, str | int]:
        return {"jql": incremental_jql(self.jql, self.start), "startAt": start_at,
                "maxResults": self.limit, "fields": FIELDS}

    def token_params(self, token: str | None) -> dict[str, str | int]:
        params: dict[str, str | int] = {"jql": incremental_jql(self.jql, self.start),
                                        "maxResults": self.limit, "fields": FIELDS}
        if token:
            params["nextPageToken"] = token
        return params


def incremental_jql(jql: str, start: datetime | None) -> str:
    """``(JQL) AND updated >= "yyyy/MM/dd HH:mm" ORDER BY updated ASC, key ASC``: the user's
    own ORDER BY is replaced, since a stable order by update time is what makes paging and the
    watermark sound."""
    base = ORDER_BY.split(jql, maxsplit=1)[0].strip()
    clauses = [f"({base})"] if base else []
    if start is not None:
        clauses.append(f'updated >= "{start:%Y/%m/%d %H:%M}"')
    return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"


def parse_time(value: object) -> datetime | None:
    """Jira's ``2016-02-29T01:16:00.000+0000`` (offset always given by the REST API)."""
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def _wall(value: object) -> str:
    """The wall clock Jira wrote (its offset dropped), as Jira's own CSV export shows times:
    the same clock the JQL watermark is written in."""
    when = parse_time(value)
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def _name(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or "")
    return "" if value is None else str(value)


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def to_row(issue: Mapping[str, Any]) -> dict[str, str]:
    """One issue as a CSV-export row; dates ``yyyy-mm-dd HH:MM:SS`` in Jira's wall clock;
    of several components or labels the first, as the import reads the first of the columns
    Jira's export repeats for them (one service per ticket)."""
    fields = issue.get("fields") or {}
    return {
        "Issue key": str(issue.get("key", "")),
        "Issue Type": _name(fields.get("issuetype")),
        "Status": _name(fields.get("status")),
        "Created": _wall(fields.get("created")),
        "Resolved": _wall(fields.get("resolutiondate")),
        "Component/s": _first(_name(c) for c in fields.get("components") or []),
        "Labels": _first(str(x) for x in fields.get("labels") or []),
        "Updated": _wall(fields.get("updated")),
    }


class _Watermark:
    """The latest ``updated`` seen, compared as instants, kept as Jira wrote it."""

    def __init__(self) -> None:
        self.latest: datetime | None = None
        self.raw: str | None = None

    def rows(self, issues: list[Any]) -> list[dict[str, str]]:
        rows = []
        for issue in issues:
            if not isinstance(issue, dict):
                continue
            rows.append(to_row(issue))
            raw = (issue.get("fields") or {}).get("updated")
            when = parse_time(raw)
            if when is not None and (self.latest is None or when > self.latest):
                self.latest, self.raw = when, str(raw)
        return rows


def _issues(fetcher: Fetcher, response: Answer) -> tuple[dict[str, Any], list[Any]]:
    body = fetcher.json(response)
    issues = body.get("issues") if isinstance(body, dict) else None
    if not isinstance(issues, list):
        raise PullError(f"{response.url} answered without an 'issues' list")
    return body, issues


def fetch(fetcher: Fetcher, query: SearchQuery, sink: Callable[[Iterable[dict[str, str]]], None],
          progress: Progress | None = None) -> tuple[int, str | None]:
    """Stream every matching issue into ``sink`` page by page; return the number of issues and
    the watermark (the latest ``updated`` as Jira wrote it, offset included).

    ``/rest/api/2/search`` pages by ``startAt`` up to ``total``. Jira Cloud removed it in 2025
    (it answers 410 Gone); then ``/rest/api/2/search/jql`` is used, paged by ``nextPageToken``
    until ``isLast`` (it gives no total, so the progress bar has none)."""
    start_at, records, mark = 0, 0, _Watermark()
    while True:
        response = fetcher.get(query.search_url, query.params(start_at),
                               passthrough=frozenset({410}) if start_at == 0 else frozenset())
        if response.status_code == 410:
            return _fetch_by_token(fetcher, query, sink, progress)
        body, issues = _issues(fetcher, response)
        total = body.get("total")
        total = total if isinstance(total, int) else None
        page_start = body.get("startAt")
        page_start = page_start if isinstance(page_start, int) else start_at
        rows = mark.rows(issues)
        sink(rows)
        records += len(rows)
        if progress is not None:
            progress(records, total)
        start_at = page_start + len(issues)
        if not issues or total is None or start_at >= total:
            break
    return records, mark.raw


def _fetch_by_token(fetcher: Fetcher, query: SearchQuery,
                    sink: Callable[[Iterable[dict[str, str]]], None],
                    progress: Progress | None) -> tuple[int, str | None]:
    token: str | None = None
    records, mark, seen = 0, _Watermark(), set()
    while True:
        response = fetcher.get(query.jql_url, query.token_params(token))
        body, issues = _issues(fetcher, response)
        rows = mark.rows(issues)
        sink(rows)
        records += len(rows)
        if progress is not None:
            progress(records, None)
        nxt = body.get("nextPageToken")
        if not issues or body.get("isLast") or not isinstance(nxt, str) or not nxt \
                or nxt in seen:
            break
        seen.add(nxt)
        token = nxt
    return records, mark.raw
