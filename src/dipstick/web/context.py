"""What the stored rows of a run do not hold, for the pages: the value model (groups,
outcomes, value links, streams, journeys), the trend series with their shifts, stream and
journey maps, surveys and run costs (:class:`dipstick.runs.RunContext`).

A run stored since migration 0011 keeps them (``run_extras``): they are read back in a fraction
of a second, once, and kept in memory (the latest few runs). A run stored before has none: its
package is re-checked as of the run's date instead, as before (12–27 s for 2,040 services);
when the package has moved or changed since, those parts of the pages say so instead of
showing something else.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dipstick.check import run_check
from dipstick.errors import DipstickError
from dipstick.package import load_package
from dipstick.runs import RunContext, add_answers, context_of, read_context, run_costs, surveys_of
from dipstick.store import Store

__all__ = ["Missing", "RunContext", "clear", "remember", "run_context", "run_costs", "settle",
           "surveys_of"]

KEEP = 6   # entries: a run's context is kept under its run and its (package, date) alike


@dataclass(frozen=True)
class Missing:
    """Why a run's package could not be read back (shown on the pages)."""

    reason: str


Key = tuple[str, str, str]
_cache: OrderedDict[Key, RunContext | Missing] = OrderedDict()
_lock = threading.Lock()


def run_context(package: str, as_of: date, store: Store | None = None,
                run_id: int | None = None) -> RunContext | Missing:
    """The context of a run: stored with it (``store`` and ``run_id`` given, run stored since
    migration 0011), else its package re-checked as of its date — with ``store``, the stored
    pulse answers join its surveys, as they did for the check."""
    by_package: Key = ("package", package, as_of.isoformat())
    with _lock:
        if store is not None and run_id is not None:
            by_run: Key = ("run", store.url, str(run_id))
            if by_run in _cache:
                _cache.move_to_end(by_run)
                return _cache[by_run]
            stored = read_context(store, run_id)
            if stored is not None:
                _keep(by_run, stored)
                _keep(by_package, stored)   # for readers that know the package only (pulse)
                return stored
        if by_package in _cache:
            _cache.move_to_end(by_package)
            return _cache[by_package]
        found = _load(Path(package), as_of, store)
        _keep(by_package, found)
        return found


def _keep(key: Key, found: RunContext | Missing) -> None:
    _cache[key] = found
    _cache.move_to_end(key)
    dropped = False
    while len(_cache) > KEEP:
        _cache.popitem(last=False)
        dropped = True
    settle(collect=dropped)


def remember(package: str, as_of: date, found: RunContext) -> None:
    """Keep a context built by a check this process just ran (the web's "Check now"): the
    pages need no re-check for it, and a re-checked older copy of the same package and date
    is replaced rather than shown."""
    with _lock:
        _keep(("package", package, as_of.isoformat()), found)


def settle(collect: bool = True) -> None:
    """Take the long-lived caches out of the garbage collector's sight. A run's context and
    rows are hundreds of thousands of objects; without this every full collection walks them,
    and one request in ten took a second instead of 80 ms (benchmarks/web.py). With
    ``collect`` (when a cache dropped something), unfreezing first lets a full collection
    free it — 0.3 s with two large runs in memory, so not on every load."""
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


def _load(path: Path, as_of: date, store: Store | None) -> RunContext | Missing:
    if not (path / "dipstick.yaml").is_file():
        return Missing(f"the data package {path} is not there any more (trends, the value map, "
                       "streams and journeys need it)")
    try:
        package = load_package(path)
    except DipstickError as e:
        return Missing(f"the data package {path} cannot be read now: {str(e).splitlines()[0]}")
    try:
        if store is not None:
            add_answers(store, package)
        return context_of(package, run_check(package, as_of))
    except DipstickError as e:
        return Missing(f"the data package {path} cannot be checked now: {e}")
    finally:
        package.close()


def clear() -> None:
    with _lock:
        _cache.clear()
