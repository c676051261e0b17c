"""Benchmark: what the check's largest aggregation would cost as one pass over the tickets'
Parquet file, the redesign issue 16's 5× asks for, against the floor in the same run. Run:

    python benchmarks/check_one_pass.py [--dir /tmp/dipstick-large] [--repeat 3]

Not dipstick's code: one DuckDB query per repeat, shaped as the weekly series' aggregates of
the tickets (``shifts/series._tickets``: per service and week the counts by type, mean
satisfaction, lost hours, reopen share, first ticket), then the same with the two median
resolution times, read straight from the file, with no load, no rules and no typed copy. It
prices the lower bound of "each table read once" for the largest table. It does not price
the rules, the key screen, the other tables, detection, the causes or the output
(``check_bounds.py`` prices those that exist today).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb

from check import floor_seconds


def queries(parquet: Path) -> dict[str, str]:
    src = f"read_parquet('{parquet}')"
    hours = "(epoch_us(resolved_at) - epoch_us(opened_at)) / 3600e6"
    base = ("SELECT service, epoch_us(opened_at) // 604800000000 AS wk, count(*) AS n, "
            "count(*) FILTER (WHERE type = 'incident') AS incidents, "
            "count(*) FILTER (WHERE type = 'request') AS requests, "
            "count(*) FILTER (WHERE type = 'question') AS questions, "
            "avg(satisfaction) AS satisfaction, sum(lost_minutes) / 60.0 AS lost_hours, "
            "avg((reopened >= 1)::DOUBLE) AS reopen_share, min(epoch_us(opened_at)) AS first")
    medians = "".join(f", median({hours}) FILTER (WHERE type = '{t}') AS res_{t}"
                      for t in ("incident", "request"))
    return {"weekly aggregates, one pass": f"{base} FROM {src} GROUP BY ALL",
            "the same with the two medians": f"{base}{medians} FROM {src} GROUP BY ALL"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    parquet = args.dir / "tickets.parquet"
    if not parquet.exists():
        raise SystemExit(f"no {parquet}: `python benchmarks/check.py` makes the large demo")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    floors: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in queries(parquet)}
    for _ in range(args.repeat):
        floors.append(floor_seconds(args.dir))
        for name, sql in queries(parquet).items():
            start = time.perf_counter()
            con.sql(sql).fetchnumpy()
            times[name].append(time.perf_counter() - start)
    floor = statistics.median(floors)
    print(f"floor {floor:.2f} s (runs: {', '.join(f'{x:.2f}' for x in floors)})")
    for name, each in times.items():
        m = statistics.median(each)
        print(f"{name}: {m:.2f} s (runs: {', '.join(f'{x:.2f}' for x in each)}) = "
              f"{m / floor:.1f}× the floor")


if __name__ == "__main__":
    main()
