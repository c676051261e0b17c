"""Benchmark: every cause's ``assess`` over all services and ``confirm``, in process, least of
seven rounds (session 17). Alternate two checkouts in one session:

    PYTHONPATH=src python benchmarks/assess_cpu.py /tmp/dipstick-large

Unlike ``causes_cpu.py`` (least of three, the detector's time subtracted) the detector's
calls stay in (filled by a first, untimed round, as the check's caches are); seven rounds
because at a load of 5–8 on two cores three left ±15 % between runs of the same code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from causes_cpu import check_context
from dipstick import stats as st
from dipstick.findings import Finding
from dipstick.indicators.confidence import confirm
from dipstick.indicators.registry import INDICATORS, split_settings
from dipstick.shifts import detect_all


def main(root: Path, rounds: int = 7) -> None:
    package, ctx = check_context(root)
    model = package.model
    from scipy import special  # noqa: F401  (its import is no cause's)

    detect_all(ctx)
    services = list(model.services)
    measured: dict[str, tuple[Any, Any]] = {}
    for ind in INDICATORS:
        spec = split_settings(model.settings, ind.spec)
        measured[ind.cause] = (ind.measure(ctx, spec), spec)
    for ind in INDICATORS:             # fills the detector's and the check's caches
        m, spec = measured[ind.cause]
        [ind.assess(s, m, ctx, spec) for s in services]
    best: dict[str, float] = {}
    for _ in range(rounds):
        for kept in ("_clopper_pearson", "_t975"):   # what a fresh check starts without
            getattr(st, kept).cache_clear()
        found: list[Finding] = []
        for ind in INDICATORS:
            m, spec = measured[ind.cause]
            t = time.process_time()
            found += [ind.assess(s, m, ctx, spec) for s in services]
            best[ind.cause] = min(best.get(ind.cause, 9e9), time.process_time() - t)
        t = time.process_time()
        confirm(found)
        best["confirm"] = min(best.get("confirm", 9e9), time.process_time() - t)
    print(" ".join(f"{k}={v:.3f}" for k, v in best.items()), f"sum={sum(best.values()):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dipstick-large"))
