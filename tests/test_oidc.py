"""Sign-in through the organisation's identity provider (issue 17 item 4), against a REAL local
OpenID Connect provider: the npm package ``oidc-provider`` (tests/oidc/provider.js, installed
with ``npm ci`` on first use), and the app under a real uvicorn on 127.0.0.1, on SQLite and
PostgreSQL. A real HTTP client plays the browser: it follows each redirect, posts the
provider's login form, and comes back to the app's callback.

Without node the provider tests skip, unless ``DIPSTICK_REQUIRE_OIDC=1`` (CI) makes that a
failure. The groups-to-roles rules are checked on their own first.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest

from dipstick.errors import UsageError
from dipstick.rolemap import parse_role_map, role_for
from dipstick.store import Store
from dipstick.store.audit_log import Query, entries
from dipstick.store.users import create_user, set_active, users
from dipstick.web.app import WebConfig, create_app

from clirun import dipstick
from db import postgres_schema
from local import free_port
from webserver import BACKENDS, PASSWORD, SECRET, csrf_of, serving

HERE = Path(__file__).parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "dipstick-test", "a-client-secret-for-tests"
ROLE_MAP = "it-admins=admin,execs=leader,service-owners=owner"
START_DEADLINE_S = 120.0   # npm ci and node's start on a loaded machine: a deadline, not a pause
ACCOUNTS = {
    "alice": {"email": "alice@example.org", "email_verified": True, "name": "Alice",
              "groups": ["staff", "it-admins"]},
    "bob": {"email": "bob@example.org", "email_verified": True, "name": "Bob",
            "groups": ["execs"]},
    "eve": {"email": "eve@example.org", "email_verified": True, "name": "Eve",
            "groups": ["contractors"]},
    "dora": {"email": "dora@example.org", "email_verified": True, "name": "Dora",
             "groups": ["execs"]},
}


# --- groups to roles (no provider needed) ----------------------------------------------------

def test_groups_map_to_the_strongest_role_then_to_star_else_to_none() -> None:
    mapping = parse_role_map("it-admins=admin, execs=leader\nservice-owners=owner,*=viewer")
    assert role_for(["execs", "it-admins"], mapping) == "admin"
    assert role_for(["service-owners", "execs"], mapping) == "leader"
    assert role_for(["other"], mapping) == "viewer"
    assert role_for([], mapping) == "viewer"
    assert role_for(["other", "*"], parse_role_map(ROLE_MAP)) is None
    assert parse_role_map("a=b=admin") == {"a=b": "admin"}   # the last = splits
    for bad in ("it-admins", "=admin", "execs=root"):
        with pytest.raises(UsageError, match="DIPSTICK_OIDC_ROLES"):
            parse_role_map(bad)


def test_a_half_set_up_provider_stops_the_app_with_the_variable_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIPSTICK_OIDC_ISSUER", "http://127.0.0.1:9")
    with pytest.raises(UsageError, match="DIPSTICK_OIDC_CLIENT_ID"):
        create_app(WebConfig(database="sqlite://", secret_key=SECRET))
    monkeypatch.setenv("DIPSTICK_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DIPSTICK_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("DIPSTICK_OIDC_ROLES", "execs=boss")
    with pytest.raises(UsageError, match="execs=boss"):
        create_app(WebConfig(database="sqlite://", secret_key=SECRET))


def test_serve_with_a_half_set_up_provider_is_exit_2_naming_the_variable(
        tmp_path: Path) -> None:
    """Not a traceback with exit 1: the server refuses to start, before it listens."""
    for env, named in (({"DIPSTICK_OIDC_ISSUER": "http://127.0.0.1:9"}, "DIPSTICK_OIDC_CLIENT_ID"),
                       ({"DIPSTICK_OIDC_ISSUER": "http://127.0.0.1:9",
                         "DIPSTICK_OIDC_CLIENT_ID": CLIENT_ID,
                         "DIPSTICK_OIDC_CLIENT_SECRET": CLIENT_SECRET,
                         "DIPSTICK_OIDC_ROLES": "execs=boss"}, "execs=boss")):
        for workers in ("1", "2"):
            done = dipstick("serve", "--database", f"sqlite:///{tmp_path / 'app.db'}",
                            "--no-uploads", "--workers", workers, "--port", "9", env=env,
                            unset=("DIPSTICK_OIDC_",))
            assert done.returncode == 2 and named in done.stderr, done.stderr
            assert "serving on" not in done.stderr


# --- the real provider -----------------------------------------------------------------------

def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the OpenID Connect provider (tests/oidc)"
        if os.environ.get("DIPSTICK_REQUIRE_OIDC") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                       check=True, timeout=START_DEADLINE_S)
    return node


@dataclass(frozen=True)
class Provider:
    issuer: str
    accounts: Path
    forge: Path      # while it exists, the provider's ID tokens are signed with a rogue key

    def set_groups(self, login: str, groups: list[str]) -> None:
        found = json.loads(self.accounts.read_text())
        found[login]["groups"] = groups
        self.accounts.write_text(json.dumps(found))


def _start_provider(stack: ExitStack, folder: Path, callback: str) -> Provider:
    """oidc-provider on a free port, waiting for its "ready" line (or its death)."""
    accounts = folder / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    port = free_port()
    env = os.environ | {"PORT": str(port), "CLIENT_ID": CLIENT_ID, "REDIRECT_URI": callback,
                        "CLIENT_SECRET": CLIENT_SECRET, "ACCOUNTS_FILE": str(accounts),
                        "FORGE_FILE": str(folder / "forge")}
    log = stack.enter_context((folder / "provider.log").open("w"))   # its warnings, its debug
    process = subprocess.Popen([_node(), "provider.js"], cwd=HERE, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=log)

    def stop() -> None:
        process.terminate()
        process.wait(timeout=30)

    stack.callback(stop)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_DEADLINE_S)
    line = process.stdout.readline() if ready else ""
    assert line.startswith("ready "), \
        f"the provider did not start: {line}{(folder / 'provider.log').read_text()}"
    return Provider(line.split()[1], accounts, folder / "forge")


@dataclass(frozen=True)
class Site:
    url: str
    database: str
    provider: Provider


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    """The app (uvicorn) with DIPSTICK_OIDC_* pointing at a real provider; a local admin and a
    local user, dora, who is disabled."""
    folder = tmp_path_factory.mktemp("oidc")
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        url = (stack.enter_context(postgres_schema()) if request.param == "postgres"
               else f"sqlite:///{folder / 'app.db'}")
        with Store.open(url) as store:
            store.migrate()
            create_user(store, "admin@example.org", PASSWORD, "admin")
            create_user(store, "dora@example.org", PASSWORD, "viewer")
            set_active(store, "dora@example.org", False)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        provider = _start_provider(stack, folder, f"{base}/login/oidc/callback")
        for name, value in (("ISSUER", provider.issuer), ("CLIENT_ID", CLIENT_ID),
                            ("CLIENT_SECRET", CLIENT_SECRET), ("ROLES", ROLE_MAP),
                            ("LABEL", "Example Corp")):
            env.setenv(f"DIPSTICK_OIDC_{name}", value)
        env.setenv("DIPSTICK_BASE_URL", base)
        served = stack.enter_context(serving(WebConfig(database=url, secret_key=SECRET),
                                             port=port))
        yield Site(served, url, provider)


def _tampered(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = query["state"][:-2] + ("xx" if not query["state"].endswith("xx") else "yy")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sign_in(site: Site, login: str, next_page: str = "/users",
             tamper: bool = False) -> tuple[httpx.Client, httpx.Response]:
    """A browser's way through: the app's button, the provider's login form, the callback.
    The answer of the app's callback, and the client with its cookies."""
    http = httpx.Client(timeout=60, follow_redirects=False)
    page = http.get(f"{site.url}/login")
    assert "Sign in with Example Corp" in page.text
    answer = http.get(f"{site.url}/login/oidc", params={"next": next_page})
    asked = parse_qs(urlsplit(answer.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"]   # PKCE
    assert asked["state"] and asked["nonce"] and asked["response_type"] == ["code"]
    for _ in range(20):
        if answer.status_code in (302, 303):
            target = urljoin(str(answer.url), answer.headers["location"])
            if target.startswith(f"{site.url}/login/oidc/callback"):
                return http, http.get(_tampered(target) if tamper else target)
            answer = http.get(target)
        elif answer.status_code == 200 and 'name="login"' in answer.text:
            action = re.search(r'action="([^"]+)"', answer.text)
            assert action, answer.text[:500]
            answer = http.post(urljoin(str(answer.url), action.group(1)),
                               data={"prompt": "login", "login": login, "password": "any"})
        else:
            raise AssertionError(f"unexpected {answer.status_code} at {answer.url}: "
                                 f"{answer.text[:500]}")
    raise AssertionError("too many redirects")


def _me(site: Site, http: httpx.Client) -> httpx.Response:
    return http.get(f"{site.url}/api/me")


def test_first_sign_in_creates_the_user_with_the_role_of_their_groups(site: Site) -> None:
    http, answer = _sign_in(site, "alice")
    assert answer.status_code == 303 and answer.headers["location"] == "/users"
    me = _me(site, http).json()
    assert (me["email"], me["role"]) == ("alice@example.org", "admin")
    assert http.get(f"{site.url}/users").status_code == 200
    with Store.open(site.database) as store:
        alice = next(u for u in users(store) if u.email == "alice@example.org")
    assert alice.oidc and not alice.password and alice.state == "active"
    listed = json.loads(dipstick("users", "list", "--database", site.database,
                                 "--format", "json").stdout)
    assert {"email": "alice@example.org", "oidc": True, "password": False} .items() <= next(
        u for u in listed if u["email"] == "alice@example.org").items()
    with Store.open(site.database) as store:   # the audit trail says how she signed in
        found, _ = entries(store, Query(actor="alice@example.org", action="sign-in"))
    assert found and found[0].to_json()["detail"] == {"via": "oidc"}
    assert found[0].to_json()["source"] == "127.0.0.1"


def test_each_sign_in_takes_the_role_from_the_groups_again(site: Site) -> None:
    http, answer = _sign_in(site, "bob", next_page="/")
    assert answer.status_code == 303 and _me(site, http).json()["role"] == "leader"
    site.provider.set_groups("bob", ["service-owners"])
    try:
        http, answer = _sign_in(site, "bob", next_page="/")
        assert answer.status_code == 303 and _me(site, http).json()["role"] == "owner"
    finally:
        site.provider.set_groups("bob", ["execs"])


def test_someone_in_no_mapped_group_is_refused_with_a_clear_page(site: Site) -> None:
    http, answer = _sign_in(site, "eve")
    assert answer.status_code == 403
    assert "none of your groups gives access" in answer.text
    assert _me(site, http).status_code == 401
    with Store.open(site.database) as store:
        assert "eve@example.org" not in {u.email for u in users(store)}


def test_a_user_disabled_here_cannot_sign_in_through_the_provider(site: Site) -> None:
    http, answer = _sign_in(site, "dora")
    assert answer.status_code == 403 and "disabled" in answer.text
    assert _me(site, http).status_code == 401


def test_a_tampered_state_is_refused_and_signs_no_one_in(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dipstick.web.oidc"):
        http, answer = _sign_in(site, "alice", tamper=True)
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert "MismatchingStateError" in caplog.text
    assert _me(site, http).status_code == 401
    # a callback that never started here (no state in the session) is refused the same way
    stranger = httpx.Client(timeout=60)
    late = stranger.get(f"{site.url}/login/oidc/callback", params={"code": "x", "state": "y"})
    assert late.status_code == 400 and _me(site, stranger).status_code == 401


def test_an_id_token_not_signed_with_the_providers_key_is_refused(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.provider.forge.touch()
    try:
        with caplog.at_level(logging.WARNING, logger="dipstick.web.oidc"):
            http, answer = _sign_in(site, "alice")
    finally:
        site.provider.forge.unlink()
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert "BadSignatureError" in caplog.text
    assert _me(site, http).status_code == 401
    http, answer = _sign_in(site, "alice")          # the genuine token still signs in
    assert answer.status_code == 303 and _me(site, http).status_code == 200


def test_local_passwords_still_sign_in_beside_the_provider(site: Site) -> None:
    http = httpx.Client(timeout=60, follow_redirects=False)
    token = csrf_of(http.get(f"{site.url}/login").text)
    answer = http.post(f"{site.url}/login", data={
        "email": "admin@example.org", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303 and _me(site, http).json()["role"] == "admin"
