"""Fixtures shared across test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import chromium
from local import Mailbox, smtp_server
from webserver import BACKENDS, RunningApp, app_on, demo_package


@pytest.fixture(scope="session")
def demo_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, written once per test session (a worker, under xdist): the web
    tests read it, none writes to it."""
    return demo_package(tmp_path_factory.mktemp("demo-org"))


@pytest.fixture(scope="module")
def package(demo_org: Path) -> Path:
    """The package a web test module serves (a module may override it, e.g. a hostile one)."""
    return demo_org


@pytest.fixture(scope="module", params=BACKENDS)
def app(request: pytest.FixtureRequest, package: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The web app serving ``package``, once per module on each database backend."""
    with app_on(request.param, package, tmp_path_factory) as running:
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
