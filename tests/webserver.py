"""The web app for tests, over a real app database (SQLite, or PostgreSQL in its own schema) that
holds a real check of a data package, with one user per role.

Two tiers (docs/testing.md, "Web tests"):

* **in process** (most web tests): the real FastAPI app called through Starlette's
  ``TestClient`` (httpx over the ASGI interface, the app's lifespan run), no socket, no server;
* **served** (browser, load and kill tests): the same app under a real uvicorn on 127.0.0.1.

The demo's app database (migrations, one stored check, argon2 users) is prepared **once per
test session** — under a file lock, so the xdist workers share it — and each test module gets a
copy of the SQLite file, not a rebuild. Before a test sees the app, the value model of its
latest run is loaded (the pages' model cache is filled, waiting for it with a generous
deadline), so no page can answer "still loading" on a slow machine.

    with signed_in(app, "leader") as http:     # app.url, app.users[role] -> e-mail
        http.get("/")
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

import httpx
import pytest
import time_machine
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

with warnings.catch_warnings():   # starlette 1.x nudges towards httpx2; httpx is what we use
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from dipstick.check import CheckResult, run_check
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.store import users as store_users
from dipstick.store.tables import User
from dipstick.store.users import create_user
from dipstick.web import views
from dipstick.web.app import WebConfig, create_app

import shared
from db import postgres_schema
from local import free_port

PASSWORD = "a-long-test-password"
BACKENDS = ["sqlite", "postgres"]   # the one web module that runs on both (tests/test_pulse_web)
ROLES = ("admin", "leader", "owner", "viewer")
SECRET = "test-secret"
IN_PROCESS_URL = "http://testserver"
# how long a fixture waits for the app's value model (a re-check of the demo: seconds when
# quiet, far more on a loaded machine); a deadline for a failure, never a pause
MODEL_DEADLINE_S = 600.0


class InProcessClient(TestClient):
    """A client of an app whose lifespan already runs (``in_process``): entering it must not
    start the app a second time, leaving it must not shut the app down."""

    def __enter__(self) -> InProcessClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class RunningApp:
    url: str
    database: str
    package: Path
    users: dict[str, str]          # role -> e-mail (all share PASSWORD)
    owned: tuple[str, ...]         # the owner user's service ids
    asgi: FastAPI | None = field(default=None, compare=False)   # in process; None: served

    def client(self, follow_redirects: bool = False, **kwargs: object) -> httpx.Client:
        """An HTTP client of this app (its own cookies): in process through the ASGI
        interface, or over the socket of a served app."""
        if self.asgi is not None:
            return InProcessClient(self.asgi, base_url=self.url,
                              follow_redirects=follow_redirects, **kwargs)  # type: ignore[arg-type]
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=follow_redirects,
                            **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PreparedDemo:
    """The demo package and an SQLite app database prepared for it, shared by the session."""

    package: Path
    database_file: Path
    users: dict[str, str]
    owned: tuple[str, ...]
    as_of: date                    # the stored check's date: the demo data's last day

    def copy(self, folder: Path) -> str:
        """A module's own copy of the prepared database (tests write to it), as a URL."""
        target = folder / "app.db"
        shutil.copyfile(self.database_file, target)
        return f"sqlite:///{target}"


def prepared_demo(tmp: pytest.TempPathFactory) -> PreparedDemo:
    """The demo package and its prepared SQLite database: built by the first worker that asks,
    read by the others (the lock makes them wait until it is complete)."""
    shared_root = shared.session_dir(tmp)
    package = shared.demo(shared_root)          # the session's one demo (tests/shared.py)
    root = shared_root / "web-demo"
    root.mkdir(exist_ok=True)
    done = root / "prepared.json"
    with shared.locked(root / ".lock"):
        if not done.exists():
            database = root / "app.db"
            database.unlink(missing_ok=True)
            users, owned = prepare(f"sqlite:///{database}", package,
                                   shared.demo_check(shared_root))
            with Store.open(f"sqlite:///{database}") as store:
                as_of = store.runs(limit=1)[0].as_of
            done.write_text(json.dumps({"users": users, "owned": owned,
                                        "as_of": as_of.isoformat()}))
    found = json.loads(done.read_text())
    return PreparedDemo(package, root / "app.db", found["users"], tuple(found["owned"]),
                        date.fromisoformat(found["as_of"]))


def prepare(database: str, package: Path, result: CheckResult | None = None
            ) -> tuple[dict[str, str], tuple[str, ...]]:
    """Migrate, store one check of the package (``result``, else checked here), and create one
    user per role. The owner is the owner (by e-mail) of the package's first service."""
    loaded = load_package(package)
    try:
        result = result or run_check(loaded)
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
            add_user(store, email, role, name=f"Test {role}")
            users[role] = email
    return users, owned


def add_user(store: Store, email: str, role: str, name: str = "") -> None:
    """``create_user(store, email, PASSWORD, role, name)``, PASSWORD hashed once per process:
    every test user shares it, and each argon2 hash costs ~0.15 s (production cost). After the
    first, ``create_user`` less its hashing (``users._create``): the same row, the same audit;
    sign-ins still verify the hash at full cost."""
    if _HASHED:
        store_users._create(store, email, role, name, _HASHED[0], None, None)
        return
    made = create_user(store, email, PASSWORD, role, name=name)
    with store.engine.connect() as conn:
        _HASHED.append(conn.execute(select(User.password_hash)
                                    .where(User.id == made.id)).scalar_one())


# PASSWORD's argon2 hash as create_user made it first in this process (add_user)
_HASHED: list[str] = []


def model_ready(store: Store) -> None:
    """Wait (with a generous deadline) until the value model of the latest run is in the
    pages' cache, so no page answers "still loading" because the machine is slow."""
    run = views.latest_run(store)
    if run is None:
        return
    found = views.model_context(run["package"], date.fromisoformat(run["as_of"]),
                                wait=MODEL_DEADLINE_S, store=store, run_id=run["run_id"])
    assert "still loading" not in getattr(found, "reason", ""), \
        f"the value model of {run['package']} did not load in {MODEL_DEADLINE_S:.0f} s"


@contextmanager
def in_process(config: WebConfig) -> Iterator[FastAPI]:
    """The app with its lifespan run (migrations, the store), called without a socket; its
    latest run's value model loaded."""
    asgi = create_app(config)
    with TestClient(asgi, base_url=IN_PROCESS_URL):
        model_ready(asgi.state.store)
        yield asgi


@contextmanager
def serving(config: WebConfig, model: bool = False, port: int | None = None) -> Iterator[str]:
    """The app on a real socket (uvicorn) in a thread; its base URL. With ``model``, once the
    value model of its latest run is loaded (pages that show it then never answer "still
    loading"); without, the app loads it in the background as in production. ``port``: one
    the test chose before (e.g. registered with an identity provider); else a free one."""
    port = port or free_port()
    # the links the app hands out point at this server, as `dipstick serve`'s default does
    asgi = create_app(replace(config, base_url=config.base_url or f"http://127.0.0.1:{port}"))
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:        # uvicorn offers no event to wait on; polled, with a deadline
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        if model:
            model_ready(asgi.state.store)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def config_of(app: RunningApp, **changes: object) -> WebConfig:
    return WebConfig(database=app.database, secret_key=SECRET, package=app.package,
                     **changes)  # type: ignore[arg-type]


@contextmanager
def running_app(database: str, package: Path, users: dict[str, str] | None = None,
                owned: tuple[str, ...] = (), served: bool = False,
                **config: object) -> Iterator[RunningApp]:
    """The app over ``database``; prepared here unless ``users`` says it already is."""
    if users is None:
        users, owned = prepare(database, package)
    app = RunningApp(IN_PROCESS_URL, database, package, dict(users), owned)
    cfg = config_of(app, **config)
    if served:
        with serving(cfg, model=True) as url:
            yield replace(app, url=url)
    else:
        with in_process(cfg) as asgi:
            yield replace(app, asgi=asgi)


@contextmanager
def app_on(backend: str, package: Path, tmp: pytest.TempPathFactory,
           demo: PreparedDemo | None = None, served: bool = False,
           **config: object) -> Iterator[RunningApp]:
    """The app over a database of ``backend`` (``sqlite`` or ``postgres``): for the prepared
    demo on SQLite, a copy of its database; else one prepared here."""
    if backend == "postgres":
        with postgres_schema() as url, running_app(url, package, served=served,
                                                   **config) as running:
            yield running
        return
    folder = tmp.mktemp("db")
    if demo is not None and package == demo.package:
        with running_app(demo.copy(folder), package, demo.users, demo.owned, served=served,
                         **config) as running:
            yield running
    else:
        with running_app(f"sqlite:///{folder / 'app.db'}", package, served=served,
                         **config) as running:
            yield running


@contextmanager
def served(app: RunningApp, **config: object) -> Iterator[RunningApp]:
    """The same app database under a real uvicorn (a browser needs a socket)."""
    with serving(config_of(app, **config), model=True) as url:
        yield replace(app, url=url, asgi=None)


@contextmanager
def fresh(app: RunningApp, **config: object) -> Iterator[RunningApp]:
    """Another instance of the app over the same database (e.g. its own sign-in throttle, or
    other settings), in process."""
    with in_process(config_of(app, **config)) as asgi:
        yield replace(app, asgi=asgi)


@contextmanager
def pinned(day: date) -> Iterator[date]:
    """The clock (this process: the tests, the in-process app, a served app's thread) moved to
    noon of ``day``, ticking from there: "today" is ``day`` whatever the wall clock says."""
    with time_machine.travel(datetime.combine(day, clock_time(12), tzinfo=UTC), tick=True):
        yield day


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@contextmanager
def signed_in(app: RunningApp, role: str) -> Iterator[httpx.Client]:
    """An HTTP client with a session of the role's user (cookies kept between requests)."""
    with app.client() as http:
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users[role], "password": PASSWORD,
                                      "csrf_token": token, "next": "/"})
        assert r.status_code == 303, (r.status_code, r.text[:300])
        yield http
