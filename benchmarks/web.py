"""Benchmark: response times of the web app's pages with the large demo organisation (2,040
services). Run:

    python benchmarks/web.py [--dir /tmp/dipstick-large] [--requests 60]

Writes the large demo (once; reused when the folder exists), checks it into a fresh SQLite app
database, serves the app with uvicorn on 127.0.0.1 in this process, signs in, warms each page
once (the first service page re-checks the package: its cost is reported apart), then requests
the portfolio, the portfolio's API, and service pages (a leaking service, a healthy one) in
turn and prints p50/p95/max per page. Target (issue 5): p95 ≤ 300 ms here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dipstick.check import run_check
from dipstick.demo import generate
from dipstick.package import load_package
from dipstick.store import Store
from dipstick.store.users import create_user
from dipstick.web.app import WebConfig

from webserver import PASSWORD, csrf_of, serving


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "dipstick-large")
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    if not (args.dir / "dipstick.yaml").exists():
        t = time.perf_counter()
        generate(args.dir, seed=7, size="large")
        print(f"large demo written in {time.perf_counter() - t:.0f} s")
    package = load_package(args.dir)
    try:
        t = time.perf_counter()
        result = run_check(package)
        print(f"check: {time.perf_counter() - t:.1f} s, {len(result.verdicts):,} services")
    finally:
        package.close()
    leaking = next(v.service.id for v in result.verdicts if v.status.value == "leak")
    healthy = next(v.service.id for v in reversed(result.verdicts) if v.status.value == "ok")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'app.db'}"
        with Store.open(url) as store:
            store.migrate()
            now = datetime.now(UTC)
            store.save_run(result, started_at=now, finished_at=now, command="benchmark")
            create_user(store, "bench@example.org", PASSWORD, "leader")
        with serving(WebConfig(database=url, secret_key="bench")) as base, \
                httpx.Client(base_url=base, timeout=300) as http:
            token = csrf_of(http.get("/login").text)
            http.post("/login", data={"email": "bench@example.org", "password": PASSWORD,
                                      "csrf_token": token})
            pages = {"portfolio /": "/", "portfolio API": "/api/portfolio",
                     "service (leaking)": f"/services/{leaking}",
                     "service (healthy)": f"/services/{healthy}"}
            for name, path in pages.items():
                t = time.perf_counter()
                r = http.get(path)
                print(f"first {name}: {r.status_code} in {(time.perf_counter() - t) * 1000:,.0f}"
                      f" ms ({len(r.content) / 1024:,.0f} KB)")
            times: dict[str, list[float]] = {n: [] for n in pages}
            for _ in range(args.requests):
                for name, path in pages.items():
                    t = time.perf_counter()
                    r = http.get(path)
                    times[name].append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, (path, r.status_code)
    print("\n| page | requests | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {len(ts)} | {statistics.median(ts):.0f} | {percentile(ts, 0.95):.0f}"
              f" | {max(ts):.0f} |")


if __name__ == "__main__":
    main()
