"""A run's context stored with it (issue 16, migration 0011): after a restart the pages that
need more than the stored rows — a service's trends, the portfolio's heatmap and group filters,
the value map, streams and journeys — show what they showed before, read from the database,
with the data package gone (moved away: a re-check could not happen).

The expected pages come from the same run stored without its context (as before 0011: the app
re-checks the package); the restarted app is a new process over a database holding the run
with its context, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import gc
import json
import pickle
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from dipstick.runs import (
    RunContext,
    as_stored,
    check_and_store,
    context_of,
    lights_only,
    read_context,
)
from dipstick.store import Store
from dipstick.store.tables import RunExtras
from dipstick.store.users import create_user
from dipstick.web import context, views

import shared
from db import postgres_schema
from webserver import PASSWORD, SECRET, running_app, signed_in

LEAKING = "delivery_tracking"
EMAIL = "leader@example.org"

# the restarted app: a new process, its lifespan run, signed in; prints what the pages show
RESTARTED = r"""
import json, re, sys, warnings
from datetime import date
warnings.simplefilter("ignore")
from starlette.testclient import TestClient
from dipstick.web import views
from dipstick.web.app import WebConfig, create_app

url, email, password, service, secret = sys.argv[1:6]
app = create_app(WebConfig(database=url, secret_key=secret))
with TestClient(app, base_url="http://testserver") as http:
    run = views.latest_run(app.state.store)
    views.model_context(run["package"], date.fromisoformat(run["as_of"]), wait=600,
                        store=app.state.store, run_id=run["run_id"])   # ready, not timed
    page = http.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    http.post("/login", data={"email": email, "password": password, "csrf_token": token})
    print(json.dumps({path: http.get(path).text for path in sys.argv[6:]}))
"""

PAGES = ("/", "/api/portfolio", f"/api/services/{LEAKING}", f"/services/{LEAKING}",
         "/api/outcomes", "/api/streams", "/api/journeys", "/api/pulse/overdue")


@dataclass(frozen=True)
class Stored:
    """The demo checked once and stored with its context; the expected pages from the same
    run stored without it (the package re-checked); the package then moved away."""

    database: str          # SQLite, the run with its context
    context: RunContext
    expected: dict[str, str]
    package: Path
    started: Any


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    tmp = tmp_path_factory.mktemp("extras")
    package = shared.copied(shared.demo(shared.session_dir(tmp_path_factory)), tmp / "demo")
    url = f"sqlite:///{tmp / 'with.db'}"
    with Store.open(url) as store:
        store.migrate()
        checked = check_and_store(package, store, "check (test)")
        create_user(store, EMAIL, PASSWORD, "leader", name="Test leader")
        run = store.runs(1)[0]
        assert read_context(store, run.id) == checked.context is not None
    assert checked.context is not None
    before = f"sqlite:///{tmp / 'without.db'}"
    with Store.open(before) as store:
        store.migrate()
        store.save_run(checked.result, started_at=run.started_at, finished_at=run.finished_at,
                       command=run.command)
        create_user(store, EMAIL, PASSWORD, "leader", name="Test leader")
    with running_app(before, package, {"leader": EMAIL}) as app, \
            signed_in(app, "leader") as http:
        expected = {path: http.get(path).text for path in PAGES}
    moved = shutil.move(package, tmp / "moved-away")
    yield Stored(url, checked.context, expected, package, (run.started_at, run.finished_at,
                                                           run.command, checked.result))
    shutil.move(moved, package)


def restarted(database: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", RESTARTED, database, EMAIL, PASSWORD, LEAKING,
                           SECRET, *PAGES], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    shown: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return shown


def island(html: str, prefix: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{prefix}[^"]*">(.*?)</script>',
                      html, re.S)
    assert found, f"no {prefix} island"
    spec: dict[str, Any] = json.loads(found.group(1))
    return spec


def csrf_free(html: str) -> str:
    """The page without its per-session form tokens."""
    return re.sub(r'(name="csrf_token" value|name="csrf-token" content)="[^"]*"', "", html)


def assert_same_pages(shown: dict[str, str], expected: dict[str, str]) -> None:
    assert not Path(json.loads(expected["/api/portfolio"])["run"]["package"]).exists()
    for path in PAGES:
        if path.startswith("/api/"):
            assert json.loads(shown[path]) == json.loads(expected[path]), path
        else:
            assert csrf_free(shown[path]) == csrf_free(expected[path]), path
    portfolio = json.loads(shown["/api/portfolio"])
    assert portfolio["model"]["available"] and portfolio["facets"]["groups"]
    assert island(shown["/"], "heatmap-")["data"]                     # the heatmap is drawn
    service = json.loads(shown[f"/api/services/{LEAKING}"])
    assert service["context"]["available"] and service["trends"]      # trends, no package
    assert island(shown[f"/services/{LEAKING}"], "fig-trend-0")["data"]
    assert json.loads(shown["/api/streams"])["streams"]
    assert json.loads(shown["/api/journeys"])["journeys"]
    assert json.loads(shown["/api/pulse/overdue"])["available"]       # pulse reads it too


def test_a_restarted_app_shows_the_same_pages_from_the_stored_context(stored: Stored) -> None:
    assert_same_pages(restarted(stored.database), stored.expected)


@pytest.mark.postgres
def test_the_same_on_postgresql(stored: Stored) -> None:
    started, finished, command, result = stored.started
    with postgres_schema() as url:
        with Store.open(url) as store:
            store.migrate()
            assert store.revision() >= "0011"
            store.save_run(result, started_at=started, finished_at=finished, command=command,
                           extras=as_stored(stored.context))   # as check_and_store does
            create_user(store, EMAIL, PASSWORD, "leader", name="Test leader")
        assert_same_pages(restarted(url), stored.expected)


def test_the_stored_context_leaves_out_what_the_findings_rows_hold(stored: Stored) -> None:
    """Evidence and coverage are in the findings table: the context keeps lights only, and
    the outcome KPIs the value map reads (tested above through the pages)."""
    findings = [f for v in stored.context.result.verdicts for f in v.findings]
    assert findings and not any(f.coverage for f in findings)
    assert {e.metric[:4] for f in findings for e in f.evidence} <= {"kpi:"}
    assert lights_only(stored.context.result) == stored.context.result


def test_the_context_shares_equal_week_axes_and_keeps_the_trends(stored: Stored) -> None:
    """context_of makes the trends' equal week axes (and equal days) one object each, which
    pickle then writes once: the trends stay the check's, value for value, after storing."""
    trends, checked = stored.context.result.trends, stored.started[3].trends
    assert len(trends) > 1 and trends == checked      # Trend by Trend (not in CheckResult's ==)
    axes = {t.weeks for t in trends.values()}
    assert len(axes) < len(trends)                    # the demo has axes to share
    assert len({id(t.weeks) for t in trends.values()}) == len(axes)
    assert len({id(d) for w in axes for d in w}) == len({d for w in axes for d in w})
    with Store.open(stored.database) as store:
        loaded = read_context(store, store.runs(1)[0].id)
    assert isinstance(loaded, RunContext) and loaded.result.trends == checked


def test_context_of_leaves_the_collector_as_it_found_it(stored: Stored) -> None:
    """context_of pauses the collector while it copies (runs.py); on its way out, raising
    too (no package here: the surveys cannot be read), the collector is as it was."""
    result = stored.started[3]
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            with pytest.raises(AttributeError):
                context_of(object(), result)   # type: ignore[arg-type]
            assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_a_context_not_written_by_this_version_or_not_safe_is_not_read(stored: Stored,
                                                                       tmp_path: Path) -> None:
    """Another version's pickle may not fit today's classes, and the bytes in a database must
    never run code: either way the run is read as one stored without its context (the pages
    then re-check the package, or say it is gone)."""
    url = f"sqlite:///{shared.copied(Path(stored.database[10:]), tmp_path / 'app.db')}"
    with Store.open(url) as store:
        run_id = store.runs(1)[0].id
        assert isinstance(read_context(store, run_id), RunContext)
        with store.engine.begin() as conn:
            conn.execute(update(RunExtras).values(dipstick="0.0.1"))
        assert store.load_extras(run_id) is None and read_context(store, run_id) is None
        hostile = pickle.dumps(Hostile(str(tmp_path / "pwned")))
        with store.engine.begin() as conn:
            conn.execute(update(RunExtras).values(
                dipstick=store_version(), body=zlib.compress(hostile)))
        assert store.load_extras(run_id) is None
        assert not (tmp_path / "pwned").exists()
    context.clear()                       # this process's memory of the re-checked package
    views.forget_model(str(stored.package))
    with running_app(url, stored.package, {"leader": EMAIL}) as app, \
            signed_in(app, "leader") as http:
        page = http.get(f"/api/services/{LEAKING}").json()
    assert not page["context"]["available"] and "not there any more" in page["context"]["reason"]
    assert page["trends"] is None and page["causes"]     # the stored rows still show


def store_version() -> str:
    from dipstick.store.extras import dipstick_version

    return dipstick_version()


@dataclass(frozen=True)
class Hostile:
    """A pickle that would run a command when loaded by a plain unpickler."""

    path: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (subprocess.call, (["touch", self.path],))


def test_a_context_that_cannot_be_built_costs_the_run_nothing(stored: Stored,
                                                               tmp_path: Path) -> None:
    """A closed package cannot be read: the context is logged as missing, not raised (the
    run is stored without it, and its pages re-check, as for runs stored before 0011)."""
    from dipstick.package import load_package
    from dipstick.runs import context_if_any

    package = load_package(shared.copied(Path(stored.database[10:]).parent / "moved-away",
                                         tmp_path / "demo"))
    package.close()
    assert context_if_any(package, stored.context.result) is None
