"""The web app for tests: a real uvicorn server on 127.0.0.1, over a real app database (SQLite,
or PostgreSQL in its own schema) that holds a real check of the demo organisation, with one
user per role.

    with running_app(database_url) as app:    # app.url, app.users[role] -> (email, password)
        with signed_in(app, "leader") as http:
            http.get("/")
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from dipstick.check import run_check
from dipstick.demo import generate
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.store.users import create_user
from dipstick.web.app import WebConfig, create_app

from db import postgres_schema
from local import free_port

PASSWORD = "a-long-test-password"
BACKENDS = ["sqlite", "postgres"]   # every web test module runs on both
ROLES = ("admin", "leader", "owner", "viewer")


@dataclass(frozen=True)
class RunningApp:
    url: str
    database: str
    package: Path
    users: dict[str, str]          # role -> e-mail (all share PASSWORD)
    owned: tuple[str, ...]         # the owner user's service ids


def demo_package(root: Path) -> Path:
    """The demo organisation written once per test session folder."""
    path = root / "demo"
    if not (path / "dipstick.yaml").exists():
        generate(path, seed=7)
    return path


def prepare(database: str, package: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """Migrate, store one check of the package, and create one user per role. The owner is the
    owner (by e-mail) of the package's first service."""
    loaded = load_package(package)
    try:
        result = run_check(loaded)
        model = loaded.model
    finally:
        loaded.close()
    owner_email = model.services[0].owner or "owner@example.org"
    owned = tuple(s.id for s in model.services if s.owner == owner_email)
    with Store.open(database) as store:
        store.migrate()
        now = datetime.now(UTC)
        store.save_run(result, started_at=now, finished_at=now, command="test")
        users = {}
        for role in ROLES:
            email = owner_email if role == "owner" else f"{role}@example.org"
            create_user(store, email, PASSWORD, role, name=f"Test {role}")
            users[role] = email
    return users, owned


@contextmanager
def serving(config: WebConfig) -> Iterator[str]:
    """The app on a real socket in a thread; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_app(database: str, package: Path) -> Iterator[RunningApp]:
    users, owned = prepare(database, package)
    with serving(WebConfig(database=database, secret_key="test-secret",
                           package=package)) as url:
        yield RunningApp(url, database, package, users, owned)


@contextmanager
def app_on(backend: str, package: Path,
           tmp: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app over a fresh database of ``backend`` (``sqlite`` or ``postgres``)."""
    if backend == "sqlite":
        with running_app(f"sqlite:///{tmp.mktemp('db') / 'app.db'}", package) as running:
            yield running
    else:
        with postgres_schema() as url, running_app(url, package) as running:
            yield running


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@contextmanager
def signed_in(app: RunningApp, role: str) -> Iterator[httpx.Client]:
    """An HTTP client with a session of the role's user (cookies kept between requests)."""
    with httpx.Client(base_url=app.url, timeout=60, follow_redirects=False) as http:
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users[role], "password": PASSWORD,
                                      "csrf_token": token, "next": "/"})
        assert r.status_code == 303, (r.status_code, r.text[:300])
        yield http
