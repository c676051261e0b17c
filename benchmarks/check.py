"""Benchmark: `dipstick check` on the large demo organisation vs the DuckDB floor.

The floor is one DuckDB pass over the same files reading the same columns (an aggregate per
column, so nothing is skipped) — the least any engine-based check could cost. Run:

    python benchmarks/check.py [--dir /tmp/dipstick-large] [--seed 7] [--repeat 3]
                               [--base OTHER/src]

It generates the large organisation once (reused when the folder exists), then prints the
timings of both, measured in the same run, and their ratio. The checked sources are
byte-compiled first, as an install leaves them (``machine.byte_compiled``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from dipstick.package.tables import TABLES
from machine import byte_compiled


def floor_seconds(root: Path) -> float:
    con = duckdb.connect()
    start = time.perf_counter()
    for table, columns in TABLES.items():
        files = [root / f"{table}{ext}" for ext in (".csv", ".parquet")
                 if (root / f"{table}{ext}").exists()]
        if not files:
            continue
        f = files[0]
        reader = "read_parquet" if f.suffix == ".parquet" else "read_csv"
        present = {r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM {reader}('{f}')").fetchall()}
        aggs = ", ".join(f'bit_xor(hash("{c.name}"))' for c in columns if c.name in present)
        con.execute(f"SELECT {aggs} FROM {reader}('{f}')").fetchall()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def check_seconds(root: Path, src: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from ``os.wait4``: on a shared machine the CPU
    time says more than the wall) of the whole CLI in a child process; with ``src``, another
    copy of the code (on ``PYTHONPATH``, ahead of the installed one)."""
    env = dict(os.environ) if src is None else {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dipstick", "check", str(root), "--format",
                             "json", "--no-store"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"dipstick check failed ({code}): {err[-2000:].decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", default="large", choices=["default", "large"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another src (e.g. `git worktree add --detach "
                        "/tmp/base REV` then /tmp/base/src) checked in turn with this one")
    args = parser.parse_args()
    if not (args.dir / "dipstick.yaml").exists():
        from dipstick.demo import generate

        t = time.perf_counter()
        generate(args.dir, seed=args.seed, size=args.size)
        print(f"generated {args.size} demo in {time.perf_counter() - t:.1f} s")
    sizes = {f.name: f.stat().st_size for f in args.dir.iterdir() if f.is_file()}
    print(f"package {args.dir}: {sum(sizes.values()) / 1e6:,.0f} MB in {len(sizes)} files")
    print(byte_compiled(None, *([args.base] if args.base is not None else [])))
    floors, checks, cpus, base = [], [], [], []
    for _ in range(args.repeat):
        floors.append(floor_seconds(args.dir))
        if args.base is not None:
            base.append(check_seconds(args.dir, args.base))
        wall, cpu = check_seconds(args.dir)
        checks.append(wall)
        cpus.append(cpu)
    floor, check = statistics.median(floors), statistics.median(checks)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"DuckDB floor (one pass, same columns): {floor:.2f} s  (runs: "
          f"{', '.join(f'{x:.2f}' for x in floors)})")
    print(f"dipstick check (whole CLI, JSON out):  {check:.2f} s  (runs: "
          f"{', '.join(f'{x:.2f}' for x in checks)})")
    print(f"dipstick check CPU (user + system):   {statistics.median(cpus):.2f} s  (runs: "
          f"{', '.join(f'{x:.2f}' for x in cpus)})")
    print(f"ratio check / floor: {check / floor:.1f}×")
    if base:
        b_wall = statistics.median(w for w, _ in base)
        b_cpu = statistics.median(c for _, c in base)
        print(f"base {args.base} (in turn with the above): {b_wall:.2f} s wall, {b_cpu:.2f} s "
              f"CPU (CPU runs: {', '.join(f'{c:.2f}' for _, c in base)}); now / base: "
              f"{check / b_wall:.2f}× wall, {statistics.median(cpus) / b_cpu:.2f}× CPU")


if __name__ == "__main__":
    main()
