"""Benchmark: what a check of the large demo pays before and after its indicators, against
issue 16's budget (5× the DuckDB floor), in the same run. Run:

    python benchmarks/check_bounds.py [--dir /tmp/dipstick-large] [--repeat 3]

Each repeat measures the floor (``check.py``'s: one DuckDB pass over the columns the check
reads), then a fresh child process that times, in wall seconds: the imports of the command
(``dipstick.cli.app``, ``runs``, ``check``, as the console entry has them by the load), the
load (``load_package``: every rule judged, the typed copy), ``run_check`` (the shift series,
the eight causes, confirmation, episodes), the JSON as ``check --format json`` makes it
(``json_chunks``) and, of that, the encoding alone (the same dicts made first, then only
encoded). What a check must pay whatever its indicators do: the imports, the load, the
encoding. The child steers NumPy and tunes malloc as the console entry does (``one_shot``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from check import floor_seconds

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from dipstick import numpy_cpu
numpy_cpu.steer()
from dipstick.cli.app import one_shot
one_shot()
from pathlib import Path
import dipstick.check, dipstick.runs
from dipstick import collector
from dipstick.check import _verdict_json, json_chunks
from dipstick.package import load_package
marks = {"imports": time.perf_counter() - t0}
t = time.perf_counter()
package = load_package(Path(sys.argv[1]), omit=dipstick.runs.UNREAD)
marks["load"] = time.perf_counter() - t
t = time.perf_counter()
result = dipstick.check.run_check(package)
marks["run_check"] = time.perf_counter() - t
package.close()
t = time.perf_counter()
size = sum(map(len, json_chunks(result)))
marks["json"] = time.perf_counter() - t
encode = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False,
                          check_circular=False).encode
with collector.paused():
    shown = {}
    made = [_verdict_json(v, shown) for v in result.verdicts]
    t = time.perf_counter()
    for d in made:
        encode(d)
    marks["json, encoding only"] = time.perf_counter() - t
marks["bytes"] = size
print(json.dumps(marks))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.dir / "dipstick.yaml").exists():
        raise SystemExit(f"no package at {args.dir}: `python benchmarks/check.py` makes it")
    floors, runs = [], []
    for _ in range(args.repeat):
        floors.append(floor_seconds(args.dir))
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.dir)], check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    floor = statistics.median(floors)
    budget = 5 * floor
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"floor {floor:.2f} s (runs: {', '.join(f'{x:.2f}' for x in floors)}); "
          f"issue 16's budget, 5× the floor: {budget:.2f} s; JSON {runs[0]['bytes']:,} bytes")
    print("| phase | wall s (median) | runs | × floor | share of the 5× budget |")
    print("|---|---:|---|---:|---:|")
    phases = [k for k in runs[0] if k != "bytes"]
    for k in phases:
        each = [r[k] for r in runs]
        m = statistics.median(each)
        print(f"| {k} | {m:.2f} | {', '.join(f'{x:.2f}' for x in each)} | {m / floor:.1f} | "
              f"{m / budget:.0%} |")
    fixed = statistics.median(r["imports"] + r["load"] + r["json, encoding only"] for r in runs)
    print(f"paid whatever the indicators do (imports + load + encoding): {fixed:.2f} s = "
          f"{fixed / floor:.1f}× the floor, {fixed / budget:.0%} of the budget")


if __name__ == "__main__":
    main()
