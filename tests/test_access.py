"""Access that can end (issue 17, "No way to end access"), end to end on SQLite and PostgreSQL:
``dipstick users disable|enable|password|token --revoke|tokens``, token expiry (the clock
pinned with time-machine) and the admin's ``/users`` page, through the real app in process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text

from dipstick.store import MIGRATIONS, Store
from dipstick.store.users import (
    authenticate,
    set_password,
    sign_in_external,
    token_account,
)
from dipstick.web.app import WebConfig

from clirun import dipstick
from db import postgres_schema
from webserver import (
    BACKENDS,
    PASSWORD,
    ROLES,
    SECRET,
    InProcessClient,
    add_user,
    csrf_of,
    in_process,
)

NEW_PASSWORD = "another-long-password"
WRONG = "Wrong e-mail or password."


@dataclass(frozen=True)
class Site:
    database: str
    asgi: FastAPI

    def client(self) -> httpx.Client:
        return InProcessClient(self.asgi, base_url="http://testserver", follow_redirects=False)

    def login(self, email: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
        http = self.client()
        token = csrf_of(http.get("/login").text)
        answer = http.post("/login", data={"email": email, "password": password,
                                           "csrf_token": token, "next": "/"})
        return http, answer

    def signed_in(self, role: str) -> httpx.Client:
        http, answer = self.login(f"{role}@example.org")
        assert answer.status_code == 303, answer.text[:300]
        return http

    def cli(self, *args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
        ran = dipstick("users", *args, "--database", self.database, env=env)
        return ran.returncode, ran.stdout, ran.stderr


def with_users(url: str) -> str:
    """Migrate ``url`` and create one user per role (``ROLE@example.org``)."""
    with Store.open(url) as store:
        store.migrate()
        for role in ROLES:
            add_user(store, f"{role}@example.org", role)
    return url


@pytest.fixture(scope="module")
def sqlite_users(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite side's database, made once: each test copies the file. Its argon2 hashes,
    at production cost, were most of this module's time when made for every test."""
    file = tmp_path_factory.mktemp("users") / "app.db"
    with_users(f"sqlite:///{file}")
    return file


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """An app database of its own with one user per role (``ROLE@example.org``) and the app
    over it: on SQLite a copy of ``sqlite_users``, on PostgreSQL a new schema with the same
    users (their hashes made once)."""
    with ExitStack() as stack:
        if request.param == "postgres":
            url = with_users(stack.enter_context(postgres_schema()))
        else:
            template = request.getfixturevalue("sqlite_users")
            url = f"sqlite:///{shutil.copyfile(template, tmp_path / 'app.db')}"
        asgi = stack.enter_context(in_process(WebConfig(database=url, secret_key=SECRET)))
        yield Site(url, asgi)


def _me(http: httpx.Client, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get("/api/me", headers=headers).status_code


def _new_token(site: Site, email: str, *options: str) -> str:
    code, out, err = site.cli("token", email, *options)
    assert code == 0, err
    return out.strip().splitlines()[-1]


# --- disable / enable -----------------------------------------------------------------------

def test_a_disabled_user_is_signed_out_refused_like_a_wrong_password_and_loses_tokens(
        site: Site) -> None:
    browser = site.signed_in("viewer")
    token = _new_token(site, "viewer@example.org", "--name", "ci")
    assert _me(browser) == 200 and _me(site.client(), token) == 200

    code, out, _ = site.cli("disable", "viewer@example.org")
    assert code == 0 and "Disabled viewer@example.org" in out
    assert _me(browser) == 401                                   # the old cookie: signed out
    assert browser.get("/").headers["location"].startswith("/login")
    assert _me(site.client(), token) == 401                      # the token stopped
    _, refused = site.login("viewer@example.org")
    _, wrong = site.login("leader@example.org", "not-the-password")
    _, unknown = site.login("nobody@example.org")
    assert refused.status_code == wrong.status_code == unknown.status_code == 401
    assert WRONG in refused.text and WRONG in wrong.text and WRONG in unknown.text
    code, out, _ = site.cli("list", "--format", "json")
    states = {u["email"]: u["state"] for u in json.loads(out)}
    assert states["viewer@example.org"] == "disabled" and states["leader@example.org"] == "active"
    assert "disabled" in site.cli("list")[1]

    code, out, _ = site.cli("enable", "viewer@example.org")
    assert code == 0
    again, answer = site.login("viewer@example.org")
    assert answer.status_code == 303 and _me(again) == 200       # sign-in is back ...
    assert _me(browser) == 401                                   # ... not the old session
    assert _me(site.client(), token) == 401                      # ... nor the old token
    tokens = json.loads(site.cli("tokens", "viewer@example.org", "--format", "json")[1])
    assert [t["state"] for t in tokens] == ["revoked"]


def test_disable_and_enable_name_an_unknown_user_with_exit_2(site: Site) -> None:
    for verb in ("disable", "enable", "password"):
        code, _, err = site.cli(verb, "nobody@example.org",
                                env={"DIPSTICK_PASSWORD": NEW_PASSWORD})
        assert code == 2 and "nobody@example.org" in err, (verb, err)


# --- passwords ------------------------------------------------------------------------------

def test_a_new_password_ends_every_sign_in_of_that_user(site: Site) -> None:
    laptop, phone = site.signed_in("viewer"), site.signed_in("viewer")
    other = site.signed_in("leader")
    code, _, err = site.cli("password", "viewer@example.org",
                            env={"DIPSTICK_PASSWORD": NEW_PASSWORD})
    assert code == 0, err
    assert _me(laptop) == 401 and _me(phone) == 401 and _me(other) == 200
    assert site.login("viewer@example.org")[1].status_code == 401
    fresh, answer = site.login("viewer@example.org", NEW_PASSWORD)
    assert answer.status_code == 303 and _me(fresh) == 200

    short = site.cli("password", "viewer@example.org", env={"DIPSTICK_PASSWORD": "short"})
    assert short[0] == 2 and "10 characters" in short[2]
    assert _me(fresh) == 200                                     # a refused change ends nothing


def test_set_password_the_demos_reset_ends_the_old_sign_ins(site: Site) -> None:
    browser = site.signed_in("admin")
    with Store.open(site.database) as store:
        set_password(store, "admin@example.org", NEW_PASSWORD, role="admin")
    assert _me(browser) == 401


def test_a_user_from_the_identity_provider_has_no_password_to_guess(site: Site) -> None:
    with Store.open(site.database) as store:
        who = sign_in_external(store, "sub-1", "idp@example.org", "From IdP", "viewer")
        assert who is not None and who.role == "viewer"
        assert authenticate(store, "idp@example.org", "") is None
        assert authenticate(store, "idp@example.org", "any-long-password") is None
    assert site.login("idp@example.org", "any-long-password")[1].status_code == 401


# --- API tokens -----------------------------------------------------------------------------

def test_tokens_expire_are_listed_without_the_token_and_can_be_revoked(site: Site) -> None:
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        default = _new_token(site, "viewer@example.org", "--name", "default")
        day = _new_token(site, "viewer@example.org", "--name", "one-day", "--expires-days", "1")
        never = _new_token(site, "viewer@example.org", "--name", "cron", "--expires-days", "0")
        api = site.client()
        assert [_me(api, t) for t in (default, day, never)] == [200, 200, 200]

        code, out, _ = site.cli("tokens", "viewer@example.org", "--format", "json")
        listed = {t["name"]: t for t in json.loads(out)}
        assert not any(t in out for t in (default, day, never))
        assert listed["default"]["expires"].startswith("2027-04-04")     # 90 days
        assert listed["one-day"]["expires"].startswith("2027-01-05")
        assert listed["cron"]["expires"] is None
        assert listed["default"]["last_used"].startswith("2027-01-04")
        table = site.cli("tokens", "viewer@example.org")[1]
        assert "never" in table and "one-day" in table and default not in table

        clock.move_to(start + timedelta(days=1, seconds=1))
        assert [_me(api, t) for t in (default, day, never)] == [200, 401, 200]
        clock.move_to(start + timedelta(days=90, seconds=1))
        assert [_me(api, t) for t in (default, day, never)] == [401, 401, 200]
        states = {t["name"]: t["state"] for t in json.loads(
            site.cli("tokens", "--format", "json")[1])}
        assert states == {"default": "expired", "one-day": "expired", "cron": "active"}

    code, _, err = site.cli("token", "--revoke", str(listed["cron"]["id"]))
    assert code == 0 and "revoked" in err
    assert _me(api, never) == 401
    assert site.cli("token", "--revoke", "999999")[0] == 2
    assert site.cli("token", "viewer@example.org", "--revoke", "1")[0] == 2
    assert site.cli("token")[0] == 2
    assert site.cli("token", "viewer@example.org", "--expires-days", "-1")[0] == 2
    assert site.cli("token", "nobody@example.org")[0] == 2


# --- the admin's users page -----------------------------------------------------------------

def _post(http: httpx.Client, path: str, **form: str) -> httpx.Response:
    token = csrf_of(http.get("/login").text)
    return http.post(path, data={"csrf_token": token, **form})


@pytest.mark.parametrize("role", ["leader", "owner", "viewer"])
def test_the_users_page_and_its_forms_are_for_admins_only(site: Site, role: str) -> None:
    http = site.signed_in(role)
    assert http.get("/users").status_code == 403
    assert 'href="/users"' not in http.get("/runs").text
    for path, form in (("/users/disable", {"email": "admin@example.org"}),
                       ("/users/role", {"email": f"{role}@example.org", "role": "admin"}),
                       ("/users/tokens/revoke", {"token_id": "1"})):
        assert _post(http, path, **form).status_code == 403, path
    assert _me(site.signed_in("admin")) == 200
    assert http.get("/api/me").json()["role"] == role


def test_an_admin_disables_enables_changes_roles_and_revokes_on_the_users_page(
        site: Site) -> None:
    admin = site.signed_in("admin")
    page = admin.get("/users")
    assert page.status_code == 200 and 'href="/users"' in page.text
    for role in ROLES:
        assert f"{role}@example.org" in page.text
    viewer = site.signed_in("viewer")
    token = _new_token(site, "leader@example.org", "--name", "report-bot")

    # a form without the session's token changes nothing
    forged = admin.post("/users/disable", data={"email": "viewer@example.org"})
    assert forged.status_code == 403 and _me(viewer) == 200
    assert _post(admin, "/users/disable", email="viewer@example.org").status_code == 303
    assert _me(viewer) == 401
    assert 'class="disabled"' in admin.get("/users").text
    assert site.login("viewer@example.org")[1].status_code == 401
    assert _post(admin, "/users/enable", email="viewer@example.org").status_code == 303
    viewer = site.signed_in("viewer")

    assert _post(admin, "/users/role", email="viewer@example.org",
                 role="leader").status_code == 303
    assert viewer.get("/api/me").json()["role"] == "leader"     # from the next request
    assert _post(admin, "/users/role", email="viewer@example.org",
                 role="root").status_code == 400

    page = admin.get("/users").text
    assert "report-bot" in page and token not in page
    token_id = json.loads(site.cli("tokens", "--format", "json")[1])[0]["id"]
    assert _me(site.client(), token) == 200
    assert _post(admin, "/users/tokens/revoke", token_id=str(token_id)).status_code == 303
    assert _me(site.client(), token) == 401
    assert _post(admin, "/users/tokens/revoke", token_id="999999").status_code == 400

    # no admin locks themselves out
    assert _post(admin, "/users/disable", email="admin@example.org").status_code == 409
    assert _post(admin, "/users/role", email="admin@example.org",
                 role="viewer").status_code == 409
    assert _me(admin) == 200


# --- migration 0012 -------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_users_and_tokens_made_before_migration_0012_keep_working(backend: str,
                                                                  tmp_path: Path) -> None:
    """A database at 0011 with a user and a token: after the upgrade the token still works (no
    expiry: it was made without one) and the user signs in; the downgrade keeps the token."""
    with ExitStack() as stack:
        url = (stack.enter_context(postgres_schema()) if backend == "postgres"
               else f"sqlite:///{tmp_path / 'old.db'}")
        store = stack.enter_context(Store.open(url))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0011")
        with store.engine.begin() as conn:   # the columns of 0011: the models have more
            conn.execute(text(
                "INSERT INTO users (email, name, role, password_hash, created_at, active) "
                "VALUES ('old@example.org', 'Old', 'leader', :hash, :now, :yes)"),
                {"hash": PasswordHasher().hash(PASSWORD), "yes": True,
                 "now": datetime(2026, 1, 1, tzinfo=UTC)})
            conn.execute(text(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                "SELECT id, 'old', :digest, :now FROM users"),
                {"digest": hashlib.sha256(b"dst_old-token").hexdigest(),
                 "now": datetime(2026, 1, 1, tzinfo=UTC)})
        store.migrate()
        assert (store.revision() or "") >= "0012"
        who = token_account(store, "dst_old-token")
        assert who is not None and who.email == "old@example.org"
        assert authenticate(store, "old@example.org", PASSWORD) is not None
        code, out, _ = Site(url, None).cli("tokens", "--format", "json")  # type: ignore[arg-type]
        assert code == 0 and json.loads(out)[0]["expires"] is None
        with store.engine.begin() as conn:   # and back: 0012's downgrade loses no row either
            config.attributes["connection"] = conn
            command.downgrade(config, "0011")
            assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 1
