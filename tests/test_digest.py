"""`dipstick digest`: the summary of the latest stored run, one e-mail per leader with the PDF
attached, delivered to a real SMTP server (aiosmtpd); --dry-run sends nothing."""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from pypdf import PdfReader
from sqlalchemy import update

from dipstick.check import CheckResult
from dipstick.store import Store
from dipstick.store.tables import User
from dipstick.store.users import create_user

import shared
from clirun import dipstick
from local import Mailbox, free_port

LEADERS = ["ana@example.org", "bo@example.org"]
FAST = {"timeout_s": 1.0, "attempts": 1, "backoff_s": 0.0}


def smtp_package(root: Path, demo_org: Path, port: int) -> Path:
    """The demo's value model with an e-mail alert target on the local SMTP server."""
    root.mkdir()
    model = yaml.safe_load((demo_org / "dipstick.yaml").read_text())
    model["alerts"] = [{"type": "email", "host": "127.0.0.1", "port": port, "security": "none",
                        "sender": "dipstick@example.org", "to": ["alerts@example.org"],
                        **FAST}]
    (root / "dipstick.yaml").write_text(yaml.safe_dump(model, allow_unicode=True))
    return root


@pytest.fixture(scope="module")
def leaders_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's stored run, two leaders, an owner and an inactive leader (not mailed), made
    once: four argon2 hashes at production cost were most of a test's set-up."""
    file = shared.copied(shared.demo_db(shared.session_dir(tmp_path_factory)),
                         tmp_path_factory.mktemp("leaders") / "app.db")
    with Store.open(f"sqlite:///{file}") as store:
        for email in LEADERS:
            create_user(store, email, "password-123", "leader")
        create_user(store, "owner@example.org", "password-123", "owner")
        create_user(store, "gone@example.org", "password-123", "leader")
        with store.engine.begin() as conn:
            conn.execute(update(User).where(User.email == "gone@example.org")
                         .values(active=False))
    return file


@pytest.fixture
def leaders_db(leaders_template: Path, tmp_path: Path) -> str:
    """A private copy of ``leaders_template``, as a URL."""
    return f"sqlite:///{shared.copied(leaders_template, tmp_path / 'app.db')}"


def digest(*args: str | Path) -> Any:
    with time_machine.travel("2026-12-07 08:00Z", tick=False):
        return dipstick("digest", *args)


def parts(raw: bytes) -> tuple[EmailMessage, dict[str, Any]]:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    found: dict[str, Any] = {}
    for p in mail.walk():
        if not p.is_multipart():
            found[p.get_content_type()] = p.get_content()
    return mail, found


def test_one_email_per_leader_with_the_pdf_attached(
        leaders_db: str, demo_org: Path, demo_result: CheckResult, tmp_path: Path,
        mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    pkg = smtp_package(tmp_path / "pkg", demo_org, port)
    r = digest("--database", leaders_db, "--package", pkg)
    assert r.returncode == 0, r.stderr
    assert "Digest sent to 2 recipient(s)" in r.stdout
    assert len(box.messages) == 2
    mails = [parts(m) for m in box.messages]
    assert sorted(m["To"] for m, _ in mails) == LEADERS         # one each, no one else
    mail, found = mails[0]
    assert mail["From"] == "dipstick@example.org"
    assert demo_result.organisation in mail["Subject"]
    assert f"{demo_result.leak_money:,.0f} EUR" in mail["Subject"]
    assert set(found) == {"text/plain", "text/html", "image/png", "application/pdf"}
    assert "cid:leak-chart@dipstick" in found["text/html"] and "<svg" not in found["text/html"]
    assert "The 10 largest leaks" in found["text/plain"]
    attachment = next(p for p in mail.iter_attachments())
    assert attachment.get_filename().endswith(f"{demo_result.as_of.isoformat()}.pdf")
    text = " ".join(PdfReader(io.BytesIO(found["application/pdf"])).pages[0]
                    .extract_text().split())
    assert demo_result.organisation in text and f"{demo_result.leak_money:,.0f} EUR" in text


def test_to_overrides_the_leaders_and_dry_run_sends_nothing(
        leaders_db: str, demo_org: Path, tmp_path: Path, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    pkg = smtp_package(tmp_path / "pkg", demo_org, port)
    r = digest("--database", leaders_db, "--package", pkg, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "nothing sent" in r.stdout and "Would send 2 e-mail(s)" in r.stdout
    assert all(f"to {a}:" in r.stdout for a in LEADERS)
    assert "gone@example.org" not in r.stdout and "owner@example.org" not in r.stdout
    assert box.messages == []
    r = digest("--database", leaders_db, "--package", pkg, "--to", "cfo@example.org")
    assert r.returncode == 0, r.stderr
    assert [parts(m)[0]["To"] for m in box.messages] == ["cfo@example.org"]


@pytest.mark.parametrize("args, message", [
    (("--to", "not an address"), "is not an e-mail address"),
    (("--to", "a@example.org\nBcc: x@evil.example"), "is not an e-mail address"),
    (("--run", "999"), "no run 999"),
    (("--target", "pager"), "no e-mail target named 'pager'"),
])
def test_bad_input_is_exit_2_and_sends_nothing(
        args: tuple[str, ...], message: str, leaders_db: str, demo_org: Path, tmp_path: Path,
        mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    pkg = smtp_package(tmp_path / "pkg", demo_org, port)
    r = digest("--database", leaders_db, "--package", pkg, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert box.messages == []


def test_no_leader_and_no_smtp_target_are_exit_2(demo_db: str, demo_org: Path,
                                                  tmp_path: Path) -> None:
    r = digest("--database", demo_db, "--package", demo_org, "--dry-run")
    assert r.returncode == 2 and "role leader" in r.stderr
    r = digest("--database", demo_db, "--package", demo_org, "--to", "a@example.org")
    assert r.returncode == 2 and "no e-mail target" in r.stderr
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    r = digest("--database", empty, "--to", "a@example.org")
    assert r.returncode == 2 and "no stored check" in r.stderr


def test_an_unreachable_smtp_server_is_exit_3(leaders_db: str, demo_org: Path,
                                               tmp_path: Path) -> None:
    pkg = smtp_package(tmp_path / "pkg", demo_org, free_port())   # nothing listens there
    r = digest("--database", leaders_db, "--package", pkg)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "did not take the digest (2 of 2 not sent)" in r.stderr
