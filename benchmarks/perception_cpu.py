"""Benchmark: perception's ``measure`` and its ``assess`` over all services, CPU, least of
seven rounds each (session 18: the groups' scores, variances and promoters − detractors moved
from assess into measure as arrays, so both halves are timed). Alternate two checkouts:

    PYTHONPATH=src:benchmarks python benchmarks/perception_cpu.py /tmp/dipstick-large
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from causes_cpu import check_context
from dipstick import stats as st
from dipstick.indicators import perception
from dipstick.indicators.registry import split_settings


def main(root: Path, rounds: int = 7) -> None:
    package, ctx = check_context(root)
    st._sp()                                    # SciPy's import is no cause's
    spec = split_settings(package.model.settings, perception.PerceptionSpec)
    services = list(package.model.services)
    m = perception.measure(ctx, spec)
    [perception.assess(s, m, ctx, spec) for s in services]   # fills the check's caches
    best = {"measure": 9e9, "assess": 9e9}
    for _ in range(rounds):
        t = time.process_time()
        m = perception.measure(ctx, spec)
        best["measure"] = min(best["measure"], time.process_time() - t)
        t = time.process_time()
        [perception.assess(s, m, ctx, spec) for s in services]
        best["assess"] = min(best["assess"], time.process_time() - t)
    print(" ".join(f"{k}={v:.3f}" for k, v in best.items()), f"sum={sum(best.values()):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dipstick-large"))
