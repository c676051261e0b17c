"""The check runs with Python's cyclic collector paused (dipstick/collector.py) and leaves it
as it found it."""

from __future__ import annotations

import gc
import subprocess
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


class _Made:
    """An object the collector tracks (a plain class instance)."""


PAUSE_IN_A_FRESH_PROCESS = """
import gc, sys
from dipstick import collector
class Made:
    pass
gc.collect()
if sys.argv[1] == "frozen":
    kept = [Made() for _ in range(100)]
    gc.freeze()
frozen = gc.get_freeze_count()
with collector.paused():
    made = [Made() for _ in range(1000)]
oldest = {id(o) for o in gc.get_objects(generation=2)}
print(all(id(o) in oldest for o in made), gc.get_freeze_count() - frozen, gc.isenabled())
"""


def _pause(before: str) -> list[str]:
    """A pause in a fresh process: in a test worker, other tests' objects may be frozen (the
    web's ``settle``) and other tests' server threads free frozen objects meanwhile, so neither
    what a pause moves nor the freeze count can be read there."""
    ran = subprocess.run([sys.executable, "-c", PAUSE_IN_A_FRESH_PROCESS, before],
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.split()


def test_what_a_pause_made_leaves_it_in_the_oldest_generation() -> None:
    """Else the first allocation after the pause collects the youngest generation, which then
    holds everything the block made (0.16-0.5 s after a check of the large demo)."""
    assert _pause("nothing frozen") == ["True", "0", "True"]


def test_a_pause_leaves_what_others_froze_frozen() -> None:
    """The web freezes its caches (web/context.py ``settle``); a check it runs must not thaw
    them (and then what the pause made is left where the collector put it)."""
    assert _pause("frozen") == ["False", "0", "True"]
