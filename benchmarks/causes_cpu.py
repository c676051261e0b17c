"""Benchmark: the eight causes' ``measure`` and ``assess`` CPU, without the shift detector's.

Run with the ``src`` to measure first on the path (alternate two checkouts in one session):

    PYTHONPATH=src python benchmarks/causes_cpu.py /tmp/dipstick-large

Each ``measure`` runs once (process time); then every cause's ``assess`` over all services runs
three times and the least is kept (the first pass, not timed, fills the check's caches). The
collector is off, as in ``run_check``. Time spent in the detector's functions that indicators
call (``settled_shift``, ``use_change``, ``rhythm``, ``first_seen``, ``ShiftIndex.shifts``)
is subtracted: it is the shift detector's cost, not the causes'.
"""

from __future__ import annotations

import gc
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dipstick import coverage
from dipstick import stats as st
from dipstick.check import _as_of
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators.confidence import confirm
from dipstick.indicators.registry import INDICATORS, split_settings
from dipstick.package import Package, load_package
from dipstick.shifts import ShiftIndex, detect_all

DETECTOR = ("settled_shift", "use_change", "rhythm", "first_seen")
MODULES = ("change", "customer_experience", "employee_experience", "retirement", "training",
           "perception", "alignment", "flow", "common")


def check_context(root: Path) -> tuple[Package, CheckContext]:
    """The package and the context ``run_check`` makes of it (the window, thin baselines
    hidden), the collector paused as the check pauses it: what every causes benchmark starts
    from (``assess_cpu.py``, ``change_retirement_cpu.py``)."""
    package = load_package(root)
    gc.disable()                       # as run_check does (dipstick.collector.paused)
    model = package.model
    day, _ = _as_of(package, None)
    common = split_settings(model.settings, CommonSpec)
    window = Window(day, common.window_days, common.baseline_days)
    coverage.hide_thin_baselines(package.signals, coverage.tables(package.signals, window),
                                 window)
    return package, CheckContext(model, package.signals, window, common)


def main(root: Path) -> None:
    package, ctx = check_context(root)
    model = package.model
    spent = [0.0]
    depth = [0]

    def timed(f: Callable[..., Any]) -> Callable[..., Any]:
        def g(*a: Any, **k: Any) -> Any:
            depth[0] += 1
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[0] += time.process_time() - t
        return g

    for name in MODULES:
        module = importlib.import_module(f"dipstick.indicators.{name}")
        for fn in DETECTOR:
            if hasattr(module, fn):
                setattr(module, fn, timed(getattr(module, fn)))
    ShiftIndex.shifts = timed(ShiftIndex.shifts)  # type: ignore[method-assign]
    from scipy import special  # noqa: F401  (its import is no cause's)

    detect_all(ctx)
    services = list(model.services)
    out: dict[str, float] = {}
    measured: dict[str, tuple[Any, Any]] = {}
    for ind in INDICATORS:
        spec = split_settings(model.settings, ind.spec)
        spent[0] = 0.0
        t = time.process_time()
        measured[ind.cause] = (ind.measure(ctx, spec), spec)
        out[f"{ind.cause}.measure"] = time.process_time() - t - spent[0]
    for ind in INDICATORS:                # fills the detector's and the check's caches
        m, spec = measured[ind.cause]
        [ind.assess(s, m, ctx, spec) for s in services]
    for _ in range(3):
        for kept in ("_clopper_pearson", "_t975"):   # what a fresh check starts without
            if hasattr(st, kept):
                getattr(st, kept).cache_clear()
        found = []
        for ind in INDICATORS:
            m, spec = measured[ind.cause]
            spent[0] = 0.0
            t = time.process_time()
            found += [ind.assess(s, m, ctx, spec) for s in services]
            key = f"{ind.cause}.assess"
            out[key] = min(out.get(key, 9e9), time.process_time() - t - spent[0])
        t = time.process_time()
        confirm(found)
        out["confirm"] = min(out.get("confirm", 9e9), time.process_time() - t)
    for k, v in sorted(out.items(), key=lambda kv: -kv[1]):
        print(f"{k:32s} {v:6.3f}")
    measure = sum(v for k, v in out.items() if k.endswith(".measure"))
    assess = sum(v for k, v in out.items() if k.endswith(".assess"))
    print(f"TOTAL measure {measure:.2f} assess {assess:.2f} confirm {out['confirm']:.2f} "
          f"all {measure + assess + out['confirm']:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dipstick-large"))
