"""The audit trail (issue 17, item 5), end to end on SQLite and PostgreSQL: sign-ins (and failed
ones), uploads, checks from the web and the CLI, changes of actions and users are recorded —
when, from where, what, never a password or token — in the transaction of the change; listed
by ``dipstick audit`` and the admins' ``/audit`` page; kept ``DIPSTICK_AUDIT_DAYS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select, text

from dipstick.errors import UsageError
from dipstick.store import Store
from dipstick.store.audit import Actor, record
from dipstick.store.audit_log import Query, entries, prune, record_alone
from dipstick.store.tables import ActionRow, AuditEntry, User
from dipstick.store.users import create_token, create_user, set_password

from builder import PackageBuilder
from clirun import dipstick
from db import BACKENDS, postgres_schema
from test_web_runs import wait_for, zipped
from webserver import PASSWORD, RunningApp, csrf_of, running_app, signed_in

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECRET_PASSWORD = "correct horse battery staple"


def all_text(store: Store) -> str:
    """Every audit entry as text: what a copy of the table gives away."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.__table__)).all()
    return json.dumps([list(map(str, r)) for r in rows])


def listed(store: Store, **query: Any) -> list[dict[str, Any]]:
    found, _ = entries(store, Query(**query))
    return [e.to_json() for e in found]



@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store.open(url) as s:
        s.migrate()
        yield s


# --- the store: one transaction, no secrets, retention ----------------------------------------

def test_an_entry_commits_and_rolls_back_with_the_change_it_records(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user created with an actor leaves one entry; when the entry cannot be written (a bad
    DIPSTICK_AUDIT_DAYS), the user is not created either: one transaction."""
    admin = Actor("root", "cli")
    create_user(store, "ann@example.org", SECRET_PASSWORD, "leader", actor=admin)
    [entry] = listed(store)
    assert (entry["actor"], entry["source"], entry["action"], entry["target"],
            entry["detail"]) == ("root", "cli", "user.create", "ann@example.org",
                                 {"role": "leader"})
    monkeypatch.setenv("DIPSTICK_AUDIT_DAYS", "0")
    with pytest.raises(UsageError, match="DIPSTICK_AUDIT_DAYS"):
        create_user(store, "bob@example.org", SECRET_PASSWORD, "viewer", actor=admin)
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User)) == 1
    # and a refused change (a second user with the same e-mail) records nothing
    monkeypatch.delenv("DIPSTICK_AUDIT_DAYS")
    with pytest.raises(UsageError, match="exists already"):
        create_user(store, "ann@example.org", SECRET_PASSWORD, "viewer", actor=admin)
    assert len(listed(store)) == 1


def test_passwords_and_tokens_never_reach_the_trail(store: Store) -> None:
    admin = Actor("root", "cli")
    create_user(store, "ann@example.org", SECRET_PASSWORD, "viewer", actor=admin)
    set_password(store, "ann@example.org", SECRET_PASSWORD + "2", "admin", actor=admin)
    token = create_token(store, "ann@example.org", "ci", actor=admin).token
    record_alone(store, admin, "test", "x", {"password": SECRET_PASSWORD, "token": token,
                                             "kept": 1})
    assert [e["action"] for e in listed(store)] == [
        "test", "user.token", "user.role", "user.password", "user.create"]
    assert listed(store, action="user.role")[0]["detail"] == {"from": "viewer", "to": "admin"}
    assert listed(store, action="test")[0]["detail"] == {"kept": 1}
    everything = all_text(store)
    assert SECRET_PASSWORD not in everything and token not in everything
    assert token[4:20] not in everything


def test_entries_older_than_the_retention_go_when_new_ones_come(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Time pinned: an entry of day 0 is kept on day 400 (the default) and gone on day 401."""
    with time_machine.travel(T0, tick=False):
        record_alone(store, Actor("a", "cli"), "old")
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        record_alone(store, Actor("a", "cli"), "day-400")
        assert [e["action"] for e in listed(store)] == ["day-400", "old"]
    with time_machine.travel(T0 + timedelta(days=401), tick=False):
        record_alone(store, Actor("a", "cli"), "day-401")
        assert [e["action"] for e in listed(store)] == ["day-401", "day-400"]
    # a shorter retention, applied by --prune without a new entry
    monkeypatch.setenv("DIPSTICK_AUDIT_DAYS", "30")
    with time_machine.travel(T0 + timedelta(days=431), tick=False):
        assert prune(store) == 1
        assert [e["action"] for e in listed(store)] == ["day-401"]


def test_listing_filters_pages_and_bounds(store: Store) -> None:
    for i in range(5):
        with time_machine.travel(T0 + timedelta(days=i), tick=False), \
                store.engine.begin() as conn:
            record(conn, Actor("Ann@example.org" if i % 2 else "bob", "10.0.0.1"),
                   "user.create" if i < 3 else "sign-in", f"t{i}")
    found, total = entries(store, Query(limit=2, offset=1))
    assert total == 5 and [e.target for e in found] == ["t3", "t2"]
    assert [e.target for e in entries(store, Query(actor="ann@EXAMPLE.org"))[0]] == ["t3", "t1"]
    assert [e.target for e in entries(store, Query(action="user"))[0]] == ["t2", "t1", "t0"]
    assert entries(store, Query(action="use"))[1] == 0   # a family is a whole word
    assert [e.target for e in entries(store, Query(since=T0 + timedelta(days=3)))[0]] == [
        "t4", "t3"]
    with pytest.raises(UsageError, match="offset"):
        Query(offset=10**12)
    with pytest.raises(UsageError, match="limit"):
        Query(limit=0)


def test_action_changes_are_recorded_with_the_change(store: Store) -> None:
    from dipstick.store.actions import create_action, update_action
    from test_store import result, save

    save(store, result())
    actor = Actor("lead@example.org", "192.0.2.7")
    created = create_action(store, "crm", "training", "lead@example.org", actor=actor)
    update_action(store, created["id"], "lead@example.org", status="in progress", actor=actor)
    with pytest.raises(UsageError):   # refused: nothing changes, nothing is recorded
        update_action(store, created["id"], "lead@example.org", status="in progress",
                      actor=actor)
    got = listed(store, action="action")
    assert [(e["action"], e["target"], e["source"]) for e in got] == [
        ("action.change", f"action:{created['id']}", "192.0.2.7"),
        ("action.create", f"action:{created['id']}", "192.0.2.7")]
    assert got[0]["detail"]["changes"] == {"status": ["proposed", "in progress"]}
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ActionRow)) == 1


# --- the command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small") / "pkg"
    return (PackageBuilder(root).healthy().satisfaction_step("crm", before=8.5, after=4.0)
            .write())


def test_cli_commands_are_recorded_as_the_os_user(url: str, small: Path) -> None:
    me = Actor.cli().who
    env = {"DIPSTICK_PASSWORD": SECRET_PASSWORD}
    assert dipstick("users", "create", "ann@example.org", "--role", "admin", "--database", url,
                    env=env).returncode == 0
    made = dipstick("users", "token", "ann@example.org", "--name", "ci", "--database", url)
    assert made.returncode == 0
    token = made.stdout.strip()
    checked = dipstick("check", small, "--database", url)
    assert checked.returncode in (0, 1), checked.stderr
    shown = dipstick("audit", "--database", url, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["total"] == 3
    check, tok, create = doc["entries"]
    assert (create["actor"], create["source"], create["action"]) == (me, "cli", "user.create")
    assert (tok["action"], tok["target"], tok["detail"]["name"]) == (
        "user.token", "ann@example.org", "ci")
    assert isinstance(tok["detail"]["id"], int)   # the id `users token --revoke` takes
    assert check["action"] == "check" and check["target"].startswith("run:")
    assert check["detail"]["package"] == str(small.resolve()) and check["source"] == "cli"
    assert SECRET_PASSWORD not in shown.stdout and token not in shown.stdout
    # filters; the table format
    only = json.loads(dipstick("audit", "--database", url, "--format", "json",
                               "--action", "user").stdout)
    assert [e["action"] for e in only["entries"]] == ["user.token", "user.create"]
    assert json.loads(dipstick("audit", "--database", url, "--format", "json", "--user",
                               "nobody").stdout)["total"] == 0
    later = dipstick("audit", "--database", url, "--since", "2999-01-01", "--format", "json")
    assert json.loads(later.stdout)["total"] == 0
    table = dipstick("audit", "--database", url, "--limit", "1")
    assert table.returncode == 0 and table.stdout.split()[2:5] == [me, "cli", "check"]
    assert "1 of 3 entries" in table.stderr


def test_cli_bad_options_are_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert dipstick("audit", "--database", url, "--limit", "0").returncode == 2
    assert dipstick("audit", "--database", url, "--offset", "-1").returncode == 2
    for days in ("x", "0", "36501", "²", "-5", "1e3"):
        bad = dipstick("audit", "--database", url, "--prune", env={"DIPSTICK_AUDIT_DAYS": days})
        assert bad.returncode == 2 and "DIPSTICK_AUDIT_DAYS" in bad.stderr, (days, bad)
    # a bad value fails what writes or prunes the trail, not every command that reads settings
    assert dipstick("users", "list", "--database", url,
                    env={"DIPSTICK_AUDIT_DAYS": "x"}).returncode == 0
    assert dipstick("audit", "--database", url, env={"DIPSTICK_AUDIT_DAYS": " 30 "}
                    ).returncode == 0
    assert dipstick("audit", "--database", url, "--since", "yesterday").returncode == 2


def test_cli_prune_applies_the_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Store.open(url) as store:
        store.migrate()
        with time_machine.travel(T0, tick=False):
            record_alone(store, Actor("a", "cli"), "old")
    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        ran = dipstick("audit", "--database", url, "--prune", "--format", "json",
                       env={"DIPSTICK_AUDIT_DAYS": "5"})
    assert ran.returncode == 0 and "Deleted 1 entries" in ran.stderr
    assert json.loads(ran.stdout)["total"] == 0


# --- the web --------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
def app(request: pytest.FixtureRequest, small: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app in process over a database of each backend, checking ``small``, with uploads."""
    uploads = tmp_path_factory.mktemp("uploads")
    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
        with running_app(database, small, packages_dir=uploads) as running:
            yield running
    else:
        with postgres_schema() as database, running_app(database, small,
                                                        packages_dir=uploads) as running:
            yield running


def web_entries(app: RunningApp, **query: Any) -> list[dict[str, Any]]:
    with Store.open(app.database) as store:
        return listed(store, **query)


def test_sign_ins_and_failed_ones_are_recorded_from_the_client(app: RunningApp) -> None:
    with app.client() as http:
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": app.users["viewer"], "password": "wrong-guess-1",
                                      "csrf_token": token})
        assert r.status_code == 401
    with signed_in(app, "viewer"):
        pass
    failed, = web_entries(app, action="sign-in.failed", actor=app.users["viewer"])[:1]
    assert (failed["target"], failed["source"]) == (app.users["viewer"], "testclient")
    ok = web_entries(app, action="sign-in", actor=app.users["viewer"])
    assert ok and ok[0]["action"] == "sign-in" and ok[0]["source"] == "testclient"
    assert ok[0]["detail"] == {"via": "password"}
    with Store.open(app.database) as store:
        text_ = all_text(store)
    assert "wrong-guess-1" not in text_ and PASSWORD not in text_


def test_web_uploads_checks_and_actions_are_recorded(app: RunningApp) -> None:
    admin = app.users["admin"]
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/runs").text)
        r = http.post(f"/runs/upload?csrf_token={token}", data={"name": "audited",
                                                                "check": "true"},
                      files={"file": ("a.zip", zipped(app.package), "application/zip")})
        assert r.status_code == 303, r.text[:300]
        job = wait_for(http, r.headers["location"].rsplit("/", 1)[1])
        assert job["state"] == "done", job
        crm = next(s for s in http.get(f"/api/runs/{job['run_id']}").json()["services"]
                   if s["id"] == "crm")
        leak = next(c for c, v in crm["causes"].items()
                    if v["status"] == "leak" and not v.get("symptom_of"))
        made = http.post("/api/actions", json={"service_id": "crm", "cause": leak},
                         headers={"X-CSRF-Token": token})
        assert made.status_code == 201, made.text
    upload, = web_entries(app, action="package.upload")
    assert (upload["actor"], upload["target"], upload["source"]) == (admin, "audited",
                                                                     "testclient")
    assert upload["detail"]["version"]
    check = web_entries(app, action="check")[0]
    assert (check["actor"], check["target"], check["source"]) == (
        admin, f"run:{job['run_id']}", "testclient")
    action = web_entries(app, action="action.create")[0]
    assert (action["actor"], action["target"]) == (admin, f"action:{made.json()['id']}")


def test_the_audit_page_is_for_admins_with_filters_and_bounded_paging(app: RunningApp) -> None:
    with signed_in(app, "viewer"):   # one entry of the viewer's, whatever ran before
        pass
    with signed_in(app, "leader") as http:
        assert http.get("/audit").status_code == 403
        assert http.get("/api/audit").status_code == 403
        assert 'href="/audit"' not in http.get("/").text
    with signed_in(app, "admin") as http:
        assert 'href="/audit"' in http.get("/").text
        page = http.get("/audit")
        assert page.status_code == 200 and "Audit trail" in page.text
        assert "sign-in" in page.text and app.users["admin"] in page.text
        doc = http.get("/api/audit", params={"action": "sign-in", "limit": 1}).json()
        assert doc["total"] >= 2 and len(doc["entries"]) == 1
        assert doc["entries"][0]["action"] == "sign-in"
        mine = http.get("/api/audit", params={"user": app.users["viewer"]}).json()
        assert mine["entries"] and {e["actor"] for e in mine["entries"]} == {
            app.users["viewer"]}
        paged = http.get("/audit", params={"action": "sign-in", "limit": 1})
        assert 'rel="next"' in paged.text and "offset=1" in paged.text
        assert http.get("/api/audit", params={"since": "2999-01-01"}).json()["total"] == 0
        for bad in ({"offset": "9223372036854775808"}, {"offset": "-1"}, {"limit": "0"},
                    {"limit": "501"}, {"since": "not-a-day"}):
            r = http.get("/api/audit", params=bad)
            assert r.status_code == 422, (bad, r.status_code)
            assert "detail" in r.json()   # FastAPI's validation body (app-wide, web/app.py)
            assert http.get("/audit", params=bad).status_code == 422
        html = http.get("/audit", params={"user": "<script>alert(1)</script>"})
        assert html.status_code == 200 and "<script>alert(1)" not in html.text
    # what a stranger typed at the sign-in is shown to admins as text, never as markup
    evil = '<img src=x onerror="alert(1)">@example.org'
    with app.client() as http:
        token = csrf_of(http.get("/login").text)
        assert http.post("/login", data={"email": evil, "password": "x" * 12,
                                         "csrf_token": token}).status_code == 401
    with signed_in(app, "admin") as http:
        page = http.get("/audit", params={"action": "sign-in.failed"}).text
        assert "<img src=x" not in page and "&lt;img src=x" in page


def test_the_audit_table_is_in_the_schema(url: str) -> None:
    with Store.open(url) as store:
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0


def test_access_that_ends_is_recorded_from_the_cli(url: str) -> None:
    """Disable, enable, a new password, a new role and a revoked token (issue 17 item 4) are
    in the trail as the OS user at the terminal, with the token's id and name, never the
    token."""
    me = Actor.cli().who
    with Store.open(url) as store:
        store.migrate()
        create_user(store, "ann@example.org", SECRET_PASSWORD, "viewer")
    for args in (["disable", "ann@example.org"], ["enable", "ann@example.org"],
                 ["role", "ann@example.org", "leader"]):
        done = dipstick("users", *args, "--database", url)
        assert done.returncode == 0, done.stderr
    with Store.open(url) as store:   # a disable revokes tokens itself: this one comes after
        made = create_token(store, "ann@example.org", "ci")
    done = dipstick("users", "token", "--revoke", str(made.id), "--database", url)
    assert done.returncode == 0, done.stderr
    done = dipstick("users", "password", "ann@example.org", "--database", url,
                    env={"DIPSTICK_PASSWORD": SECRET_PASSWORD + "!"})
    assert done.returncode == 0, done.stderr
    with Store.open(url) as store:
        trail = listed(store)
        assert [(e["action"], e["actor"], e["source"], e["target"]) for e in trail] == [
            (action, me, "cli", "ann@example.org") for action in (
                "user.password", "user.token.revoke", "user.role", "user.enable",
                "user.disable")]
        assert trail[1]["detail"] == {"id": made.id, "name": "ci"}
        assert trail[2]["detail"] == {"from": "viewer", "to": "leader"}
        assert made.token not in all_text(store) and SECRET_PASSWORD not in all_text(store)
