"""Benchmark: `dipstick pull servicenow` against a local fake instance vs the HTTP floor.

The fake ServiceNow (tests/fakeservers.py, in its own process so it does not share the GIL
with the client) serves the last row of every incident of the real log (~25,000). Measured in
the same run, in one client process:

- **floor**: plain httpx GETs of the same pages (same limit, same fields) with JSON decoding
  and nothing else — the least any client could spend;
- **fetch**: dipstick's pager (retrying client, Link paging, flattening) streaming into the
  staging CSV;
- **pull**: the whole pull in-process: fetch, import into a fresh package (DuckDB), watermark.

And the Python heap peak (tracemalloc) of the fetch for a quarter and for all of the records:
streaming page by page, it should not grow with the number of records. Run:

    python benchmarks/pull.py [--records 0] [--page-size 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import contextlib

from dipstick.connectors.imports import ImportOptions
from dipstick.connectors.pull import servicenow
from dipstick.connectors.pull.http import Credentials, Fetcher, RetryPolicy
from dipstick.connectors.pull.run import import_fields, pull_servicenow
from dipstick.connectors.pull.staging import StagingCsv
from fakeservers import FakeServiceNow, incidents

TOKEN = "bench"
SINCE = datetime(2016, 1, 1)


def serve(n: int, queue: Any, stop: Any) -> None:
    with FakeServiceNow(incidents(n), token=TOKEN) as sn:
        queue.put(sn.url)
        stop.wait()


def floor(url: str, fields: tuple[str, ...], limit: int) -> tuple[float, int]:
    """The same query string as the pager's (same fields, sys_id included)."""
    params = servicenow.TableQuery(url, "incident", SINCE, fields, limit).params()
    start, rows, offset = time.perf_counter(), 0, 0
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            r = client.get(f"{url}/api/now/table/incident",
                           params={**params, "sysparm_offset": offset})
            page = r.json()["result"]
            rows += len(page)
            offset += limit
            if len(page) < limit:
                break
    return time.perf_counter() - start, rows


def fetch(url: str, fields: tuple[str, ...], limit: int, stop_after: int | None = None,
          trace: bool = False) -> tuple[float, int, int]:
    """Seconds, records and (``trace``: timing then means nothing) the tracemalloc peak in
    bytes of the pager into a staging CSV."""
    query = servicenow.TableQuery(url, "incident", SINCE, fields, limit)
    with tempfile.TemporaryDirectory() as tmp:
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        with Fetcher(url, Credentials("SERVICENOW_TOKEN", bearer=TOKEN), RetryPolicy()) as f, \
                StagingCsv(Path(tmp) / "s.csv") as sink:
            if stop_after is None:
                n, _ = servicenow.fetch(f, query, sink.write)
            else:
                class Enough(Exception):
                    pass

                def write(rows: Any) -> None:
                    sink.write(rows)
                    if sink.rows >= stop_after:
                        raise Enough

                with contextlib.suppress(Enough):
                    servicenow.fetch(f, query, write)
                n = sink.rows
        elapsed = time.perf_counter() - start
        peak = 0
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    return elapsed, n, peak


def pull(url: str, limit: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = pull_servicenow(url, "incident", SINCE, Path(tmp) / "pkg",
                                  ImportOptions(service_from="assignment_group",
                                                starter_services=True),
                                  page_size=limit, env={"SERVICENOW_TOKEN": TOKEN})
        return time.perf_counter() - start, summary.records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=0, help="0: every incident of the log")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    n = args.records or 10**6
    server = ctx.Process(target=serve, args=(n, queue, stop), daemon=True)
    server.start()
    try:
        url = queue.get(timeout=120)
        fields = import_fields(ImportOptions(service_from="assignment_group"))
        results: dict[str, list[float]] = {"floor": [], "fetch": [], "pull": []}
        records = 0
        for _ in range(args.repeat):
            t, records = floor(url, fields, args.page_size)
            results["floor"].append(t)
            t, got, _ = fetch(url, fields, args.page_size)
            assert got == records, (got, records)
            results["fetch"].append(t)
            t, got = pull(url, args.page_size)
            assert got == records, (got, records)
            results["pull"].append(t)
        _, quarter, peak_quarter = fetch(url, fields, args.page_size, records // 4, trace=True)
        _, _, peak_all = fetch(url, fields, args.page_size, trace=True)
    finally:
        stop.set()
        server.join(timeout=10)
    base = statistics.median(results["floor"])
    print(f"{records:,} incidents, page size {args.page_size}, {len(fields) + 1} fields, "
          f"median of {args.repeat}")
    print(f"{'':8} {'median s':>9} {'records/s':>10} {'× floor':>8}  runs")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:8} {med:9.2f} {records / med:10,.0f} {med / base:8.2f}  "
              + ", ".join(f"{t:.2f}" for t in times))
    print(f"fetch heap peak: {peak_quarter / 2**20:.1f} MiB for {quarter:,} records, "
          f"{peak_all / 2**20:.1f} MiB for {records:,} (ratio {peak_all / peak_quarter:.2f})")


if __name__ == "__main__":
    main()
