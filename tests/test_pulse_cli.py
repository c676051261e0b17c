"""`dipstick pulse` and the check's use of stored answers, through the real CLI (in-process,
tests/clirun.py) on SQLite and PostgreSQL: perception before/after a check-in, e-mail
invitations and reminders to a real SMTP server (aiosmtpd), bad invitee lists, import from a
surveys table, overdue check-ins and their alerts, schedules.

A test whose check is only its starting point stores the session's check of the demo
(``demo_result``) instead of checking the demo again; the tests about what a check does with
stored answers and alerts run the check."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
import yaml
from sqlalchemy import func, select

from dipstick.check import CheckResult
from dipstick.demo.timeline import AS_OF
from dipstick.package import load_package
from dipstick.pulse import campaigns as repo
from dipstick.pulse.form import Answer
from dipstick.store import Store
from dipstick.store.pulse_tables import PulseSchedule
from dipstick.web.app import WebConfig

from clirun import Ran, dipstick
from db import app_database
from local import Mailbox
from shared import session_day
from webserver import serving

LINK = re.compile(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]{43}")






@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with app_database(request.param, tmp_path) as found:
        yield found


def cli(*args: str, url: str, ok: tuple[int, ...] = (0,)) -> Ran:
    r = dipstick(*args, "--database", url, env={"COLUMNS": "250"})
    assert r.returncode in ok, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


def stored(url: str, result: CheckResult, package: Path) -> None:
    """The demo's check stored as the latest run of ``package`` (what `dipstick check` of an
    unchanged demo stores), dated on the demo's last day."""
    at = datetime.combine(result.window.as_of, time(12), tzinfo=UTC)
    with Store.open(url) as store:
        store.migrate()
        store.save_run(replace(result, package=str(package)), started_at=at, finished_at=at,
                       command="check")


def perception(url: str, service: str) -> dict[str, Any]:
    """The perception finding of the service in the latest stored run."""
    with Store.open(url) as store:
        run = store.load_run(store.runs(limit=1)[0].id)
    svc = next(s for s in run["services"] if s["id"] == service)
    return dict(svc["causes"]["perception"])


def subject(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Subject"]).strip()


def parts(raw: bytes) -> dict[str, str]:
    mail = message_from_bytes(raw)
    return {p.get_content_type(): p.get_payload(decode=True).decode()
            for p in mail.walk() if not p.is_multipart()}


def test_the_next_check_judges_the_stored_answers(demo_org: Path, db_url: str,
                                                  demo_result: CheckResult) -> None:
    """Answers given through dipstick change the perception light and evidence of the next
    `dipstick check`. The answers are dated on the demo's last day of data and the check runs
    as of that day, so the window is the demo's whole last quarter whatever today is."""
    day = AS_OF
    today = day.isoformat()
    assert demo_result.window.as_of == day
    stored(db_url, demo_result, demo_org)            # the check before any answer
    with Store.open(db_url) as store:
        run = store.load_run(store.runs(limit=1)[0].id)
    sid = next(s["id"] for s in run["services"]
               if s["causes"]["perception"]["status"] != "leak" and s["lifecycle"] == "live")
    before = perception(db_url, sid)
    loaded = load_package(demo_org)
    group = loaded.model.service(sid).consumers[0]
    dims = [d.id for d in loaded.model.group(group).value_dimensions]  # type: ignore[union-attr]
    with Store.open(db_url) as store:
        c = repo.start_campaign(store, loaded.model, sid, [group], created_by="test", today=day)
        for link in repo.add_invitations(store, c, [(None, group)] * 10):
            target = repo.lookup(store, link.token, day)
            assert target is not None
            assert repo.submit(store, target, Answer(group, dict.fromkeys(dims, 1), 2,
                                                     "hard to use"), day) == "stored"
    loaded.close()
    cli("check", str(demo_org), "--as-of", today, url=db_url, ok=(0, 1))
    after = perception(db_url, sid)
    assert (before["status"], after["status"]) != ("leak", "leak") and after["status"] == "leak"
    ev = {e["metric"]: e for e in after["evidence"]}
    assert ev[f"checkin:{group}"]["value"] == today and ev[f"checkin:{group}"]["status"] == "ok"
    old = {e["metric"]: e for e in before["evidence"]}
    score, was = ev[f"value_score:{group}"], old.get(f"value_score:{group}")
    # the level is past its leak line; a leak on its own only when surely below it after the
    # check-wide correction — the light is lit by the drop against the group's baseline
    drop = ev.get(f"value_drop:{group}")
    assert score["value"] <= 6.0 and score["status"] in ("watch", "leak")
    assert score["status"] == "leak" or (drop is not None and drop["status"] == "leak")
    n_before = was["n"] if was else 0
    assert score["n"] == n_before + 10 * len(dims)        # 10 people, every dimension
    if was:                       # the package's own answers of the window are still there
        assert score["value"] < was["value"]
        assert ev[f"pmd:{group}"]["value"] < old[f"pmd:{group}"]["value"]
    else:
        assert score["value"] == pytest.approx(1.0)


@pytest.mark.clock
def test_invitations_and_reminders_by_email(demo_org: Path, db_url: str,
                                            mailbox: tuple[Mailbox, int],
                                            tmp_path: Path, demo_result: CheckResult) -> None:
    """Links open and close by today's date: a clock test."""
    box, port = mailbox
    stored(db_url, demo_result, demo_org)
    with serving(WebConfig(database=db_url, secret_key="t")) as base:
        started = json.loads(cli("pulse", "start", "crm", "--format", "json", "--base-url",
                                 base, url=db_url).stdout)
        group = started["groups"][0]
        people = tmp_path / "people.csv"
        people.write_text("email,group\n" + "".join(
            f"p{i}@example.org,{group}\n" for i in range(3)))
        smtp = ["--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-security",
                "none", "--sender", "it@example.org", "--base-url", base]
        r = cli("pulse", "invite", str(started["campaign"]), "--invitees", str(people), *smtp,
                url=db_url)
        assert "3 invitation(s) sent, 0 failed" in r.stdout
        assert len(box.messages) == 3
        sent = {}
        for raw in box.messages:
            mail = message_from_bytes(raw)
            body = parts(raw)
            assert set(body) == {"text/plain", "text/html"}
            link = LINK.search(body["text/plain"])
            assert link and link.group(0) in body["text/html"]
            sent[mail["To"]] = link.group(0)
        assert set(sent) == {f"p{i}@example.org" for i in range(3)}
        with httpx.Client(timeout=30) as http:        # p0 answers through the mailed link
            page = http.get(sent["p0@example.org"])
            assert page.status_code == 200
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            dims = set(re.findall(r'name="(dim:[^"]+)"', page.text))
            assert http.post(sent["p0@example.org"], data=dict.fromkeys(dims, "9") | {
                "nonce": nonce}).status_code == 200
        box.messages.clear()
        r = cli("pulse", "remind", str(started["campaign"]), *smtp, url=db_url)
        assert "2 reminder(s) sent" in r.stdout
        reminded = {message_from_bytes(m)["To"]: LINK.search(parts(m)["text/plain"])
                    for m in box.messages}
        assert set(reminded) == {"p1@example.org", "p2@example.org"}   # not the answerer
        assert all(subject(m).startswith("Reminder: 60 seconds on CRM") for m in box.messages)
        with httpx.Client(timeout=30) as http:
            for who, found in reminded.items():
                assert found and found.group(0) != sent[who]
                assert http.get(found.group(0)).status_code == 200      # the new link works
                assert http.get(sent[who]).status_code == 404           # the old one ended
    done = json.loads(cli("pulse", "list", "--format", "json", url=db_url).stdout)
    assert done[0]["answers"] == 1


def test_a_bad_invitee_list_invites_nobody(demo_org: Path, db_url: str, tmp_path: Path) -> None:
    started = json.loads(cli("pulse", "start", "crm", "--package", str(demo_org), "--format",
                             "json", url=db_url).stdout)
    bad = tmp_path / "people.csv"
    bad.write_text("email,group\nok@example.org,sales\nnope,sales\nz@example.org,martians\n")
    r = cli("pulse", "invite", str(started["campaign"]), "--invitees", str(bad), "--format",
            "json", url=db_url, ok=(2,))
    problems = json.loads(r.stdout)["problems"]
    assert {(p["file"], p["row"], p["field"]) for p in problems} == {
        (str(bad), 2, "email"), (str(bad), 3, "group")}
    missing = tmp_path / "nohead.csv"
    missing.write_text("mail,team\na@b.org,sales\n")
    r = cli("pulse", "invite", str(started["campaign"]), "--invitees", str(missing), url=db_url,
            ok=(2,))
    assert "required column is missing" in r.stderr
    with Store.open(db_url) as store:
        assert repo.invitation_counts(store, started["campaign"]) == {}


def test_unknown_service_or_group_is_exit_2(demo_org: Path, db_url: str) -> None:
    r = cli("pulse", "start", "no-such", "--package", str(demo_org), url=db_url, ok=(2,))
    assert "unknown service 'no-such'" in r.stderr
    r = cli("pulse", "start", "crm", "--group", "martians", "--package", str(demo_org),
            url=db_url, ok=(2,))
    assert "unknown stakeholder group 'martians'" in r.stderr
    with Store.open(db_url) as store:
        assert repo.campaigns(store) == []


def test_answers_are_imported_from_a_surveys_table(demo_org: Path, db_url: str,
                                                   tmp_path: Path) -> None:
    loaded = load_package(demo_org)
    pairs = {(r[0], r[1]) for r in loaded.signals.connection.execute(
        'SELECT DISTINCT service, "group" FROM surveys').fetchall()}
    respondents = loaded.signals.connection.execute(
        "SELECT count(DISTINCT (service, \"group\", CAST(date AS DATE), respondent)) "
        "FROM surveys WHERE service = 'crm'").fetchone()[0]  # type: ignore[index]
    loaded.close()
    r = cli("pulse", "import", str(demo_org), "--format", "json", url=db_url)
    ids = json.loads(r.stdout)["campaigns"]
    assert len(ids) == len(pairs)
    with Store.open(db_url) as store:
        crm = [c for c in repo.campaigns(store, "crm") if c.source == "import"]
        assert sum(1 for _ in repo.answers(store, [c.id for c in crm])) == respondents
        res = json.loads(cli("pulse", "results", str(crm[0].id), "--format", "json",
                             url=db_url).stdout)
    assert res["groups"][0]["shown"] and res["groups"][0]["dimensions"]
    out = tmp_path / "export.csv"
    cli("pulse", "export", str(crm[0].id), "-o", str(out), url=db_url)
    assert out.read_text().startswith("date,service,group,dimension,score,comment")


def alerting_copy(demo_org: Path, pkg: Path, smtp_port: int) -> Path:
    """A copy of the demo whose alerts go by e-mail to the test's SMTP server."""
    shutil.copytree(demo_org, pkg)
    model = yaml.safe_load((pkg / "dipstick.yaml").read_text())
    model["alerts"] = [{"type": "email", "host": "127.0.0.1", "port": smtp_port,
                        "security": "none", "sender": "dipstick@example.org",
                        "to": ["it@example.org"], "timeout_s": 2, "attempts": 1}]
    (pkg / "dipstick.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    return pkg


@time_machine.travel(datetime.combine(AS_OF, time(12), tzinfo=UTC), tick=True)
def test_overdue_pairs_alert_once_and_a_check_in_clears_them(
        demo_org: Path, db_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int],
        demo_result: CheckResult) -> None:
    """Overdue is counted to today, so the clock is pinned to the demo's last day of data:
    on a day before the data nothing is overdue, a year after it every pair is."""
    box, port = mailbox
    pkg = alerting_copy(demo_org, tmp_path / "org", port)
    stored(db_url, demo_result, pkg)
    listed = json.loads(cli("pulse", "overdue", "--format", "json", url=db_url, ok=(1,)).stdout)
    late = listed["overdue"]
    assert late and listed["max_age_days"] == 90
    assert all(p["days"] is None or p["days"] > 90 for p in late)
    cli("pulse", "overdue", "--alert", url=db_url, ok=(1,))
    assert len(box.messages) == len(late)
    subjects = sorted(subject(m) for m in box.messages)
    assert all(s.startswith("[dipstick] Check-in overdue:") for s in subjects)
    assert "Last asked" in parts(box.messages[0])["text/plain"]
    cli("pulse", "overdue", "--alert", url=db_url, ok=(1,))
    assert len(box.messages) == len(late)                        # once per pair
    alerts = json.loads(cli("alerts", "--format", "json", "--limit", "1000", url=db_url).stdout)
    assert {a["kind"] for a in alerts} == {"overdue"} and len(alerts) == len(late)
    first = late[0]
    cli("pulse", "start", first["service"], "--group", first["group"], url=db_url)
    after = json.loads(cli("pulse", "overdue", "--format", "json", url=db_url,
                           ok=(0, 1)).stdout)["overdue"]
    assert (first["service"], first["group"]) not in {(p["service"], p["group"]) for p in after}
    assert len(after) == len(late) - 1


@pytest.mark.clock
def test_a_schedule_opens_the_next_check_in_when_due(demo_org: Path, db_url: str) -> None:
    """A schedule started today is due a quarter later ("today" is the session's pinned day,
    which the command reads from the clock; moved by .ci/run's clock runs)."""
    today = session_day()
    started = json.loads(cli("pulse", "start", "crm", "--package", str(demo_org), "--every",
                             "quarter", "--format", "json", url=db_url).stdout)
    assert started["schedule"]
    soon = (today + timedelta(days=30)).isoformat()
    assert json.loads(cli("pulse", "due", "--today", soon, "--format", "json",
                          url=db_url).stdout)["opened"] == []
    due = (today + timedelta(days=91)).isoformat()
    opened = json.loads(cli("pulse", "due", "--today", due, "--format", "json",
                            url=db_url).stdout)["opened"]
    assert len(opened) == 1
    assert json.loads(cli("pulse", "due", "--today", due, "--format", "json",
                          url=db_url).stdout)["opened"] == []
    with Store.open(db_url) as store:
        c = repo.get(store, opened[0])
    assert c.service_id == "crm" and c.schedule_id == started["schedule"]
    r = cli("pulse", "start", "crm", "--package", str(demo_org), "--every", "fortnightly",
            url=db_url, ok=(2,))
    assert "--every must be one of" in r.stderr
    bad = Path(str(demo_org)) / "missing.csv"
    r = cli("pulse", "start", "crm", "--package", str(demo_org), "--every", "quarter",
            "--invitees", str(bad), url=db_url, ok=(2,))
    with Store.open(db_url) as store:                   # nothing half-written
        assert len(repo.campaigns(store)) == 2
        assert [c.schedule_id for c in repo.campaigns(store)] == [started["schedule"]] * 2
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(PulseSchedule)).scalar() == 1


@pytest.mark.clock
def test_the_check_alerts_overdue_check_ins_once(demo_org: Path, db_url: str, tmp_path: Path,
                                                  mailbox: tuple[Mailbox, int]) -> None:
    """`dipstick check --alert` raises an `overdue` alert for each consuming group its
    perception evidence says was not asked for too long — once, not at every check."""
    box, port = mailbox
    pkg = alerting_copy(demo_org, tmp_path / "org", port)
    cli("check", str(pkg), "--alert", url=db_url, ok=(0, 1))
    with Store.open(db_url) as store:
        run = store.load_run(store.runs(limit=1)[0].id)
    late = {(s["id"], e["metric"]) for s in run["services"]
            for e in s["causes"]["perception"]["evidence"]
            if e["metric"].startswith("checkin:") and e["status"] == "watch"}
    assert late
    overdue_mails = [m for m in box.messages if subject(m).startswith("[dipstick] Check-in")]
    assert len(overdue_mails) == len(late)
    text = parts(overdue_mails[0])["text/plain"]
    assert "Last asked" in text and "ask at least every 90 days" in text
    box.messages.clear()
    cli("check", str(pkg), "--alert", url=db_url, ok=(0, 1))
    assert not [m for m in box.messages if subject(m).startswith("[dipstick] Check-in")]
    alerts = json.loads(cli("alerts", "--format", "json", "--limit", "1000", url=db_url).stdout)
    assert {(a["service"], a["cause"]) for a in alerts if a["kind"] == "overdue"} == late


@pytest.mark.clock
def test_links_to_hand_out_are_listed_or_written_once(demo_org: Path, db_url: str,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "links.csv"
    cli("pulse", "start", "crm", "--group", "sales", "--package", str(demo_org), "--links", "3",
        "--open-link", "-o", str(out), url=db_url)
    rows = out.read_text().splitlines()
    assert rows[0] == "email,group,url" and len(rows) == 4
    assert all(LINK.search(r) and r.startswith(",sales,") for r in rows[1:])
    people = tmp_path / "people.csv"
    people.write_text("email,group\nann@example.org,sales\nbo@example.org,sales\n")
    with Store.open(db_url) as store:
        cid = repo.campaigns(store)[0].id
    listed = json.loads(cli("pulse", "invite", str(cid), "--invitees", str(people),
                            "--format", "json", url=db_url).stdout)["links"]
    assert [x["email"] for x in listed] == ["ann@example.org", "bo@example.org"]
    assert len({x["url"] for x in listed}) == 2 and all(LINK.match(x["url"]) for x in listed)
    with Store.open(db_url) as store:
        assert repo.invitation_counts(store, cid) == {"sales": (5, 0)}
        assert repo.get(store, cid).open_group == "sales"


def test_overdue_with_nothing_to_judge_is_not_an_all_clear(tmp_path: Path) -> None:
    """An import with no consuming groups used to print an empty table and exit 0 (issue 15):
    no pair judged is said, exit 2, naming the package it took."""
    from builder import PackageBuilder

    pkg = PackageBuilder(tmp_path / "pkg").service("crm", consumers=[]).write()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    cli("check", str(pkg), url=url, ok=(0, 1))
    r = cli("pulse", "overdue", url=url, ok=(2,))
    said = " ".join((r.stdout + r.stderr).split())
    assert "nothing to judge" in said and "--package" in said
    assert cli("pulse", "overdue", "--package", str(pkg), url=url, ok=(2,)).returncode == 2


def test_overdue_names_services_and_groups_and_says_today(demo_org: Path, tmp_path: Path
                                                          ) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    r = cli("pulse", "overdue", "--package", str(demo_org), url=url, ok=(0, 1))
    assert "today" in r.stdout
    model = load_package(demo_org)
    try:
        names = {g.name for g in model.model.stakeholder_groups}
        ids = {g.id for g in model.model.stakeholder_groups} - names
    finally:
        model.close()
    if r.returncode == 1:
        assert any(n in r.stdout for n in names)
        rows = [ln.split() for ln in r.stdout.splitlines() if "pulse start" in ln]
        assert rows and not any(ln[1] in ids for ln in rows if len(ln) > 1)


@time_machine.travel(datetime.combine(AS_OF, time(12), tzinfo=UTC), tick=True)
def test_names_with_rich_markup_are_printed_as_typed(demo_org: Path, tmp_path: Path) -> None:
    """A service, group or path named like Rich markup (``[/red]``) was a MarkupError
    traceback, exit 1, in ``pulse start``; the pulse commands print it as it is typed."""
    pkg = shutil.copytree(demo_org, tmp_path / "[bold]pkg[/bold]")
    model = yaml.safe_load((pkg / "dipstick.yaml").read_text())
    service = next(s for s in model["services"] if s["id"] == "crm")
    service["name"] = "[/red] CRM [link=https://evil.example]x[/link]"
    group = next(g for g in model["stakeholder_groups"] if g["id"] in service["consumers"])
    group["name"] = "[/] Sales"
    (pkg / "dipstick.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    url = f"sqlite:///{tmp_path / 'app.db'}"
    started = cli("pulse", "start", "crm", "--group", group["id"], "--package", str(pkg),
                  url=url)
    assert service["name"] in started.stdout
    number = re.search(r"Check-in #(\d+)", started.stdout)
    assert number, started.stdout
    shown = cli("pulse", "results", number.group(1), url=url)
    assert service["name"] in shown.stdout and group["name"] in shown.stdout
    late = cli("pulse", "overdue", "--package", str(pkg), url=url, ok=(0, 1))
    assert str(pkg) in late.stdout.replace("\n", "")
    assert "Traceback" not in late.stderr
