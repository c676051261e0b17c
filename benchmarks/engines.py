"""Benchmark: the same check on DuckDB (embedded) and on Spark (local mode), same package, same
run — what the distributed engine costs on one machine, and that it answers the same.

    python benchmarks/engines.py [--dir /tmp/dipstick-demo] [--master local[2]]
    python benchmarks/engines.py --sizes 10,50 [--base /tmp/dipstick-large]
                                 [--work /tmp/dipstick-lake] [--driver-memory 1g]

With ``--sizes`` (millions of tickets; issue 18, lake scale) each size is the large demo with
its tickets replicated by benchmarks/scale.py, written as a Hive-partitioned Parquet folder
(by year) declared under ``tables:``, and checked in a fresh child process per engine: DuckDB
bounded by ``DIPSTICK_MEMORY_LIMIT`` (spilling), Spark ``local[2]`` with the driver JVM capped
by ``--driver-memory``. Printed per engine: wall and CPU seconds (``os.wait4``: the child and
the JVM it reaped) and the peak RSS of the child's whole process tree (sampled from /proc every
0.2 s), then whether the results are equal (``differences``).

The default demo organisation is generated once (reused when the folder exists). Spark's
session start is timed apart from the check. Spark in local mode is expected to be slower: every
aggregation becomes a Spark job with its scheduling overhead; it pays off only where the data
no longer fits one machine's DuckDB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dipstick.check import run_check
from dipstick.demo import generate
from dipstick.engine.spark import differences, on_spark, session
from dipstick.package import load_package


def timed_check(root: Path, spark: object | None) -> tuple[float, dict[str, object]]:
    package = load_package(root)
    try:
        if spark is not None:
            on_spark(package, spark)
        start = time.perf_counter()
        result = run_check(package)
        return time.perf_counter() - start, result.to_json()
    finally:
        package.close()


def lake(base: Path, work: Path, tickets: int) -> Path:
    """The large demo at ``tickets`` tickets, its tickets a partitioned folder (by year)."""
    import duckdb
    import yaml

    from scale import build  # benchmarks/scale.py: tickets replicated to N rows

    flat = work / f"t{tickets / 1e6:g}m"
    build(base, flat, tickets)
    root = work / f"t{tickets / 1e6:g}m-lake"
    folder = root / "lake" / "tickets"
    if not folder.exists():
        root.mkdir(parents=True, exist_ok=True)
        for f in base.iterdir():
            if f.suffix == ".parquet" and f.name != "tickets.parquet" \
                    and not (root / f.name).exists():
                os.symlink(f, root / f.name)
        con = duckdb.connect()
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET temp_directory = '{work / 'spill'}'")
        tmp = folder.with_name("tickets.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT *, year(opened_at) AS year FROM read_parquet("
                    f"'{flat / 'tickets.parquet'}')) TO '{tmp}' (FORMAT parquet, "
                    "PARTITION_BY (year), ROW_GROUP_SIZE 122880)")
        con.close()
        tmp.rename(folder)
    model = yaml.load((base / "dipstick.yaml").read_text(), Loader=yaml.CSafeLoader)
    model["tables"] = {"tickets": "lake/tickets"}
    (root / "dipstick.yaml").write_text(yaml.dump(model, Dumper=yaml.CSafeDumper,
                                                  sort_keys=False))
    return root


def _tree_rss(pid: int) -> int:
    """The summed RSS (bytes) of ``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(d))
        rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def child_check(root: Path, engine: str, env: dict[str, str], timeout: float
                ) -> tuple[float, float, float, int, dict[str, object] | None]:
    """Wall s, CPU s, peak RSS MB of the process tree, exit code and the JSON of one check."""
    out = root / f"result-{engine}.json"
    start = time.perf_counter()
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "dipstick", "check", str(root),
                                 "--format", "json", "--no-store", "--engine", engine],
                                env={**os.environ, **env}, stdout=sink,
                                stderr=subprocess.DEVNULL)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_rss(proc.pid))
            if time.perf_counter() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    try:    # a finished check is exit 0 or 1 with its JSON (a crash was exit 1 before session 11)
        doc = json.loads(out.read_text()) if code in (0, 1) else None
    except ValueError:
        doc, code = None, -1
    return wall, usage.ru_utime + usage.ru_stime, peak / 2**20, code, doc


def at_scale(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; DuckDB "
          f"memory_limit {args.memory_limit}; Spark {args.master}, driver memory "
          f"{args.driver_memory}", flush=True)
    print("| tickets | engine | wall s | CPU s | peak RSS MB (tree) | exit | same result |",
          flush=True)
    print("|---:|---|---:|---:|---:|---:|---|", flush=True)
    for size in sorted(float(s) for s in args.sizes.split(",")):
        n = int(size * 1_000_000)
        root = lake(args.base, args.work, n)
        spill = str(args.work / "spill")
        duck = child_check(root, "duckdb", {"DIPSTICK_MEMORY_LIMIT": args.memory_limit,
                                            "DIPSTICK_TEMP_DIRECTORY": spill}, args.timeout)
        print(f"| {n:,} | DuckDB | {duck[0]:.1f} | {duck[1]:.1f} | {duck[2]:,.0f} | "
              f"{duck[3]} | |", flush=True)
        spark = child_check(root, "spark", {
            "DIPSTICK_SPARK_MASTER": args.master,
            "PYSPARK_SUBMIT_ARGS": f"--driver-memory {args.driver_memory} pyspark-shell"},
            args.timeout)
        same = "n/a" if duck[4] is None or spark[4] is None else \
            str(not differences(duck[4], spark[4]))
        print(f"| {n:,} | Spark | {spark[0]:.1f} | {spark[1]:.1f} | {spark[2]:,.0f} | "
              f"{spark[3]} | {same} |", flush=True)
        print(f"load average after {n:,}: {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-demo"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--sizes", help="millions of tickets, e.g. 10,50 (lake scale)")
    parser.add_argument("--base", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dipstick-lake"))
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per check")
    args = parser.parse_args()
    if args.sizes:
        at_scale(args)
        return
    if not (args.dir / "dipstick.yaml").exists():
        generate(args.dir, seed=7)
    duck_s, duck = timed_check(args.dir, None)
    t0 = time.perf_counter()
    spark = session(args.master)
    start_s = time.perf_counter() - t0
    spark_s, on = timed_check(args.dir, spark)
    spark.stop()
    services = len(duck["services"])  # type: ignore[arg-type]
    print(f"package: {args.dir} ({services} services)")
    print(f"DuckDB check:            {duck_s:7.1f} s")
    print(f"Spark session start:     {start_s:7.1f} s  ({args.master})")
    print(f"Spark check:             {spark_s:7.1f} s  = {spark_s / duck_s:.1f}× DuckDB")
    diff = differences(duck, on)
    print(f"same result:             {not diff} (bit for bit: {on == duck}; floats to 1e-9)")
    for d in diff[:20]:
        print("  ", d)


if __name__ == "__main__":
    main()
