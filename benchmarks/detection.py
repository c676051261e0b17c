"""Benchmark: does `dipstick check` find seeded leaks, with the right cause, soon, and nothing else?

Random small organisations from :func:`dipstick.demo.bench.generate_bench` (random causes,
onsets 8–40 weeks before the end of the data, magnitudes from just past the leak line to
strong, noise ×0.5–2) plus stable ones with nothing seeded. Run:

    python benchmarks/detection.py [--orgs 200] [--stable 0.2] [--seed 1] [--jobs 2]

Per cause it reports recall and precision at two horizons (13 weeks after the onset, the end
of the data), the median detection delay (weeks from the seeded onset to the first weekly
as-of date the finding is `leak`, capped at 26 weeks; censored ones counted), and false
alarms per 100 service-years on the stable organisations (leak *episodes*: a (service, cause)
going from not-`leak` to `leak` between as-of dates 4 weeks apart, over the last 88 weeks).
Each organisation's package is loaded once and checked at every as-of date it needs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dipstick.check import run_check
from dipstick.demo.bench import CAUSES, generate_bench
from dipstick.findings import Status
from dipstick.package import load_package

HORIZON = 13       # weeks after the onset for the fixed-horizon recall
CAP = 26           # weeks a delay is followed before it counts as not found
STABLE_SPAN = 88   # weeks of as-of dates on a stable organisation (baseline + window before)
STABLE_STEP = 4


def leaks_at(package: Any, as_of: date) -> set[tuple[str, str]]:
    result = run_check(package, as_of=as_of)
    return {(v.service.id, f.cause) for v in result.verdicts for f in v.findings
            if f.status is Status.LEAK}


def one_org(job: tuple[int, bool]) -> dict[str, Any]:
    """Generate one organisation, check it at its as-of dates, and grade every finding."""
    seed, stable = job
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="dipstick-bench-"))
    try:
        truth = generate_bench(folder, seed, stable)
        package = load_package(folder)
        n = len(package.model.services)
        end = truth.as_of
        seeded = {(x.service, x.cause): x.start for x in truth.leaks}
        leaking = {x.service for x in truth.leaks}
        if stable:
            grid = [end - timedelta(weeks=k) for k in range(STABLE_SPAN, -1, -STABLE_STEP)]
        else:
            first, last = min(seeded.values()), max(seeded.values())
            weeks = (end - first).days // 7 + 1
            grid = [d for k in range(weeks, -1, -1)
                    if (d := end - timedelta(weeks=k)) <= last + timedelta(weeks=CAP)]
        found = {d: leaks_at(package, d) for d in grid}
        if end not in found:
            found[end] = leaks_at(package, end)
        package.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out: dict[str, Any] = {"stable": stable, "services": n, "leaks": [], "fp_end": [],
                           "episodes": [], "span_checks": len(grid)}
    for (sid, cause), onset in seeded.items():
        dates = [d for d in sorted(found) if onset <= d <= onset + timedelta(weeks=CAP)]
        hit = next((d for d in dates if (sid, cause) in found[d]), None)
        h13 = next((d for d in dates if d >= onset + timedelta(weeks=HORIZON)), None)
        out["leaks"].append({
            "cause": cause, "delay": (hit - onset).days / 7 if hit else None,
            "followed": (min(end, onset + timedelta(weeks=CAP)) - onset).days / 7,
            "at13": None if h13 is None else (sid, cause) in found[h13],
            "at_end": (sid, cause) in found[end]})
    for sid, cause in found[end] - set(seeded):
        out["fp_end"].append((cause, "other cause" if sid in leaking else "healthy"))
    before: set[tuple[str, str]] = set()
    for d in sorted(found):
        if d in grid:
            out["episodes"] += [(c, "other cause" if s in leaking else "healthy")
                                for s, c in found[d] - before - set(seeded)]
            before = found[d]
    out["service_years"] = (len(grid) * (STABLE_STEP if stable else 1) * 7 / 365.25
                            * (n - len(leaking)))
    out["seconds"] = time.perf_counter() - start
    return out


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "–"


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for cause in (*CAUSES, "all"):
        ls = [x for r in results for x in r["leaks"] if cause in ("all", x["cause"])]
        fps = Counter(k for r in results for c, k in r["fp_end"] if cause in ("all", c))
        at13 = [x["at13"] for x in ls if x["at13"] is not None]
        tp_end = sum(x["at_end"] for x in ls)
        delays = [x["delay"] if x["delay"] is not None else float("inf") for x in ls]
        censored = sum(1 for x in ls if x["delay"] is None and x["followed"] < CAP)
        missed = sum(1 for x in ls if x["delay"] is None and x["followed"] >= CAP)
        med = statistics.median(delays) if delays else float("nan")
        rows.append((cause, len(ls), f"{ratio(sum(at13), len(at13))} ({len(at13)})",
                     ratio(tp_end, len(ls)), ratio(tp_end, tp_end + sum(fps.values())),
                     f"{fps['other cause']}/{fps['healthy']}",
                     "> 26" if med == float("inf") else f"{med:.1f}", censored, missed))
    head = ("cause", "seeded", "recall@13w (n)", "recall@end", "precision@end",
            "FP other/healthy", "median delay w", "censored", "not found 26w")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    for label, stable in (("stable organisations", True), ("healthy services of leaking "
                                                             "organisations (weekly)", False)):
        rs = [r for r in results if r["stable"] is stable]
        years = sum(r["service_years"] for r in rs)
        eps = [e for r in rs for e in r["episodes"] if e[1] == "healthy"]
        by = Counter(c for c, _ in eps)
        print(f"\nfalse alarms, {label}: {len(eps)} episodes in {years:,.0f} service-years = "
              f"{100 * len(eps) / years if years else 0:.2f} per 100 service-years "
              f"({', '.join(f'{c} {k}' for c, k in by.most_common()) or 'none'})")
    subtle = defaultdict(list)
    for r in results:
        for x in r["leaks"]:
            subtle[x["cause"]].append(x["delay"] if x["delay"] is not None else float("inf"))
    print("\ndelay quartiles (weeks; inf = not found within the cap or the data):")
    for cause, ds in sorted(subtle.items()):
        q = statistics.quantiles(ds, n=4) if len(ds) > 1 else ds * 3
        print(f"  {cause:20s} " + "  ".join(f"{v:.1f}" for v in q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--stable", type=float, default=0.2, help="share of stable orgs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    n_stable = round(args.orgs * args.stable)
    jobs = [(args.seed * 100_000 + i, i < n_stable) for i in range(args.orgs)]
    start = time.perf_counter()
    results = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for i, r in enumerate(pool.imap_unordered(one_org, jobs), 1):
            results.append(r)
            if i % 10 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} organisations, {time.perf_counter() - start:.0f} s",
                      flush=True)
    wall = time.perf_counter() - start
    checks = sum(r["span_checks"] for r in results)
    print(f"{args.orgs} organisations ({n_stable} stable), "
          f"{sum(len(r['leaks']) for r in results)} seeded leaks, {checks} checks; "
          f"{wall:.0f} s wall on {args.jobs} processes, "
          f"{statistics.mean(r['seconds'] for r in results):.1f} s per organisation")
    report(results)


if __name__ == "__main__":
    main()
