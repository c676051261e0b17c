"""The check runs with Python's cyclic collector paused (dipstick/collector.py) and leaves it
as it found it."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import pytest

from dipstick import collector
from dipstick.check import run_check
from dipstick.package import load_package


def test_no_collection_runs_inside_a_check_and_the_collector_is_back_after(
        demo_org: Path) -> None:
    package = load_package(demo_org)
    seen: list[str] = []
    assert gc.isenabled()

    def note(phase: str, info: dict[str, Any]) -> None:
        """A collection started from inside the check's work (``check._check``); the one that
        may follow the pause, on the first allocation after it, does not count."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "_check" and frame.f_code.co_filename.endswith(
                    "check.py"):
                seen.append(phase)
                return
            frame = frame.f_back  # type: ignore[assignment]

    gc.collect()
    gc.callbacks.append(note)
    try:
        result = run_check(package)
    finally:
        gc.callbacks.remove(note)
    assert result.verdicts
    assert seen == []          # ~1,400 collections on the large demo without the pause
    assert gc.isenabled()


def test_a_pause_restores_the_collector_as_it_was_also_on_error() -> None:
    with pytest.raises(RuntimeError), collector.paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
