"""Alerts against real receivers: a local HTTP server (webhook, Slack, Teams) and a local SMTP
server (aiosmtpd), driven through the real `dipstick check --alert` (in-process,
tests/clirun.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dipstick.alerts import run_alerts
from dipstick.alerts.events import LEAK, RESOLVED, LatestEvent, diff
from dipstick.alerts.messages import build, slack_payload, teams_payload
from dipstick.alerts.notifiers import MAX_WAIT_S, DeliveryError, build_notifiers
from dipstick.check import CheckResult, ServiceVerdict
from dipstick.errors import UsageError
from dipstick.findings import Finding, LeakEstimate, Status, Window
from dipstick.model import Service, ValueModel
from dipstick.store import Store

from builder import PackageBuilder
from clirun import Ran, dipstick
from db import BACKENDS, app_database
from local import Mailbox, free_port

FAST = {"timeout_s": 0.5, "attempts": 2, "backoff_s": 0.1}



class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and when it arrived;
    ``status`` and ``delay`` make it fail or hang, ``answers`` (status, headers) are served
    first, one per POST."""

    def __init__(self, port: int | None = None) -> None:
        self.status, self.delay = 200, 0.0
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[str, Any, int]] = []   # path, JSON body, answered status
        self.arrived: list[float] = []                   # time.monotonic() of each POST
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.arrived.append(time.monotonic())
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(outer.delay)
                status, headers = outer.answers.pop(0) if outer.answers else (outer.status, {})
                outer.received.append((self.path, body, status))
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:   # the client gave up waiting (the hanging receiver)
                    pass

            def log_message(self, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, path: str) -> list[Any]:
        return [b for p, b, s in self.received if p == path and s < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()



@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with app_database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield (r := Receiver())
    r.stop()




def package(root: Path, targets: list[dict[str, Any]], *, aligned: bool = False) -> Path:
    """ERP leaks on `retirement` (20 of 100 licences used) and, unless ``aligned``, on
    `alignment` (no value link); CRM is healthy."""
    b = (PackageBuilder(root).healthy()
         .service("erp", **({} if aligned else {"supports": []})).usage("erp", users=20)
         .surveys("erp"))
    b.model["alerts"] = targets
    return b.write()


def check(pkg: Path, url: str, env: dict[str, str], *extra: str) -> Ran:
    return dipstick("check", pkg, "--database", url, *extra, env=env)


def listed(url: str, *extra: str) -> list[dict[str, Any]]:
    r = dipstick("alerts", "--database", url, "--format", "json", *extra)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def test_once_per_new_leak_and_target_nothing_on_repeat_one_resolution(
        tmp_path: Path, db_url: str, receiver: Receiver, mailbox: tuple[Mailbox, int]) -> None:
    box, smtp_port = mailbox
    base = f"http://127.0.0.1:{receiver.port}"
    env = {"T_HOOK": f"{base}/hook", "T_SLACK": f"{base}/slack", "T_TEAMS": f"{base}/teams"}
    targets = [{"type": "webhook", "url_env": "T_HOOK", **FAST},
               {"type": "slack", "url_env": "T_SLACK", **FAST},
               {"type": "teams", "url_env": "T_TEAMS", **FAST},
               {"type": "email", "host": "127.0.0.1", "port": smtp_port, "security": "none",
                "sender": "dipstick@example.org", "to": ["it@example.org"], **FAST}]
    pkg = package(tmp_path / "pkg", targets)

    first = check(pkg, db_url, env, "--alert")
    assert first.returncode == 1, first.stderr
    assert "2 new leak(s), 0 resolved; 8 sent, 0 pending" in first.stderr
    hooks = receiver.accepted("/hook")
    assert sorted(h["cause"] for h in hooks) == ["alignment", "retirement"]
    leak = next(h for h in hooks if h["cause"] == "retirement")
    assert (leak["schema"], leak["event"], leak["service_id"]) == ("dipstick.alert/v1", "leak",
                                                                   "erp")
    assert leak["money"] > 0 and leak["formula"] and leak["action"] and leak["summary"]
    assert leak["as_of"] == "2026-11-01" and "since" in leak and leak["currency"] == "EUR"
    slack = receiver.accepted("/slack")
    assert len(slack) == 2 and all(set(s) == {"text", "blocks"} for s in slack)
    cards = [t["attachments"][0]["contentType"] for t in receiver.accepted("/teams")]
    assert cards == ["application/vnd.microsoft.card.adaptive"] * 2
    assert len(box.messages) == 2
    mail = message_from_bytes(box.messages[0])
    assert mail["Subject"].startswith("[dipstick] Value leak: ERP")
    parts = {p.get_content_type(): p.get_payload(decode=True).decode()
             for p in mail.walk() if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Recommended action" in parts["text/plain"] and "<table>" in parts["text/html"]

    again = check(pkg, db_url, env, "--alert")
    assert again.returncode == 1, again.stderr
    assert "0 new leak(s), 0 resolved; 0 sent, 0 pending" in again.stderr
    assert len(receiver.received) == 6 and len(box.messages) == 2

    package(tmp_path / "pkg", targets, aligned=True)   # the alignment leak ends
    ended = check(pkg, db_url, env, "--alert")
    assert ended.returncode == 1, ended.stderr
    resolved = [h for h in receiver.accepted("/hook") if h["event"] == RESOLVED]
    assert [(h["service_id"], h["cause"]) for h in resolved] == [("erp", "alignment")]
    assert resolved[0]["first_seen"] == "2026-11-01" and resolved[0]["status"] == "ok"
    assert len(receiver.received) == 9 and len(box.messages) == 3
    assert "Leak ended: ERP" in message_from_bytes(box.messages[2])["Subject"]

    rows = listed(db_url)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"sent"}
    assert [r["kind"] for r in rows].count(RESOLVED) == 4


def test_receiver_down_keeps_alerts_pending_until_it_is_back_never_twice(
        tmp_path: Path, db_url: str) -> None:
    port = free_port()   # nothing listens here yet: connection refused
    env = {"T_HOOK": f"http://127.0.0.1:{port}/hook"}
    pkg = package(tmp_path / "pkg", [{"type": "webhook", "url_env": "T_HOOK", **FAST}])

    down = check(pkg, db_url, env, "--alert")
    assert down.returncode == 1, down.stderr   # a failed delivery never changes the exit code
    assert "kept pending" in down.stderr and "Connection refused" in down.stderr
    assert {r["status"] for r in listed(db_url)} == {"pending"}

    receiver = Receiver(port)
    try:
        receiver.status = 500
        failing = check(pkg, db_url, env, "--alert")
        assert "HTTP 500" in failing.stderr and "0 sent, 2 pending" in failing.stderr
        assert len(listed(db_url, "--status", "pending")) == 2

        receiver.status = 200
        back = check(pkg, db_url, env, "--alert")
        assert "0 new leak(s), 0 resolved; 2 sent, 0 pending" in back.stderr, back.stderr
        check(pkg, db_url, env, "--alert")
        ids = [b["id"] for b in receiver.accepted("/hook")]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
        assert {r["status"] for r in listed(db_url)} == {"sent"}
    finally:
        receiver.stop()


def test_a_hanging_receiver_does_not_hang_the_check(tmp_path: Path, receiver: Receiver) -> None:
    env = {"T_HOOK": f"http://127.0.0.1:{receiver.port}/hook"}
    pkg = package(tmp_path / "pkg", [{"type": "webhook", "url_env": "T_HOOK", **FAST}])
    r = check(pkg, f"sqlite:///{tmp_path / 'quick.db'}", env, "--alert")
    assert r.returncode == 1 and "timed out" not in r.stderr
    answered = len(receiver.received)
    # the receiver holds each request 120 s; one bounded retry cycle (0.5 s × 2 + 0.1 s) lets
    # the check end long before the first answer would come, however slow the machine is
    receiver.delay = 120
    url = f"sqlite:///{tmp_path / 'app.db'}"
    t0 = time.monotonic()
    r = check(pkg, url, env, "--alert")
    elapsed = time.monotonic() - t0
    assert r.returncode == 1 and "timed out" in r.stderr
    assert elapsed < receiver.delay, elapsed
    assert len(receiver.received) == answered      # the hung requests were never answered
    assert {x["status"] for x in listed(url)} == {"pending"}


def test_retry_cycle_is_bounded_by_timeout_times_attempts(tmp_path: Path,
                                                          receiver: Receiver) -> None:
    receiver.delay = 60                   # an unbounded wait would take a minute at least
    model = ValueModel.model_validate({"organisation": {"name": "X"}, "alerts": [
        {"type": "webhook", "url_env": "H", "timeout_s": 0.3, "attempts": 3, "backoff_s": 0.1}]})
    notifiers = build_notifiers(model.alerts, {"H": f"http://127.0.0.1:{receiver.port}/"})
    with Store.open(f"sqlite:///{tmp_path / 'a.db'}") as store:
        store.migrate()
        res = result({"erp": Status.LEAK})
        run_id = store.save_run(res, started_at=datetime.now(UTC),
                               finished_at=datetime.now(UTC), command="t")
        t0 = time.monotonic()
        report = run_alerts(store, run_id, res, notifiers)
    # three 0.3 s attempts and two backoffs (~1.2 s), with room for a loaded machine
    assert time.monotonic() - t0 < 0.3 * 3 + 0.1 + 0.2 + 15
    assert (report.leaks, report.sent, report.pending) == (1, 0, 1)


def test_missing_env_var_or_no_store_is_exit_2_and_nothing_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    pkg = package(tmp_path / "pkg", [{"type": "slack", "url_env": "DIPSTICK_TEST_NOPE"}])
    r = check(pkg, f"sqlite:///{db}", {}, "--alert")
    assert r.returncode == 2
    assert "DIPSTICK_TEST_NOPE" in r.stderr and "url_env" in r.stderr and "alerts[0]" in r.stderr
    assert not db.exists()
    r = check(pkg, f"sqlite:///{db}", {"DIPSTICK_TEST_NOPE": "http://x"}, "--alert", "--no-store")
    assert r.returncode == 2 and "--no-store" in r.stderr and not db.exists()


def test_config_refuses_unknown_keys_and_duplicate_names() -> None:
    org = {"name": "X"}
    with pytest.raises(ValidationError, match="url"):
        ValueModel.model_validate({"organisation": org, "alerts": [
            {"type": "webhook", "url": "https://secret.example"}]})
    with pytest.raises(ValidationError, match="named 'slack'"):
        ValueModel.model_validate({"organisation": org, "alerts": [
            {"type": "slack", "url_env": "A"}, {"type": "slack", "url_env": "B"}]})
    with pytest.raises(UsageError, match="password_env"):
        model = ValueModel.model_validate({"organisation": org, "alerts": [
            {"type": "email", "host": "h", "sender": "a@b", "to": ["c@d"],
             "username": "u", "password_env": "PW"}]})
        build_notifiers(model.alerts, {})


# -- the pure core -------------------------------------------------------------------------------

def result(statuses: dict[str, Status], since: date | None = None) -> CheckResult:
    verdicts = tuple(
        ServiceVerdict(Service(id=sid, name=sid.upper()), (Finding(
            sid, "retirement", st, 60.0, "licences idle", (),
            LeakEstimate(500.0, 8.0, "80 idle licences x 10 EUR") if st is Status.LEAK
            else LeakEstimate(), "retire or consolidate", since),))
        for sid, st in statuses.items())
    return CheckResult("Acme", "EUR", 50.0, Window(date(2026, 11, 1)), "/p", verdicts)


def test_diff_opens_closes_and_leaves_unchecked_services_alone() -> None:
    first = diff(result({"a": Status.LEAK, "b": Status.LEAK}), {})
    assert [(e.service_id, e.kind, e.episode) for e in first] == [("a", LEAK, 1), ("b", LEAK, 1)]
    latest = {(e.service_id, e.cause): LatestEvent(e.kind, e.episode, e.details) for e in first}
    assert diff(result({"a": Status.LEAK, "b": Status.LEAK}), latest) == []
    only_a = diff(result({"a": Status.OK}), latest)   # b not checked (--service a): stays open
    assert [(e.service_id, e.kind, e.episode) for e in only_a] == [("a", RESOLVED, 1)]
    latest[("a", "retirement")] = LatestEvent(RESOLVED, 1, only_a[0].details)
    again = diff(result({"a": Status.LEAK}), latest)
    assert [(e.kind, e.episode) for e in again] == [(LEAK, 2)]


def test_messages_carry_the_facts_and_escape_markup() -> None:
    ev = diff(result({"a": Status.LEAK}, since=date(2026, 6, 1)), {})[0]
    m = build(7, {**ev.details, "summary": "<b>idle</b> & costly"})
    facts = dict(m.facts)
    assert facts["Since"] == "2026-06-01" and facts["Formula"] == "80 idle licences x 10 EUR"
    assert facts["Leak"] == "500 EUR and 8.0 h per month" and facts["As of"] == "2026-11-01"
    assert "&lt;b&gt;idle&lt;/b&gt; &amp; costly" in json.dumps(slack_payload(m))
    card = teams_payload(m, "messagecard")
    assert card["@type"] == "MessageCard" and card["themeColor"] == "D83B01"


# --- Retry-After: the notifier waits as long as a throttling receiver asks ---------------------

def _one_message() -> Any:
    return build(1, diff(result({"erp": Status.LEAK}), {})[0].details)


def _webhook(receiver: Receiver, **policy: Any) -> Any:
    model = ValueModel.model_validate({"organisation": {"name": "X"}, "alerts": [
        {"type": "webhook", "url_env": "H", **FAST, **policy}]})
    return build_notifiers(model.alerts, {"H": f"http://127.0.0.1:{receiver.port}/"})["webhook"]


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_throttled_notifier_waits_as_long_as_retry_after_says(receiver: Receiver,
                                                               form: str) -> None:
    # the HTTP date is whole seconds: three seconds ahead is more than two after it was made,
    # so more than one after the first POST arrives however late in its second that was (two
    # ahead failed CI once: made at x.997 s, sent 4 ms later, it left 0.996 s)
    value = "1" if form == "seconds" else formatdate(time.time() + 3, usegmt=True)
    receiver.answers.append((429, {"Retry-After": value}))
    _webhook(receiver, backoff_s=0.01).send(_one_message())
    assert [s for _, _, s in receiver.received] == [429, 200]
    gap = receiver.arrived[1] - receiver.arrived[0]
    assert gap >= 1.0, gap            # the receiver's Retry-After, not the 0.01 s backoff


def test_a_503_with_retry_after_is_honoured_too(receiver: Receiver) -> None:
    receiver.answers.append((503, {"Retry-After": "1"}))
    _webhook(receiver, backoff_s=0.01).send(_one_message())
    assert receiver.arrived[1] - receiver.arrived[0] >= 1.0


def test_a_receiver_asking_for_too_long_a_wait_keeps_the_alert_pending(
        receiver: Receiver) -> None:
    receiver.answers.append((429, {"Retry-After": str(int(MAX_WAIT_S) + 1)}))
    with pytest.raises(DeliveryError, match=r"HTTP 429.*asked to wait 61 s"):
        _webhook(receiver, attempts=3).send(_one_message())
    assert len(receiver.received) == 1          # given up at once, not after 61 s


def test_a_leak_that_becomes_a_symptom_is_neither_ended_nor_announced_again() -> None:
    """Run 1: training leaks alone (alerted). Run 2: a change is found behind it: training is
    its symptom at watch, the change alerts once with the story. Run 3: the change is gone
    from the picture and training stands alone again: still the same open leak, no alert."""
    def run(*findings: Finding) -> CheckResult:
        return CheckResult("Acme", "EUR", 50.0, Window(date(2026, 11, 1)), "/p", (
            ServiceVerdict(Service(id="a", name="A"), findings),))

    alone = Finding("a", "training", Status.LEAK, 60.0, "how-to tickets", (),
                    LeakEstimate(300.0, 6.0, "f"), "train", date(2026, 6, 1))
    story = "since release CHG1 on 2026-06-01: how-to tickets per user ×3.0"
    symptom = Finding("a", "training", Status.WATCH, 60.0, "symptom of change", (),
                      LeakEstimate(), "", date(2026, 6, 1), symptom_of="change", episode=story)
    root = Finding("a", "change", Status.LEAK, 60.0, story, (), LeakEstimate(300.0, 6.0, "f"),
                   "communicate", date(2026, 6, 1), episode=story)
    latest: dict[tuple[str, str], LatestEvent] = {}
    for findings, expected in (((alone,), [("training", LEAK)]),
                               ((symptom, root), [("change", LEAK)]),
                               ((alone, Finding("a", "change", Status.OK, 0, "fine")),
                                [("change", RESOLVED)])):
        events = diff(run(*findings), latest)
        assert [(e.cause, e.kind) for e in events] == expected
        latest.update({(e.service_id, e.cause): LatestEvent(e.kind, e.episode, e.details)
                       for e in events})
    assert dict(build(1, latest[("a", "training")].details).facts).get("Episode") is None
    change_alert = diff(run(symptom, root), {})
    assert [e.cause for e in change_alert] == ["change"]
    assert dict(build(2, change_alert[0].details).facts)["Episode"] == story
