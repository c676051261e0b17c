"""Answers by the thousand (issue 16): the group commit keeps every pulse rule batch-wise
(one answer per link, one per browser on the open link, nothing of a failed answer) and a
failing answer fails only itself; the answer fast path responds as the routed form does; its
form parsing equals Starlette's; `dipstick serve --workers 2` serves forms answered across
processes. Real SQLite and PostgreSQL, real uvicorn processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from dipstick.model import ValueModel
from dipstick.pulse import campaigns as repo
from dipstick.pulse.form import Answer
from dipstick.pulse.tokens import digest, make_nonce
from dipstick.store import Store
from dipstick.store.pulse import AnswerRow, Target
from dipstick.store.pulse_batches import PendingAnswer, commit, enqueue
from dipstick.web.app import create_app
from dipstick.web.pulse_form import AnswerFastPath, _fields
from dipstick.web.templating import WebConfig

from clirun import dipstick
from db import app_database
from shared import session_day

pytestmark = pytest.mark.clock      # check-ins open and close by today's date
TODAY = session_day()
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="[^"]+"|csrf[^"]*" content="[^"]+"')
MODEL = ValueModel.model_validate({
    "organisation": {"name": "Acme"},
    "stakeholder_groups": [{"id": "staff", "name": "Staff", "kind": "internal",
                            "value_dimensions": [{"id": "time", "name": "Time saved"}]}],
    "services": [{"id": "mail", "name": "Mail", "consumers": ["staff"]}],
})


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with app_database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    with Store.open(database) as s:
        s.migrate()
        yield s


def _pending(store: Store, target: Target, score: object = 5,
             browser: str | None = None) -> PendingAnswer:
    row = AnswerRow(target.campaign.id, target.group, TODAY, {"time": score}, None, None)
    return PendingAnswer(store, row, target.invitation_id, browser)  # type: ignore[arg-type]


def _targets(store: Store, n: int) -> tuple[repo.Campaign, list[Target]]:
    c = repo.start_campaign(store, MODEL, "mail", created_by="t", today=TODAY)
    found = [repo.lookup(store, x.token, TODAY)
             for x in repo.add_invitations(store, c, [(None, "staff")] * n)]
    assert all(t is not None for t in found)
    return c, [t for t in found if t is not None]


def _outcomes(batch: list[PendingAnswer]) -> list[str]:
    return [str(x.done.result(timeout=60)) for x in batch]


def test_a_batch_keeps_one_answer_per_link_and_per_browser(store: Store) -> None:
    c, (a, b, used) = _targets(store, 3)
    opened = repo.lookup(store, repo.open_link(store, c, "staff").token, TODAY)
    assert opened is not None
    first = [_pending(store, used), _pending(store, opened, browser="seen")]
    commit(first)
    assert _outcomes(first) == ["stored", "stored"]
    batch = [_pending(store, a), _pending(store, a), _pending(store, b), _pending(store, used),
             _pending(store, opened, browser="new"), _pending(store, opened, browser="new"),
             _pending(store, opened, browser="seen"), _pending(store, opened)]
    commit(batch)
    assert _outcomes(batch) == ["stored", "used", "stored", "used", "stored", "used", "used",
                                "used"]
    assert len(repo.answers(store, [c.id])) == 2 + 3
    assert repo.invitation_counts(store, c.id) == {"staff": (3, 3)}


def test_a_failing_answer_fails_alone_and_leaves_its_link_unused(store: Store) -> None:
    c, (good, bad, other) = _targets(store, 3)
    batch = [_pending(store, good), _pending(store, bad, score={1, 2}),  # not JSON: fails
             _pending(store, other)]
    commit(batch)
    assert [x.done.exception(timeout=60) is None for x in batch] == [True, False, True]
    assert [batch[0].done.result(), batch[2].done.result()] == ["stored", "stored"]
    assert repo.invitation_counts(store, c.id) == {"staff": (3, 2)}
    assert len(repo.answers(store, [c.id])) == 2
    again = repo.lookup(store, "x", TODAY)        # the store still answers
    assert again is None


def test_answers_submitted_at_once_are_each_committed_once(store: Store) -> None:
    """Through the writer thread: 40 submissions of 20 links at once; every "stored" is in
    the database and each link stored exactly once, however the batches fell."""
    c, targets = _targets(store, 20)
    results: list[Future[str]] = []
    go = threading.Barrier(8)

    def send(part: list[Target]) -> None:
        go.wait()
        for t in part:
            results.append(repo.submit_later(  # type: ignore[arg-type]
                store, t, Answer("staff", {"time": 3}, None, None), TODAY))

    twice = targets + targets
    threads = [threading.Thread(target=send, args=(twice[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = [f.result(timeout=60) for f in results]
    assert sorted(outcomes) == ["stored"] * 20 + ["used"] * 20
    assert len(repo.answers(store, [c.id])) == 20
    assert repo.invitation_counts(store, c.id) == {"staff": (20, 20)}


def test_a_request_gone_before_its_batch_is_dropped_and_the_writer_goes_on(
        store: Store) -> None:
    """A future cancelled (its request gone) before the writer took it: not stored, and the
    answers after it are committed as usual (the writer thread does not die on it)."""
    c, (gone, kept) = _targets(store, 2)
    first = enqueue(store, _pending(store, gone).answer, invitation_id=gone.invitation_id,
                    browser_hash=None)
    cancelled = first.cancel()      # False when the writer had taken it already
    second = enqueue(store, _pending(store, kept).answer, invitation_id=kept.invitation_id,
                     browser_hash=None)
    assert second.result(timeout=60) == "stored"
    assert len(repo.answers(store, [c.id])) == (1 if cancelled else 2)
    assert repo.invitation_counts(store, c.id) == {"staff": (2, 1 if cancelled else 2)}


@pytest.mark.parametrize("body", [
    b"a=1&b=2", b"a=1&a=2", b"a", b"a=&=b", b"&&a=1&&", b"x=%E2%82%AC+y&c=%zz",
    "é=ü".encode(), "k=\xe9".encode("latin-1"), b"dim%3Atime=3&comment=a%26b%3Dc", b"a=1;b=2",
    b"+=+", b"%00=%00", b"",
])
def test_the_short_form_parse_equals_starlettes(body: bytes) -> None:
    async def fields(content_type: bytes) -> dict[str, str]:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}
        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
                 "headers": [(b"content-type", content_type)], "app": object()}
        request = Request(scope, receive)
        if content_type == b"application/x-www-form-urlencoded":
            return await _fields(request)
        form = await request.form()          # Starlette's own parser, for comparison
        return {k: v for k, v in form.items() if isinstance(v, str)}
    ours = asyncio.run(fields(b"application/x-www-form-urlencoded"))
    assert ours == asyncio.run(fields(b"application/x-www-form-urlencoded; charset=utf-8"))


def test_the_fast_path_answers_as_the_routed_form(database: str) -> None:
    """The same requests to the app and to the app without its fast path: the same status,
    body and headers for a stored answer, a used link, a bad answer, a forged post, an
    unknown link (HTML and JSON)."""
    apps = [create_app(WebConfig(database=database, secret_key="k" * 32)) for _ in range(2)]
    routed = apps[1]
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not AnswerFastPath]
    seen: list[list[tuple[int, str, dict[str, str]]]] = []
    with TestClient(apps[0]) as fast, TestClient(routed) as slow:
        for client in (fast, slow):
            c, _ = _targets(client.app.state.store, 0)  # type: ignore[attr-defined]
            links = repo.add_invitations(client.app.state.store, c,  # type: ignore[attr-defined]
                                         [(None, "staff")] * 2)
            got = []
            for accept in ("text/html", "application/json"):
                links = repo.add_invitations(client.app.state.store,  # type: ignore[attr-defined]
                                             c, [(None, "staff")] * 2)
                nonces = [NONCE.search(client.get(f"/p/{x.token}").text) for x in links]
                unknown = make_nonce(b"k" * 32, digest("unknown"))
                for token, data in [(links[0].token, {"dim:time": "7"}),
                                    (links[0].token, {"dim:time": "7"}),
                                    (links[1].token, {"dim:time": "11"}),
                                    (links[1].token, {"dim:time": "7", "nonce": "1.forged"}),
                                    ("unknown", {"dim:time": "7", "nonce": unknown})]:
                    nonce = nonces[0 if token == links[0].token else 1]
                    assert nonce is not None
                    r = client.post(f"/p/{token}", headers={"accept": accept},
                                    data={"nonce": nonce.group(1), **data})
                    headers = {k: v for k, v in r.headers.items()
                               if k not in ("date", "set-cookie", "content-length")}
                    text = CSRF.sub("", NONCE.sub("", r.text))     # per app, per link
                    text = text.replace(links[0].token, "A").replace(links[1].token, "B")
                    headers["cookies"] = " ".join(sorted(  # which, not their random values
                        x.split("=", 1)[0] for x in r.headers.get_list("set-cookie")))
                    got.append((r.status_code, text, headers))
            seen.append(got)
    assert [s for s, _, _ in seen[0]] == [200, 409, 422, 403, 404] * 2
    assert seen[0] == seen[1]
    assert all("content-security-policy" in h for _, _, h in seen[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_serve_forms_answered_in_either(tmp_path: Path) -> None:
    """`dipstick serve --workers 2` without DIPSTICK_SECRET_KEY: one key for both workers,
    so a form served by one is answered in the other; every answer stored once."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Store.open(url) as store:
        store.migrate()
        c, _ = _targets(store, 0)
        links = repo.add_invitations(store, c, [(None, "staff")] * 24)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DIPSTICK_SECRET_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "dipstick", "serve", "--database", url,
                             "--port", str(port), "--no-uploads", "--workers", "2"],
                            env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:         # polled, with a deadline: uvicorn offers no event to wait on
            try:
                httpx.get(f"{base}/login", timeout=5)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
        statuses = []
        for link in links:                   # a connection each: the kernel spreads them
            with httpx.Client(base_url=base, timeout=60) as http:
                nonce = NONCE.search(http.get(f"/p/{link.token}").text)
            assert nonce is not None
            with httpx.Client(base_url=base, timeout=60) as http:
                statuses.append(http.post(f"/p/{link.token}", data={
                    "nonce": nonce.group(1), "dim:time": "6"}).status_code)
        assert statuses == [200] * 24
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    with Store.open(url) as store:
        assert repo.invitation_counts(store, c.id) == {"staff": (24, 24)}
        assert len(repo.answers(store, [c.id])) == 24


def test_several_workers_run_no_checks_of_their_own(tmp_path: Path) -> None:
    ran = dipstick("serve", "--database", f"sqlite:///{tmp_path / 'a.db'}", "--workers", "2")
    assert ran.returncode == 2
    assert "--no-uploads" in ran.stderr
