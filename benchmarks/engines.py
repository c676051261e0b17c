"""Benchmark: the same check on DuckDB (embedded) and on Spark (local mode), same package, same
run — what the distributed engine costs on one machine, and that it answers the same.

    python benchmarks/engines.py [--dir /tmp/dipstick-demo] [--master local[2]]

The default demo organisation is generated once (reused when the folder exists). Spark's
session start is timed apart from the check. Spark in local mode is expected to be slower: every
aggregation becomes a Spark job with its scheduling overhead; it pays off only where the data
no longer fits one machine's DuckDB.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-demo"))
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
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
