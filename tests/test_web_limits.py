"""Limits before work (issue 17, part A): what the web app refuses before it reads a body,
whom it believes about a client's address, how much its throttles remember, where its links
point, and the headers every answer carries.

The body limits and the proxy headers are about the network, so those tests use a real
uvicorn on 127.0.0.1 and a raw socket (a chunked body, no ``Content-Length``: what an HTTP
library would not send); the rest run in process.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from webserver import (
    InProcessClient,
    PreparedDemo,
    RunningApp,
    app_on,
    csrf_of,
    fresh,
    served,
    signed_in,
)

MB = 1024**2
CHUNK = 64 * 1024
SENT = 20 * MB             # what a client offers; the server must answer long before
# the client sends at most this before it sees the answer: the route's limit (1 MB at most
# here) plus what the sockets' buffers take in (a server that read the whole body would only
# answer once all of SENT was sent)
BEFORE_ANSWER = SENT // 2
PACE_S = 0.005             # how long the client looks for an answer between chunks


@pytest.fixture(scope="module")
def app(web_demo: PreparedDemo, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningApp]:
    """The demo app in process on SQLite, keeping uploads, taking zips of at most 1 MB."""
    with app_on("sqlite", web_demo.package, tmp_path_factory, web_demo,
                packages_dir=tmp_path_factory.mktemp("uploads"),
                max_upload_bytes=MB) as running:
        yield running


@pytest.fixture(scope="module")
def server(app: RunningApp) -> Iterator[RunningApp]:
    """The same app database under a real uvicorn, with the same limits."""
    assert app.asgi is not None
    with served(app, packages_dir=app.asgi.state.config.packages_dir,
                max_upload_bytes=MB) as running:
        yield running


# --- a raw HTTP client: a chunked body, stopped as soon as the server answers ---------------

def _deleted_files() -> int:
    """Open files of this process (the served app runs in a thread of it) in the temporary
    folder and already deleted: the spooled files of a form being read."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):       # a descriptor closed meanwhile
            target = os.readlink(fd)
            count += target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)")
    return count


def send_chunked(url: str, path: str, headers: dict[str, str] | None = None,
                 total: int = SENT) -> tuple[int | None, int]:
    """POST ``total`` bytes chunked (no Content-Length) to ``path``, checking before each
    chunk whether the server has answered; (the status — None if the connection was closed
    without one — and the bytes of body sent before the client stopped)."""
    where = urlsplit(url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}",
             "Content-Type: multipart/form-data; boundary=xyz", "Transfer-Encoding: chunked",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    sent = 0
    with socket.create_connection((where.hostname, where.port), timeout=60) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        part = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.zip"'
                b"\r\nContent-Type: application/zip\r\n\r\n")
        s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")     # a well-formed start
        chunk = b"%x\r\n" % CHUNK + b"z" * CHUNK + b"\r\n"
        try:
            while sent < total and not select.select([s], [], [], PACE_S)[0]:
                s.sendall(chunk)
                sent += CHUNK
            else:
                if sent >= total:
                    s.sendall(b"0\r\n\r\n")
            answer = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            return None, sent
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return (int(found.group(1)) if found else None), sent


def send_declared(url: str, path: str, length: int) -> int:
    """Only the headers of a POST declaring ``length`` bytes: the answer, with no body sent."""
    where = urlsplit(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/zip"
            f"\r\nContent-Length: {length}\r\n\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=60) as s:
        s.sendall(head.encode())
        answer = s.recv(65536)
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert found, answer[:200]
    return int(found.group(1))


def _stored(app: RunningApp) -> list[Path]:
    assert app.asgi is not None
    folder: Path = app.asgi.state.config.packages_dir
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("path", ["/api/packages", "/runs/upload", "/login", "/p/x",
                                  "/logout", "/pulse/campaigns"])
def test_a_chunked_body_without_a_session_is_refused_before_it_is_read(
        app: RunningApp, server: RunningApp, path: str) -> None:
    """Issue 17: 300 MB chunked posts without a session were read whole (a 100 MB temporary
    file meanwhile). Now the answer comes having read at most the route's small limit."""
    before, files = _stored(app), _deleted_files()
    status, sent = send_chunked(server.url, path)
    assert status in (401, 403, 413, None), status
    assert sent < BEFORE_ANSWER, f"{path}: the client sent {sent:,} bytes before the answer"
    assert _stored(app) == before
    assert _deleted_files() <= files


def _session(server: RunningApp, role: str) -> tuple[str, str]:
    """A signed-in session on the served app: its cookie header and its form token."""
    with signed_in(server, role) as http:
        token = csrf_of(http.get("/runs").text)
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    return cookie, token


@pytest.mark.parametrize("path", ["/api/packages", "/runs/upload"])
def test_an_upload_is_refused_before_its_body_without_the_admin_or_the_token(
        app: RunningApp, server: RunningApp, path: str) -> None:
    """The caller and the form token are known before the body (the cookie; the token in a
    header or the form's action): a leader, or an admin without the token, is refused
    without a byte of the zip read."""
    leader, leader_token = _session(server, "leader")
    admin, _ = _session(server, "admin")
    for headers in ({"Cookie": leader, "X-CSRF-Token": leader_token},
                    {"Cookie": admin},
                    {"Cookie": admin, "X-CSRF-Token": "forged"},
                    {"Authorization": "Bearer not-a-token"}):
        before = _stored(app)
        status, sent = send_chunked(server.url, path, headers)
        # a page answers "sign in" (303 to /login), the API 401, a wrong role or token 403
        assert status in (303, 401, 403, None), (headers.keys(), status)
        assert sent < BEFORE_ANSWER, (headers.keys(), sent)
        assert _stored(app) == before


@pytest.mark.parametrize("path", ["/api/packages", "/runs/upload"])
def test_a_chunked_upload_past_max_upload_mb_is_refused_and_not_stored(
        app: RunningApp, server: RunningApp, path: str) -> None:
    """Issue 17: with --max-upload-mb 1 a 5 MB zip sent chunked was accepted and stored."""
    cookie, token = _session(server, "admin")
    before, files = _stored(app), _deleted_files()
    status, sent = send_chunked(server.url, f"{path}?csrf_token={token}",
                                {"Cookie": cookie}, total=5 * MB)
    assert status in (413, None), status
    assert sent < 5 * MB
    assert _stored(app) == before
    assert _deleted_files() <= files


@pytest.mark.parametrize("path", ["/api/packages", "/login", "/p/x", "/api/actions"])
def test_a_declared_length_over_the_limit_is_refused_at_once(server: RunningApp,
                                                             path: str) -> None:
    assert send_declared(server.url, path, 300 * MB) == 413


def test_the_upload_form_carries_its_token_in_its_action(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        page = http.get("/runs").text
        token = csrf_of(page)
        assert f'action="/runs/upload?csrf_token={token}"' in page


def test_a_form_post_over_its_limit_is_413_in_process(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/").text)
        r = http.post("/logout", data={"csrf_token": token, "pad": "x" * (2 * MB)})
        assert r.status_code == 413
        assert http.get("/").status_code == 200      # still signed in: nothing was done


# --- the pulse form: a second answer from one browser ---------------------------------------

NONCE = re.compile(r'name="nonce" value="([^"]+)"')
DIMS = re.compile(r'name="(dim:[^"]+)" value="0"')


def _open_link(app: RunningApp) -> str:
    from dipstick.package import read_model
    from dipstick.pulse import campaigns as repo
    from dipstick.store import Store

    model, problems = read_model(app.package)
    assert model is not None, problems
    with Store.open(app.database) as store:
        c = repo.start_campaign(store, model, app.owned[0], created_by="test")
        return f"/p/{repo.open_link(store, c, c.groups[0]).token}"


@pytest.mark.parametrize("root", ["", "/sub"], ids=["fast path", "routed"])
def test_a_second_answer_from_one_browser_on_an_open_link_is_409(app: RunningApp,
                                                                 root: str) -> None:
    """Issue 17: the second answer from the same browser returned 500 (documented: 409). The
    answer goes through the fast path, or — behind a path prefix — through the routes."""
    assert app.asgi is not None
    link = _open_link(app)
    with InProcessClient(app.asgi, base_url=app.url, root_path=root) as http:
        page = http.get(root + link)
        assert page.status_code == 200, page.text[:300]
        browser = http.cookies.get("dipstick_pulse_browser")
        http.cookies.clear()           # the cookie's path is /p/: sent under the prefix too
        http.cookies.set("dipstick_pulse_browser", browser)
        nonce = NONCE.search(page.text)
        assert nonce
        data = {d: "8" for d in DIMS.findall(page.text)} | {"nonce": nonce.group(1)}
        assert http.post(root + link, data=data).status_code == 200
        again = http.post(root + link, data=data)
        assert again.status_code == 409, again.text[:300]
        assert "has been used" in again.text
        as_json = http.post(root + link, data=data, headers={"Accept": "application/json"})
        assert as_json.status_code == 409 and as_json.json()["error"] == 409


# --- headers: no-store, HSTS, and on a 500 too -----------------------------------------------

SECURITY = ("x-content-type-options", "referrer-policy", "content-security-policy")


def test_signed_in_pages_and_the_api_are_not_stored_by_caches(app: RunningApp) -> None:
    """Issue 17: signed-in pages and the API sent no Cache-Control: a shared computer's
    browser cache (or a proxy) kept the portfolio for the next person."""
    with signed_in(app, "leader") as http:
        for path in ("/", "/runs", "/pulse", "/api/portfolio", "/api/runs", "/api/me"):
            r = http.get(path)
            assert r.status_code == 200, path
            assert r.headers["cache-control"] == "no-store", path
            assert all(h in r.headers for h in SECURITY), path
            assert "strict-transport-security" not in r.headers       # not --https
        static = http.get("/static/plotly.min.js")
        assert static.headers["cache-control"].startswith("public")   # assets keep caching
        assert "no-store" not in http.get("/static/app.css").headers.get("cache-control", "")


def test_hsts_with_https(app: RunningApp) -> None:
    with fresh(app, https=True) as own, own.client() as http:
        for path in ("/login", "/static/app.css", "/api/me"):
            assert http.get(path).headers["strict-transport-security"].startswith("max-age=")


def test_a_500_carries_the_security_headers(app: RunningApp) -> None:
    """Issue 17: a 500 (Starlette's own error page) left without the security headers. The
    failure: a route of this test on this app instance that raises."""
    assert app.asgi is not None

    def broken() -> None:
        raise RuntimeError("a failure the app did not expect")

    app.asgi.add_api_route("/test-only/broken", broken)
    app.asgi.middleware_stack = None       # the routes are read when the stack is built
    with InProcessClient(app.asgi, base_url=app.url,
                         raise_server_exceptions=False) as http:
        r = http.get("/test-only/broken")
    assert r.status_code == 500
    assert all(h in r.headers for h in SECURITY) and r.headers["cache-control"] == "no-store"


# --- links from configuration, never from Host ------------------------------------------------

def _campaign_links(app: RunningApp, http: httpx.Client, **headers: str) -> list[str]:
    from dipstick.package import read_model
    from dipstick.pulse import campaigns as repo
    from dipstick.store import Store

    model, _ = read_model(app.package)
    assert model is not None
    with Store.open(app.database) as store:
        c = repo.start_campaign(store, model, app.owned[0], created_by="test")
    token = csrf_of(http.get("/").text)
    r = http.post(f"/pulse/campaigns/{c.id}/links", data={"csrf_token": token, "count": "2"},
                  headers={"Accept": "application/json", **headers})
    assert r.status_code == 200, r.text[:300]
    return [x["url"] for x in r.json()["links"]]


def test_pulse_links_use_the_configured_base_url_not_the_host_header(app: RunningApp) -> None:
    """Issue 17: ``Host: evil.example`` made the links ``http://evil.example/p/…``."""
    with fresh(app, base_url="https://dipstick.example.org") as own, \
            signed_in(own, "admin") as http:
        urls = _campaign_links(own, http, Host="evil.example")
    assert urls and all(u.startswith("https://dipstick.example.org/p/") for u in urls)


def test_without_base_url_the_links_use_dipstick_base_url(app: RunningApp,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("DIPSTICK_BASE_URL", "https://from-env.example")
    with signed_in(app, "admin") as http:
        urls = _campaign_links(app, http, Host="evil.example")
    assert urls and all(u.startswith("https://from-env.example/p/") for u in urls)


# --- offsets and limits -----------------------------------------------------------------------

def _paged_routes(app: RunningApp) -> list[tuple[str, str]]:
    """Every GET route with an ``offset`` or ``limit`` query parameter: (path, parameter).
    (FastAPI ≥ 0.16x keeps included routers as route groups: their effective routes.)"""
    assert app.asgi is not None
    found: set[tuple[str, str]] = set()
    for top in app.asgi.routes:
        pairs = ([(c.path, c.original_route) for c in top.effective_route_contexts()]
                 if hasattr(top, "effective_route_contexts")
                 else [(getattr(top, "path", ""), top)])
        for path, route in pairs:
            dependant = getattr(route, "dependant", None)
            if dependant is None or "GET" not in getattr(route, "methods", ()):
                continue
            names = {p.alias for d in (dependant, *dependant.dependencies)
                     for p in d.query_params}
            found |= {(path, n) for n in ("offset", "limit") if n in names}
    return sorted(found)


@pytest.mark.parametrize("value", ["9223372036854775808", "-1", "99999999999999999999999"])
def test_every_offset_and_limit_is_bounded(app: RunningApp, value: str) -> None:
    """Issue 17: ``?offset=9223372036854775808`` on /api/runs and /runs was a 500 (and a reset
    connection). Every paged route: 422, as JSON for the API, as a page for a browser."""
    paged = _paged_routes(app)
    assert {("/api/runs", "offset"), ("/runs", "offset"), ("/", "offset"),
            ("/api/portfolio", "limit")} <= set(paged)
    with signed_in(app, "leader") as http:
        for path, name in paged:
            if path.startswith("/api/"):
                r = http.get(path, params={name: value})
                assert r.status_code == 422, (path, name, r.status_code)
                assert r.json()["error"] == 422 and name in str(r.json()["detail"]), path
            else:
                r = http.get(path, params={name: value}, headers={"Accept": "text/html"})
                assert r.status_code == 422, (path, name, r.status_code)
                assert "text/html" in r.headers["content-type"] and name in r.text, path
