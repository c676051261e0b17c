"""Benchmark: the check's scans of the tickets — the weekly series' ``build`` and the ticket
facts and resolution by type that employee and customer experience measure — this tree against
another, in turn. Run:

    python benchmarks/ticket_scans.py [--dir /tmp/dipstick-large] [--base OTHER/src]
                                      [--repeat 3] [--rounds 3]

Each child process loads the package and makes the check's context (``causes_cpu.py``), then
times, per round, on a fresh cache: ``series.build`` (all tables), and ``ticket_facts`` with
``internal_resolution`` together — CPU seconds of the process (``time.process_time``: DuckDB's
threads too), least of the rounds. Trees alternate ``--repeat`` times; the load average is
printed, as on a shared machine only CPU seconds compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[2])
from causes_cpu import check_context
from dipstick.findings import CheckCache
from dipstick.indicators import tickets
from dipstick.shifts import series
from pathlib import Path

package, ctx = check_context(Path(sys.argv[1]))
best = {}
for _ in range(int(sys.argv[3])):
    ctx.cache.__init__()
    t = time.process_time()
    series.build(ctx.signals, ctx.model, ctx.window.end, {}, {})
    b = time.process_time()
    for w in ("current", "baseline"):
        tickets.ticket_facts(ctx, "internal", w)
        tickets.internal_resolution(ctx, w)
    f = time.process_time()
    for k, v in (("build", b - t), ("facts+resolution", f - b), ("both", f - t)):
        best[k] = min(best.get(k, 9e9), v)
print(" ".join(f"{k}={v:.3f}" for k, v in best.items()))
"""


def run(root: Path, src: Path, rounds: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(Path(__file__).parent),
                          str(rounds)], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--base", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent / "src"
    trees = [("this", here)] + ([("base", args.base)] if args.base else [])
    for i in range(args.repeat):
        for name, src in trees:
            print(f"{i} {name:5s} {run(args.dir, src, args.rounds)} "
                  f"load={os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
