"""Records from the ServiceNow Table API (``GET /api/now/table/{table}``), page by page.

The protocol as ServiceNow documents it: ``sysparm_query`` is an encoded query (here
``sys_updated_on>=START^ORDERBYsys_updated_on``, ordered so that offset paging is stable),
``sysparm_limit``/``sysparm_offset`` page, the ``Link`` header carries ``rel="next"`` (absent on
the last page), ``X-Total-Count`` the number of matching records, and the body is
``{"result": [...]}``. With ``sysparm_display_value=all`` each field is
``{"display_value", "value"}``: dates are taken from ``value`` (UTC, ``yyyy-mm-dd HH:MM:SS``,
whatever the user's display format), everything else from ``display_value`` (names, not
sys_ids), so the staging CSV looks like an export of the list view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dipstick.connectors.pull.http import Fetcher, PullError
from dipstick.errors import UsageError

UPDATED = "sys_updated_on"
KEY = "sys_id"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
TABLE = re.compile(r"^[A-Za-z0-9_]+$")
FIELD = re.compile(r"^[A-Za-z0-9_.]+$")

Progress = Callable[[int, int | None], None]     # (records so far, total if known)


@dataclass(frozen=True)
class TableQuery:
    """One pull of one table: everything updated at or after ``start`` (UTC)."""

    instance: str
    table: str
    start: datetime
    fields: tuple[str, ...] = ()     # empty: every field the table has
    limit: int = 1000

    def __post_init__(self) -> None:
        if not self.instance.startswith(("https://", "http://")):
            raise UsageError(f"--instance must be a URL such as https://acme.service-now.com, "
                             f"not {self.instance!r}")
        if not TABLE.match(self.table):
            raise UsageError(f"--table must be a table name such as incident, not "
                             f"{self.table!r}")
        bad = [f for f in self.fields if not FIELD.match(f)]
        if bad:
            raise UsageError(f"not a ServiceNow field name: {', '.join(map(repr, bad))}")
        if not 1 <= self.limit <= 10000:
            raise UsageError(f"--page-size must be 1..10000 (ServiceNow's maximum), not "
                             f"{self.limit}")

    @property
    def url(self) -> str:
        return f"{self.instance.rstrip('/')}/api/now/table/{self.table}"

    def params(self) -> dict[str, str | int]:
        """The first page's query string; later pages follow the ``Link`` header."""
        params: dict[str, str | int] = {
            "sysparm_query": encoded_query(self.start),
            "sysparm_display_value": "all",
            "sysparm_exclude_reference_link": "true",
            "sysparm_limit": self.limit,
            "sysparm_offset": 0,
        }
        if self.fields:
            wanted = list(dict.fromkeys([*self.fields, UPDATED, KEY]))
            params["sysparm_fields"] = ",".join(wanted)
        return params


def encoded_query(start: datetime) -> str:
    return f"{UPDATED}>={start:%Y-%m-%d %H:%M:%S}^ORDERBY{UPDATED}"


def flatten(record: Mapping[str, Any]) -> dict[str, str]:
    """One Table API record as export cells: ``value`` for timestamps, ``display_value``
    otherwise; plain strings (other display modes) as they are; null as empty."""
    row: dict[str, str] = {}
    for name, cell in record.items():
        if isinstance(cell, dict):
            value = cell.get("value")
            display = cell.get("display_value")
            text = value if isinstance(value, str) and TIMESTAMP.match(value) else display
            if text is None:
                text = value
        else:
            text = cell
        row[name] = "" if text is None else str(text)
    return row


def _total(headers: Mapping[str, str]) -> int | None:
    value = headers.get("X-Total-Count")
    return int(value) if value is not None and value.strip().isdigit() else None


@dataclass(frozen=True)
class _Page:
    rows: list[dict[str, str]]
    total: int | None                # X-Total-Count
    next_url: str | None             # the Link header's rel="next"
    has_link: bool


def _read_page(fetcher: Fetcher, url: str, params: dict[str, str | int] | None) -> _Page:
    response = fetcher.get(url, params)
    body = fetcher.json(response)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, list):
        raise PullError(f"{response.url} answered without a 'result' list")
    return _Page([flatten(r) for r in result if isinstance(r, dict)], _total(response.headers),
                 response.links.get("next", {}).get("url"), "link" in response.headers)


def fetch(fetcher: Fetcher, query: TableQuery, sink: Callable[[Iterable[dict[str, str]]], None],
          progress: Progress | None = None) -> tuple[int, str | None]:
    """Stream every matching record into ``sink`` one page at a time; return the number of
    records and the watermark (the largest ``sys_updated_on`` seen, ``None`` if none).

    Paging follows ``rel="next"`` in the ``Link`` header; a server that sends no ``Link`` is
    paged by ``sysparm_offset`` until a short page or ``X-Total-Count``."""
    url: str = query.url
    params: dict[str, str | int] | None = query.params()
    offset, records, watermark, seen = 0, 0, None, set()
    while True:
        page = _read_page(fetcher, url, params)
        for row in page.rows:
            stamp = row.get(UPDATED, "")
            if TIMESTAMP.match(stamp) and (watermark is None or stamp > watermark):
                watermark = stamp
        sink(page.rows)
        n, total, nxt, has_link = len(page.rows), page.total, page.next_url, page.has_link
        del page                        # one page in memory while the next one loads, not two
        records += n
        if progress is not None:
            progress(records, total)
        if nxt:
            if nxt in seen or not n:
                break               # a server that points back at a page it already sent
            seen.add(nxt)
            url, params = nxt, None
            continue
        if has_link or not n or n < query.limit:
            break                   # a Link header without next: the last page
        offset += n
        if total is not None and offset >= total:
            break
        url, params = query.url, {**query.params(), "sysparm_offset": offset}
    return records, watermark
