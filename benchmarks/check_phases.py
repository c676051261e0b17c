"""Benchmark: the CPU of a check's phases after loading — run_check, closing the package, the
JSON output and the process's exit — for this code and another, in turn. Run:

    python benchmarks/check_phases.py [--dir /tmp/dipstick-large] [--repeat 3] [--base OTHER/src]

Each run is a child process: it loads the package (not counted), then times each phase with
``os.times`` (user + system, all threads); the exit is the child's ``wait4`` total minus what
it printed, so the interpreter's last collections count (this script's exit, with the result
still held: not the CLI's, whose ``main`` freezes it first; ``check.py`` times the CLI). The
output is what ``check --format json`` prints, to /dev/null: ``cli.app._print_check_json``
where the code has it, else ``_print_json(result.to_json())`` (the code before session 15).
NumPy's CPU features are steered as the console entry steers them (``dipstick.numpy_cpu``:
AVX-512 sorts off on Zen 4; until session 17 this child skipped it, helper W).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import importlib, os, sys
from pathlib import Path
try:   # as the console entry does, before NumPy is imported (none before session 15)
    from dipstick import numpy_cpu
    numpy_cpu.steer()
except ImportError:
    pass
from dipstick.check import run_check
from dipstick.package import load_package

def cpu():
    t = os.times()
    return t.user + t.system

package = load_package(Path(sys.argv[1]))
t0 = cpu()
print("START", t0, file=sys.stderr)
result = run_check(package)
t1 = cpu()
package.close()
t2 = cpu()
app = importlib.import_module("dipstick.cli.app")
if hasattr(app, "_print_check_json"):
    app._print_check_json(result)
else:
    app._print_json(result.to_json())
sys.stdout.flush()
t3 = cpu()
print("PHASES", t1 - t0, t2 - t1, t3 - t2, file=sys.stderr, flush=True)
"""

NAMES = ("run_check", "close", "output", "exit", "total")


def phases(root: Path, src: Path | None) -> list[float]:
    env = dict(os.environ) if src is None else {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    lines = {line.split()[0]: line.split()[1:] for line in err.splitlines() if line.strip()}
    if os.waitstatus_to_exitcode(status) != 0 or "PHASES" not in lines:
        raise SystemExit(f"the child failed: {err[-2000:]}")
    start = float(lines["START"][0])
    parts = [float(x) for x in lines["PHASES"]]
    total = usage.ru_utime + usage.ru_stime - start
    return [*parts, total - sum(parts), total]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another src, run in turn with this one")
    args = parser.parse_args()
    runs: dict[str, list[list[float]]] = {"this": [], "base": []}
    for _ in range(args.repeat):
        if args.base is not None:
            runs["base"].append(phases(args.dir, args.base))
        runs["this"].append(phases(args.dir, None))
    print(f"CPU seconds, medians of {args.repeat} (load average {os.getloadavg()[0]:.1f}):")
    print(f"{'':6}" + "".join(f"{n:>11}" for n in NAMES))
    for name, rows in runs.items():
        if rows:
            medians = [statistics.median(col) for col in zip(*rows, strict=True)]
            print(f"{name:6}" + "".join(f"{m:11.2f}" for m in medians))
    print("every run, in the order run (base, then this, in turn):")
    for i in range(args.repeat):
        for name in ("base", "this"):
            if runs[name]:
                print(f"{name:6}" + "".join(f"{m:11.2f}" for m in runs[name][i]))


if __name__ == "__main__":
    main()
