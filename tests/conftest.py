"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from webserver import demo_package


@pytest.fixture(scope="session")
def demo_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, written once per test session (a worker, under xdist): the web
    tests read it, none writes to it."""
    return demo_package(tmp_path_factory.mktemp("demo-org"))
