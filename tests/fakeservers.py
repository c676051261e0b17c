"""Local fake ServiceNow and Jira servers for the pull tests: real HTTP on 127.0.0.1 (a
``ThreadingHTTPServer`` on a free port), following the documented protocols, serving records
built from the real ServiceNow incident log in ../shared/data (each incident's last row).

    with FakeServiceNow(incidents(200), token="t") as sn:     # sn.url, sn.requests
        sn.faults[3] = Fault(429, {"Retry-After": "1"})       # the 3rd request is throttled
        sn.fail_always, sn.fail_from = Fault(500), 5          # from the 5th on: always 500
        sn.expired = True                                     # 401 for everything
        sn.before[2] = lambda: ...                            # change records mid-pull
        sn.served                                             # record keys of each page

ServiceNow (``GET /api/now/table/{table}``): ``sysparm_query`` (``sys_updated_on>=…`` and
``ORDERBY…``), ``sysparm_limit`` / ``sysparm_offset``, ``sysparm_fields``,
``sysparm_display_value`` (true, false, all), the ``Link`` header (first, prev, next, last) and
``X-Total-Count``; errors as ``{"error": {"message", "detail"}, "status": "failure"}``.
Jira (``GET /rest/api/2/search``): ``jql`` (its ``updated >= "yyyy/MM/dd HH:mm"`` clause),
``startAt``, ``maxResults`` (capped by the server, as Jira Cloud does), ``fields``; errors as
``{"errorMessages": [...], "errors": {}}``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from realdata import SERVICENOW_LOG, require

DATES = ("opened_at", "sys_created_on", "sys_updated_on", "resolved_at", "closed_at")
REFERENCES = ("caller_id", "opened_by", "location", "category", "subcategory", "u_symptom",
              "cmdb_ci", "assignment_group", "assigned_to", "problem_id", "rfc", "vendor",
              "caused_by", "resolved_by")
RENAMED = {"sys_created_at": "sys_created_on", "sys_updated_at": "sys_updated_on"}
STATE_CODES = {"New": "1", "Active": "2", "Awaiting User Info": "3", "Awaiting Problem": "4",
               "Awaiting Vendor": "5", "Awaiting Evidence": "6", "Resolved": "7", "Closed": "8"}

Cell = tuple[str, str]          # (value, display_value)


def _iso(day_first: str) -> str:
    """The log's ``29/2/2016 01:16`` as ServiceNow's internal ``2016-02-29 01:16:00``."""
    return datetime.strptime(day_first, "%d/%m/%Y %H:%M").strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=1)
def _last_rows() -> tuple[dict[str, str], ...]:
    last: dict[str, dict[str, str]] = {}
    with gzip.open(require(SERVICENOW_LOG), "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            last[row["number"]] = row     # the log is in update order: the last row wins
    return tuple(last.values())


def incidents(n: int = 300) -> list[dict[str, Cell]]:
    """The last row of the first ``n`` incidents of the real log as incident-table records:
    (value, display_value) per field, dates in ServiceNow's internal UTC form, references with
    a sys_id-like value, ``?`` as empty."""
    records = []
    for row in _last_rows()[:n]:
        record: dict[str, Cell] = {}
        for name, raw in row.items():
            name = RENAMED.get(name, name)
            text = "" if raw == "?" else raw
            if name in DATES:
                record[name] = (_iso(text), datetime.strptime(text, "%d/%m/%Y %H:%M")
                                .strftime("%d/%m/%Y %H:%M:%S")) if text else ("", "")
            elif name in REFERENCES:
                record[name] = (hashlib.md5(text.encode()).hexdigest() if text else "", text)
            elif name == "incident_state":
                record[name] = (STATE_CODES.get(text, text), text)
            elif " - " in text:
                record[name] = (text.split(" - ", 1)[0], text)
            else:
                record[name] = (text, text)
        sys_id = hashlib.md5(row["number"].encode()).hexdigest()
        record["sys_id"] = (sys_id, sys_id)
        records.append(record)
    return records


def jira_issues(n: int = 300) -> list[dict[str, Any]]:
    """The same incidents as Jira issues (REST shape): key OPS-<n>, Incident or Service
    Request, To Do / In Progress / Done, the assignment group as component, the category as
    label, dates ``2016-02-29T01:16:00.000+0000``."""
    def when(cell: Cell) -> str | None:
        return f"{cell[0].replace(' ', 'T')}.000+0000" if cell[0] else None

    issues = []
    for i, r in enumerate(incidents(n), start=1):
        state = r["incident_state"][1]
        status = "Done" if state in ("Resolved", "Closed") else \
            "To Do" if state == "New" else "In Progress"
        kind = "Service Request" if r["contact_type"][1] == "Self service" else "Incident"
        issues.append({
            "id": str(10000 + i), "key": f"OPS-{int(r['number'][1][3:])}",
            "fields": {
                "issuetype": {"name": kind}, "status": {"name": status},
                "created": when(r["opened_at"]), "resolutiondate": when(r["resolved_at"]),
                "updated": when(r["sys_updated_on"]),
                "components": [{"name": r["assignment_group"][1]}]
                if r["assignment_group"][1] else [],
                "labels": [r["category"][1].replace(" ", "_")] if r["category"][1] else [],
            }})
    return issues


@dataclass(frozen=True)
class Fault:
    """An answer served instead of the real one."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    params: dict[str, str]
    authorization: str | None
    at: float = field(default_factory=time.monotonic)   # when the server received it


class _FakeServer:
    """The shared part: a real HTTP server in a thread, authentication, scripted faults, and
    the log of every request received."""

    def __init__(self, token: str | None = None, user: str | None = None,
                 password: str | None = None) -> None:
        self.accepted = {f"Bearer {token}"} if token else set()
        if user and password:
            self.accepted.add("Basic " + base64.b64encode(f"{user}:{password}".encode())
                              .decode())
        self.faults: dict[int, Fault] = {}      # 1-based request number -> fault
        self.before: dict[int, Callable[[], None]] = {}   # run before answering request n
        self.served: list[list[str]] = []       # the record keys of each page answered
        self.fail_always: Fault | None = None   # every request from number fail_from on
        self.fail_from = 1
        self.expired = False
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> _FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        auth = h.headers.get("Authorization")
        with self._lock:
            self.requests.append(Request(split.path, params, auth))
            number = len(self.requests)
        fault = self.faults.get(number) or (self.fail_always if number >= self.fail_from
                                            else None)
        if fault is not None:
            self._send(h, fault.status, self.error_body(f"fault {fault.status}"), fault.headers)
            return
        if self.expired or auth not in self.accepted:
            self._send(h, 401, self.error_body("User Not Authenticated",
                                               "Required to provide Auth information"))
            return
        if number in self.before:
            self.before[number]()
        status, body, headers = self.answer(split.path, params)
        self._send(h, status, body, headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def error_body(self, message: str, detail: str | None = None) -> Any:
        raise NotImplementedError

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


QUERY = re.compile(
    r"^sys_updated_on>=(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\^ORDERBYsys_updated_on$")


class FakeServiceNow(_FakeServer):
    """The Table API over ``records`` of one table (default ``incident``)."""

    def __init__(self, records: list[dict[str, Cell]], table: str = "incident",
                 max_limit: int = 10000, links: bool = True, **auth: str) -> None:
        super().__init__(**auth)
        self.records, self.table, self.max_limit, self.links = records, table, max_limit, links

    def __enter__(self) -> FakeServiceNow:
        super().__enter__()
        return self

    def error_body(self, message: str, detail: str | None = None) -> Any:
        return {"error": {"message": message, "detail": detail}, "status": "failure"}

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path != f"/api/now/table/{self.table}":
            return 400, self.error_body("Invalid table", path), {}
        rows = self.records
        query = params.get("sysparm_query", "")
        if query:
            m = QUERY.match(query)
            if m is None:
                return 400, self.error_body("Unsupported query in the fake", query), {}
            rows = [r for r in rows if r["sys_updated_on"][0] >= m.group(1)]
            rows = sorted(rows, key=lambda r: (r["sys_updated_on"][0], r["number"][0]))
        limit = min(int(params.get("sysparm_limit", "10000")), self.max_limit)
        offset = int(params.get("sysparm_offset", "0"))
        page = rows[offset:offset + limit]
        self.served.append([r["number"][0] for r in page])
        fields = [f for f in params.get("sysparm_fields", "").split(",") if f]
        mode = params.get("sysparm_display_value", "false")
        result = []
        for r in page:
            chosen = {f: r[f] for f in fields if f in r} if fields else r   # unknown: left out
            if mode == "all":
                result.append({f: {"display_value": d, "value": v}
                               for f, (v, d) in chosen.items()})
            else:
                result.append({f: d if mode == "true" else v for f, (v, d) in chosen.items()})
        headers = {"X-Total-Count": str(len(rows))}
        if self.links:
            def link(rel: str, at: int) -> str:
                return f'<{self.url}{path}?{urlencode({**params, "sysparm_offset": at})}>;' \
                       f'rel="{rel}"'
            parts = [link("first", 0)]
            if offset > 0:
                parts.append(link("prev", max(0, offset - limit)))
            if offset + limit < len(rows):
                parts.append(link("next", offset + limit))
            parts.append(link("last", max(0, (len(rows) - 1) // limit * limit)))
            headers["Link"] = ",".join(parts)
        return 200, {"result": result}, headers


JQL_UPDATED = re.compile(r'updated >= "(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2})"')


class FakeJira(_FakeServer):
    """Jira's REST search over ``issues``; ``max_results`` caps page sizes like Jira Cloud."""

    def __init__(self, issues: list[dict[str, Any]], max_results: int = 50, cloud: bool = False,
                 **auth: str) -> None:
        """``cloud``: today's Jira Cloud, where ``/search`` answers 410 Gone and
        ``/search/jql`` pages by ``nextPageToken`` / ``isLast`` without a total."""
        super().__init__(**auth)
        self.issues, self.max_results, self.cloud = issues, max_results, cloud

    def __enter__(self) -> FakeJira:
        super().__enter__()
        return self

    def error_body(self, message: str, detail: str | None = None) -> Any:
        return {"errorMessages": [message], "errors": {}}

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/rest/api/2/search" and self.cloud:
            return 410, self.error_body("The requested API has been removed. Please migrate to "
                                        "the /rest/api/3/search/jql API."), {}
        if path == "/rest/api/2/search/jql" and self.cloud:
            token = params.get("nextPageToken")
            start = int(base64.b64decode(token).decode().split(":")[1]) if token else 0
            status, body, headers = self._search(params, start)
            if status != 200:
                return status, body, headers
            end = start + len(body["issues"])
            last = end >= body["total"]
            page = {"issues": body["issues"], "isLast": last}
            if not last:
                page["nextPageToken"] = base64.b64encode(f"offset:{end}".encode()).decode()
            return 200, page, {}
        if path != "/rest/api/2/search":
            return 404, self.error_body("not found"), {}
        return self._search(params, int(params.get("startAt", "0")))

    def _search(self, params: dict[str, str], start: int) -> tuple[int, Any, dict[str, str]]:
        jql = params.get("jql", "")
        if "ORDER BY updated ASC, key ASC" not in jql:
            return 400, self.error_body(f"the fake expects an order by update: {jql}"), {}
        issues = self.issues
        m = JQL_UPDATED.search(jql)
        if m:
            since = "{}-{}-{}T{}:{}".format(*m.groups())
            issues = [i for i in issues if (i["fields"]["updated"] or "") >= since]
        issues = sorted(issues, key=lambda i: (i["fields"]["updated"] or "",
                                               int(i["key"].split("-")[1])))
        size = min(int(params.get("maxResults", "50")), self.max_results)
        wanted = [f for f in params.get("fields", "").split(",") if f]
        page = [{**i, "fields": {k: v for k, v in i["fields"].items()
                                 if not wanted or k in wanted}}
                for i in issues[start:start + size]]
        self.served.append([i["key"] for i in page])
        return 200, {"expand": "schema,names", "startAt": start, "maxResults": size,
                     "total": len(issues), "issues": page}, {}
