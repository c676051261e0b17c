"""Fixtures shared across test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import chromium
from local import Mailbox, smtp_server
from webserver import PreparedDemo, RunningApp, app_on, demo_package, prepared_demo


@pytest.fixture(scope="session")
def demo_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, written once per test session (a worker, under xdist): the web
    tests read it, none writes to it."""
    return demo_package(tmp_path_factory.mktemp("demo-org"))


@pytest.fixture(scope="session")
def web_demo(tmp_path_factory: pytest.TempPathFactory) -> PreparedDemo:
    """The demo and its app database (a stored check, users), prepared once per session and
    shared by the xdist workers (tests/webserver.py); each module copies the database."""
    return prepared_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def package(web_demo: PreparedDemo) -> Path:
    """The package a web test module serves (a module may override it, e.g. a hostile one)."""
    return web_demo.package


@pytest.fixture(scope="module")
def app(package: Path, web_demo: PreparedDemo,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The web app serving ``package`` in process on SQLite, once per module (the web layer
    has no database-specific code; tests/test_pulse_web.py also runs it on PostgreSQL)."""
    with app_on("sqlite", package, tmp_path_factory, web_demo) as running:
        yield running


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server for the test: its mailbox and port."""
    with smtp_server() as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (Playwright), one per test module; skips without it (tests/browser.py)."""
    with chromium() as launched:
        yield launched
