"""Benchmark: the change and retirement causes' ``measure`` and ``assess`` CPU, all of it.

Run with the ``src`` to measure first on the path, alternating two checkouts in one session:

    PYTHONPATH=src python benchmarks/change_retirement_cpu.py /tmp/dipstick-large

Unlike ``causes_cpu.py`` nothing is subtracted: the weekly use around a change (``use_change``,
counted there as the detector's) is these causes' own arithmetic, and session 17 moved it from
``assess`` into ``measure``. Each pass starts as a check does — the audiences' rhythm computed
but no service's weekly use divided by it yet (``Season._relative`` emptied) — and times
change's then retirement's ``measure`` and ``assess`` over every service; the least of five
passes is kept per step, after one pass that fills the check's other caches.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from causes_cpu import check_context
from dipstick import stats as st
from dipstick.indicators.common import rhythm
from dipstick.indicators.registry import INDICATORS, split_settings
from dipstick.shifts import detect_all

CAUSES = ("change", "retirement")


def main(root: Path) -> None:
    package, ctx = check_context(root)
    model = package.model
    detect_all(ctx)
    rhythm(ctx)
    st._sp()                           # SciPy's import is no cause's
    services = list(model.services)
    indicators = {i.cause: (i, split_settings(model.settings, i.spec)) for i in INDICATORS}
    best: dict[str, float] = {}
    for k in range(6):
        rhythm(ctx)._relative.clear()
        for cause in CAUSES:
            ind, spec = indicators[cause]
            t = time.process_time()
            m = ind.measure(ctx, spec)
            measured = time.process_time() - t
            t = time.process_time()
            [ind.assess(s, m, ctx, spec) for s in services]
            assessed = time.process_time() - t
            if k:                      # the first pass fills the caches
                for step, v in (("measure", measured), ("assess", assessed)):
                    best[f"{cause}.{step}"] = min(best.get(f"{cause}.{step}", 9e9), v)
    print(" ".join(f"{k} {v:.3f}" for k, v in best.items()), f"TOTAL {sum(best.values()):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dipstick-large"))
