"""Benchmark: `dipstick check` at 5, 10, 20 and 50 million tickets, memory bounded.

Each size is the large demo organisation (2,040 services; its other tables as they are) with
its tickets table grown to N rows in DuckDB: copy k of each ticket is opened and resolved k
minutes later and its id gets a ``-k`` suffix (the same services, weeks and mix, denser).
Every check is a fresh child process (`dipstick check DIR --format json --no-store`) with
DuckDB bounded by ``DIPSTICK_MEMORY_LIMIT`` and spilling to ``DIPSTICK_TEMP_DIRECTORY``;
``os.wait4`` gives its peak RSS and CPU time. The floor (one DuckDB pass over the tickets'
columns, as in benchmarks/check.py) is measured in the same run per size. Run:

    python benchmarks/scale.py [--base /tmp/dipstick-large] [--work /tmp/dipstick-scale]
                               [--sizes 5,10,20,50] [--memory-limit 1GB]

Sizes run smallest first; a size that fails or passes ``--timeout`` is reported and stops the
run. The growth exponent is the log-log slope of time (and of peak RSS) against tickets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from dipstick.package.tables import TABLES


def build(base: Path, out: Path, tickets: int) -> float:
    """The package with ``tickets`` ticket rows (other tables linked from ``base``)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in base.iterdir():
        if f.is_file() and f.name != "tickets.parquet" and not (out / f.name).exists():
            os.symlink(f, out / f.name)
    target = out / "tickets.parquet"
    if target.exists():
        return 0.0
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{out / 'spill'}'")
    src = base / "tickets.parquet"
    n0 = con.execute(f"SELECT count(*) FROM read_parquet('{src}')").fetchone()[0]  # type: ignore[index]
    copies = math.ceil(tickets / n0)
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{src}')").fetchall()]
    shifted = {"id": "CASE WHEN k = 0 THEN id ELSE id || '-' || k END",
               "opened_at": "opened_at + k * INTERVAL 1 MINUTE",
               "resolved_at": "resolved_at + k * INTERVAL 1 MINUTE"}
    select = ", ".join(f'{shifted.get(c, quote(c))} AS {quote(c)}' for c in cols)
    tmp = target.with_suffix(".tmp")
    con.execute(f"COPY (SELECT {select} FROM read_parquet('{src}'), "
                f"(SELECT range AS k FROM range({copies})) LIMIT {tickets}) "
                f"TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 122880)")
    con.close()
    tmp.rename(target)
    shutil.rmtree(out / "spill", ignore_errors=True)
    return time.perf_counter() - start


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def floor_seconds(root: Path) -> float:
    """One DuckDB pass over every contract column of every table (benchmarks/check.py's
    floor), the tickets grown."""
    con = duckdb.connect()
    start = time.perf_counter()
    for table, columns in TABLES.items():
        f = root / f"{table}.parquet"
        if not f.exists():
            continue
        present = {r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall()}
        aggs = ", ".join(f"bit_xor(hash({quote(c.name)}))" for c in columns
                         if c.name in present)
        con.execute(f"SELECT {aggs} FROM read_parquet('{f}')").fetchall()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def check(root: Path, memory_limit: str, timeout: float) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS (MB) and exit code of one check in a child."""
    spill = root / "spill"
    env = {**os.environ, "DIPSTICK_MEMORY_LIMIT": memory_limit,
           "DIPSTICK_TEMP_DIRECTORY": str(spill)}
    start = time.perf_counter()
    out = root / "result.json"
    sink = out.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "dipstick", "check", str(root), "--format",
                             "json", "--no-store"], env=env, stdout=sink,
                            stderr=subprocess.DEVNULL)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - start
    sink.close()
    code = os.waitstatus_to_exitcode(status)
    shutil.rmtree(spill, ignore_errors=True)
    if code in (0, 1):
        # a finished check is exit 0 or 1 WITH its JSON: before session 11 a crash was exit 1
        # too (Python's own), and this benchmark counted a 50 M out-of-memory crash as a run
        try:
            json.loads(out.read_text())
        except ValueError:
            code = -1
    # ru_maxrss is in KiB on Linux
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x: 1 is linear growth."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dipstick-scale"))
    parser.add_argument("--sizes", default="5,10,20,50", help="millions of tickets")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per check")
    args = parser.parse_args()
    if not (args.base / "dipstick.yaml").exists():
        raise SystemExit(f"no package at {args.base}: run benchmarks/check.py first")
    print(f"DuckDB memory_limit {args.memory_limit}; machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    print("| tickets | floor s | check s | ratio | CPU s | peak RSS MB | exit |", flush=True)
    print("|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    done: list[tuple[int, float, float, float]] = []
    for size in sorted(float(s) for s in args.sizes.split(",")):
        n = int(size * 1_000_000)
        root = args.work / f"t{size:g}m"
        made = build(args.base, root, n)
        if made:
            print(f"(built {n:,} tickets in {made:.0f} s)", flush=True)
        floor = floor_seconds(root)
        wall, cpu, rss, code = check(root, args.memory_limit, args.timeout)
        print(f"| {n:,} | {floor:.2f} | {wall:.1f} | {wall / floor:.0f}× | {cpu:.1f} | "
              f"{rss:,.0f} | {code} |", flush=True)
        if code not in (0, 1):
            print(f"stopped: the check at {n:,} tickets exited {code}", flush=True)
            break
        done.append((n, wall, cpu, rss))
    if len(done) >= 2:
        ns = [float(d[0]) for d in done]
        print(f"growth exponent (log-log slope) over {len(done)} sizes: wall "
              f"{slope(ns, [d[1] for d in done]):.2f}, CPU {slope(ns, [d[2] for d in done]):.2f}"
              f", peak RSS {slope(ns, [d[3] for d in done]):.2f}", flush=True)


if __name__ == "__main__":
    main()
