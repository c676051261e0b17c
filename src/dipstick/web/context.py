"""What the stored run does not hold, rebuilt from its data package: the value model (groups,
outcomes, value links, streams, journeys) and the full check result (trend series with their
shifts, stream maps, journey measures).

The stored run keeps lights, evidence and leaks — enough for the portfolio. The service page's
trends, the value map and the stream and journey pages need the package: it is re-checked as of
the run's date, once, and kept in memory (the latest few runs). When the package has moved or
changed since, those parts of the pages say so instead of showing something else.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dipstick.check import CheckResult, run_check
from dipstick.errors import DipstickError
from dipstick.findings import CheckContext, CommonSpec
from dipstick.indicators.common import monthly_costs
from dipstick.indicators.perception import PerceptionSpec
from dipstick.indicators.registry import split_settings
from dipstick.model import ValueModel
from dipstick.package import Package, load_package
from dipstick.runs import add_answers
from dipstick.store import Store
from dipstick.surveys import ServiceSurveys, service_surveys

KEEP = 3


@dataclass(frozen=True)
class RunContext:
    model: ValueModel
    result: CheckResult
    # per service: value scores by group and dimension, check-in recency, latest comments
    # (read while the package is open; the stored run keeps none of it)
    surveys: Mapping[str, ServiceSurveys] = field(default_factory=dict)
    # per service: the run cost a month the check's formulas used (costs.csv, else the catalog)
    costs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Missing:
    """Why a run's package could not be read back (shown on the pages)."""

    reason: str


_cache: OrderedDict[tuple[str, str], RunContext | Missing] = OrderedDict()
_lock = threading.Lock()


def run_context(package: str, as_of: date, store: Store | None = None) -> RunContext | Missing:
    """The model and full check result of the package a run checked, as of its date; with
    ``store``, the stored pulse answers join its surveys, as they did for the check."""
    key = (package, as_of.isoformat())
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        found = _load(Path(package), as_of, store)
        _cache[key] = found
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
        settle()
        return found


def remember(package: str, as_of: date, found: RunContext) -> None:
    """Keep a context built by a check this process just ran (the web's "Check now"): the
    pages need no re-check for it, and a re-checked older copy of the same package and date
    is replaced rather than shown."""
    with _lock:
        _cache[(package, as_of.isoformat())] = found
        _cache.move_to_end((package, as_of.isoformat()))
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
        settle()


def settle() -> None:
    """Take the long-lived caches out of the garbage collector's sight. A re-checked 2,000-
    service package is millions of objects; without this every full collection walks them,
    and one request in ten took a second instead of 80 ms (benchmarks/web.py). Unfreezing
    first lets the collection free what the caches have dropped."""
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
        result = run_check(package, as_of)
        return RunContext(package.model, result, surveys_of(package, result),
                          run_costs(package, result))
    except DipstickError as e:
        return Missing(f"the data package {path} cannot be checked now: {e}")
    finally:
        package.close()


def _check_context(package: Package, result: CheckResult) -> CheckContext:
    model = package.model
    return CheckContext(model, package.signals, result.window,
                        split_settings(model.settings, CommonSpec))


def surveys_of(package: Package, result: CheckResult) -> dict[str, ServiceSurveys]:
    """The surveys as the check saw them: same window and settings as its perception cause."""
    return service_surveys(_check_context(package, result),
                           split_settings(package.model.settings, PerceptionSpec))


def run_costs(package: Package, result: CheckResult) -> dict[str, float]:
    """Each service's run cost a month read the way the check's formulas read it (same
    function, same window), so a page showing a cost shows the one the leak was priced with."""
    return monthly_costs(_check_context(package, result))


def clear() -> None:
    with _lock:
        _cache.clear()
