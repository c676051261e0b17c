"""Security of the web app, in process on SQLite (chromium against a real server): form tokens
on every POST, session cookie flags, HTML in user-provided text shown escaped, login throttling
per client address, API tokens from the CLI, sign-out, no open redirect.

The demo cannot carry hostile text, so this module serves a package of its own whose
organisation, service name, owner, group, outcome and a survey comment are HTML.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dipstick.store import Store
from dipstick.store.users import create_user

from builder import PackageBuilder
from test_web_roles import TABLE, app_routes
from webserver import PASSWORD, RunningApp, csrf_of, fresh, served, signed_in

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
EVIL = f"{SCRIPT}{IMG}"
EVIL_ID = "evil"
# what must never reach an HTML page as markup (the tags themselves, however the text is cut)
RAW = ("<script>alert", "<img src=x", "onerror=alert(1)>")


def hostile_package(root: Path) -> Path:
    """Two services; the second's name, owner and comments, the organisation, a group and an
    outcome are HTML. It leaks (satisfaction stepped down), so it is on every page."""
    b = PackageBuilder(root)
    b.model["organisation"]["name"] = f"Org {EVIL}"
    b.model["stakeholder_groups"][0]["name"] = f"Staff {EVIL}"
    b.model["outcomes"][0]["name"] = f"Sales {EVIL}"
    b.healthy("crm")
    b.service(EVIL_ID, name=f"Svc {EVIL}", owner=f"{SCRIPT}@example.org {IMG}",
              capability=f"cap {EVIL}")
    b.usage(EVIL_ID).satisfaction_step(EVIL_ID).surveys(EVIL_ID)
    recent = [b.as_of - timedelta(days=d) for d in (5, 12, 20)]
    b.rows("surveys", ({"date": d.isoformat(), "service": EVIL_ID, "group": "staff",
                        "dimension": "ease", "score": 2, "respondent": f"c{k}",
                        "comment": f"Comment {k} {EVIL}"} for k, d in enumerate(recent)))
    return b.write()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_package(tmp_path_factory.mktemp("web-security") / "hostile")


def _get_paths(role: str | None = None) -> list[str]:
    """Every GET route of the roles table (that ``role`` may open), filled with the hostile
    service."""
    paths = []
    for method, path in TABLE:
        if method != "GET" or path in ("/static", "/static/plotly.min.js", "/api/openapi.json"):
            continue
        if role is not None and TABLE[method, path][role] != 200:   # e.g. /audit: admins
            continue
        if re.search(r"{(?!service_id})", path):   # records this module does not make (jobs,
            continue                              # check-ins: test_pulse_web covers those)
        paths.append(path.replace("{service_id}", EVIL_ID))
    return sorted(paths)


# --- CSRF ------------------------------------------------------------------------------------

def _post_routes() -> list[str]:
    return sorted(path for method, path in app_routes() if method == "POST")


def test_every_post_route_refuses_a_missing_or_foreign_form_token(app: RunningApp) -> None:
    posts = _post_routes()
    assert {"/login", "/logout"} <= set(posts)
    with signed_in(app, "admin") as http, signed_in(app, "leader") as other:
        mine = csrf_of(http.get("/").text)
        foreign = csrf_of(other.get("/").text)
        assert mine != foreign
        for path in posts:
            form = {"email": app.users["admin"], "password": PASSWORD}
            for token in (None, "", "forged-token", foreign):
                data = form | ({"csrf_token": token} if token is not None else {})
                r = http.post(path, data=data)
                assert r.status_code == 403, (path, token, r.status_code, r.text[:200])
        # still signed in: no refused post logged anyone out
        assert http.get("/").status_code == 200
        assert http.post("/logout", data={"csrf_token": mine}).status_code == 303


def test_every_post_form_on_every_page_carries_the_token(app: RunningApp) -> None:
    with signed_in(app, "admin") as http:
        pages = ["/login", *(p for p in _get_paths() if not p.startswith("/api/"))]
        seen = 0
        for path in pages:
            page = http.get(path).text
            for form in re.findall(r"<form\b.*?</form>", page, flags=re.S | re.I):
                if re.search(r"method=\"?post", form, flags=re.I):
                    seen += 1
                    assert 'name="csrf_token"' in form, (path, form[:300])
        assert seen >= len(pages)   # at least the sign-out (or sign-in) form on each


def test_a_post_from_another_site_is_refused(app: RunningApp) -> None:
    """Even with the victim's session cookie (SameSite not honoured), a page elsewhere cannot
    read the token: a post without it changes nothing."""
    with signed_in(app, "viewer") as http:
        r = http.post("/logout", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert http.get("/").status_code == 200


# --- cookies and sessions --------------------------------------------------------------------

def _session_cookie(response: httpx.Response) -> str:
    cookies = [c for c in response.headers.get_list("set-cookie")
               if c.startswith("dipstick_session=")]
    assert cookies, response.headers
    return cookies[-1].lower()


def test_the_session_cookie_is_httponly_and_samesite_lax(app: RunningApp) -> None:
    with app.client() as http:
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users["leader"], "password": PASSWORD,
                                      "csrf_token": token})
        assert r.status_code == 303
        cookie = _session_cookie(r)
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert "secure" not in cookie   # plain http here: a Secure cookie would not come back


def test_the_session_cookie_is_secure_behind_https(app: RunningApp) -> None:
    with fresh(app, https=True) as behind_tls, behind_tls.client() as http:
        cookie = _session_cookie(http.get("/login"))
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_sign_out_ends_the_session(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        token = csrf_of(http.get("/").text)
        r = http.post("/logout", data={"csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert "dipstick_session=null" in r.headers["set-cookie"] or \
            "max-age=0" in r.headers["set-cookie"].lower() or \
            "expires=thu, 01 jan 1970" in r.headers["set-cookie"].lower()
        again = http.get("/")
        assert again.status_code == 303 and again.headers["location"].startswith("/login")
        assert http.get("/api/me").status_code == 401


def test_a_session_cookie_copied_before_sign_out_is_dead_after_it(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        stolen = http.cookies["dipstick_session"]
        token = csrf_of(http.get("/").text)
        assert http.post("/logout", data={"csrf_token": token}).status_code == 303
    with app.client(cookies={"dipstick_session": stolen}) as replay:
        r = replay.get("/")
        assert r.status_code == 303, "the session still works after sign-out"


# --- output escaping -------------------------------------------------------------------------

def test_html_in_user_text_is_escaped_on_every_page(app: RunningApp) -> None:
    with Store.open(app.database) as store:
        create_user(store, "hostile@example.org", PASSWORD, "admin", name=f"Me {EVIL}")
    app.users["hostile"] = "hostile@example.org"
    try:
        with signed_in(app, "hostile") as http:
            home = http.get("/")
            assert home.status_code == 200
            # the text is there, escaped (so the test is not vacuous)
            assert html.escape(f"Org {EVIL}", quote=False) in home.text
            assert html.escape(f"Me {EVIL}", quote=False) in home.text
            service = http.get(f"/services/{EVIL_ID}")
            assert service.status_code == 200
            assert html.escape(f"Svc {EVIL}", quote=False) in service.text
            assert html.escape(f"Comment 0 {EVIL}", quote=False) in service.text
            for path in ["/login", *_get_paths(), "/?q=" + EVIL,
                         "/?owner=" + EVIL, f"/services/{EVIL}", f"/api/services/{EVIL}"]:
                r = http.get(path)
                assert r.status_code < 500, (path, r.status_code)
                found = [raw for raw in RAW if raw in r.text]
                if r.headers.get("content-type", "").startswith("application/json"):
                    assert r.headers["x-content-type-options"] == "nosniff"
                    continue   # JSON carries the text as data (checked below)
                assert not found, f"{path} shows raw HTML from user text: {found}"
    finally:
        app.users.pop("hostile")


def test_the_api_returns_user_text_as_data(app: RunningApp) -> None:
    """JSON is not HTML: the text comes back exactly as written, served as JSON (with nosniff,
    so no browser renders it as a page)."""
    with signed_in(app, "leader") as http:
        r = http.get("/api/portfolio")
        assert r.headers["content-type"].startswith("application/json")
        data = r.json()
        assert data["run"]["organisation"] == f"Org {EVIL}"
        evil = next(s for s in data["services"] if s["id"] == EVIL_ID)
        assert evil["name"] == f"Svc {EVIL}"
        assert evil["owner"] == f"{SCRIPT}@example.org {IMG}"
        comments = http.get(f"/api/services/{EVIL_ID}").json()["surveys"]["comments"]
        assert f"Comment 0 {EVIL}" in {c["text"] for c in comments}
        assert json.loads(r.text) == data


def test_no_script_from_user_text_runs_in_the_browser(app: RunningApp, browser: Any) -> None:
    """The pages in chromium (the same database served by uvicorn): no dialog opens, no console
    error (an injected inline script or handler would also be refused by the CSP, which logs
    one)."""
    dialogs: list[str] = []
    errors: list[str] = []
    with served(app) as live:
        context = browser.new_context(base_url=live.url)
        try:
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto("/login")
            page.fill("input[name=email]", app.users["leader"])
            page.fill("input[name=password]", PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(re.compile(r"^[^?]*/$"))
            for path in [p for p in _get_paths("leader") if not p.startswith("/api/")]:
                page.goto(path)
                page.wait_for_load_state("networkidle")
            page.goto(f"/services/{EVIL_ID}")
            page.wait_for_load_state("networkidle")
            assert "Svc <script>" in page.locator("main").inner_text()   # shown as text
        finally:
            context.close()
    assert not dialogs, f"a script from user text ran: {dialogs}"
    assert not errors, errors


# --- login throttling per client address ------------------------------------------------------

def test_thirty_failures_from_one_address_lock_it_out(app: RunningApp) -> None:
    """Different e-mails (so the per-account limit of 5 never applies): the 31st attempt from
    the address is refused, even with a right password. A server of its own (the limits are per
    process), so the other tests' address stays allowed."""
    with fresh(app) as own, own.client() as http:
        codes = []
        for k in range(30):
            token = csrf_of(http.get("/login").text)
            codes.append(http.post("/login", data={
                "email": f"nobody{k}@example.org", "password": "wrong password!",
                "csrf_token": token}).status_code)
        assert codes == [401] * 30
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users["admin"], "password": PASSWORD,
                                      "csrf_token": token})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
        assert "dipstick_session" not in http.cookies or http.get("/").status_code == 303


# --- API tokens ------------------------------------------------------------------------------

def _dipstick(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DIPSTICK_DATABASE_URL": database, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "dipstick", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_an_api_token_from_the_cli_signs_in_the_api(app: RunningApp) -> None:
    done = _dipstick("users", "token", app.users["viewer"], "--name", "schema-test",
                     database=app.database)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1].strip()
    assert re.fullmatch(r"[A-Za-z0-9_\-]{32,}", token), done.stdout
    with app.client() as http:
        me = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["email"] == app.users["viewer"] and me.json()["role"] == "viewer"
        for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "nonsense", "x" * 43):
            r = http.get("/api/me", headers={"Authorization": f"Bearer {wrong}"})
            assert r.status_code == 401, wrong
        assert http.get("/api/me", headers={"Authorization": token}).status_code == 401
        # a token opens the API, not a browser session
        assert "dipstick_session" not in me.headers.get("set-cookie", "")
    bad = _dipstick("users", "token", "nobody@example.org", database=app.database)
    assert bad.returncode != 0


# --- redirects -------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x",
                                    "/\\evil.example", "/\t/evil.example",
                                    "http:evil.example", "javascript:alert(1)"])
def test_the_login_never_redirects_to_another_site(app: RunningApp, target: str) -> None:
    with app.client() as http:
        page = http.get("/login", params={"next": target}).text
        token = csrf_of(page)
        shown = re.search(r'name="next" value="([^"]*)"', page)
        assert shown
        r = http.post("/login", data={"email": app.users["viewer"], "password": PASSWORD,
                                      "csrf_token": token, "next": target})
        assert r.status_code == 303
        location = r.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
        assert not re.match(r"^/[\t\n\r]*[/\\]", location), location
        resolved = httpx.URL(app.url).join(location)
        assert resolved.host == httpx.URL(app.url).host, (location, resolved)
