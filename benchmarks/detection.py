"""Benchmark: does `dipstick check` find seeded leaks, with the right cause, dated right, and
nothing else — on organisations from either generator?

Generators:
- ``demo``: :func:`dipstick.demo.bench.generate_bench` — small organisations cut from the demo's
  catalog (2–5 leaks of random causes, onsets 8–40 weeks before the end).
- ``orgsim``: ``benchmarks/orgsim`` — ~40 heterogeneous services written from the data contract
  alone, two leaks per cause (clear and subtle), co-symptoms, seasonality, missing tables.

Seeds: **tune thresholds only on the tuning range, report on the other** (a light tuned on the
organisations it is graded on grades itself):

    python benchmarks/detection.py --generator orgsim --seeds 1-6   --json tune.json    # tuning
    python benchmarks/detection.py --generator orgsim --seeds 101-112 --json report.json  # report

Each seed gives one leaking organisation; the first ``--stable`` seeds also give a stable one
(nothing seeded). Each package is generated, loaded once and checked on a few as-of dates: the
dates 13 weeks after the onsets (orgsim aligns its onsets on two) and the end of the data; a
stable organisation every 13 weeks over its last 39 weeks. Measures, per cause:

- recall@13w — the seeded (service, cause) is `leak` on the first checked date ≥ onset + 13 w;
- precision at the end of the data — a `leak` on a (service, cause) that is not a seeded root
  cause is a false positive (split: on a service leaking from another cause / a healthy one);
  a finding dipstick shows as a symptom of another cause (status not `leak`) is not counted;
- since error — |the finding's ``since`` − the seeded onset| in days, where the seeded finding
  is `leak` (at its 13-week date, else at the end); findings without a ``since`` are counted;
- false alarms on stable organisations — (service, cause) pairs turning `leak` between
  quarterly checks over the last 39 weeks (the first check counts all its leaks), per 100
  service-years.

``--weekly`` also checks every week from the first onset and reports the median delay (weeks
from the onset to the first date the seeded finding is `leak`): the measure of the first
demo runs in docs/benchmarks.md, at many more checks.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dipstick.check import run_check
from dipstick.findings import Status
from dipstick.package import load_package

CAUSES = ("alignment", "change", "customer_experience", "employee_experience", "flow",
          "perception", "retirement", "training")
HORIZON = timedelta(weeks=13)
STABLE_CHECKS = 3   # quarterly as-of dates over the last 39 weeks of a stable organisation


def parse_seeds(text: str) -> list[int]:
    """``1-6`` or ``1,3,5`` or ``1-3,10``."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def _generate(generator: str, folder: Path, seed: int, stable: bool) -> tuple[date, list[Any]]:
    """(as_of, [(service, cause, onset, clear, recall date)]) of a freshly written package."""
    if generator == "orgsim":
        import orgsim

        t = orgsim.generate(folder, seed, stable)
        grid = t.check_dates()
        return t.as_of, [(x.service, x.cause, x.onset, x.clear,
                          next((d for d in grid if d >= x.onset + HORIZON), None))
                         for x in t.leaks]
    from dipstick.demo.bench import generate_bench

    d = generate_bench(folder, seed, stable)
    return d.as_of, [(x.service, x.cause, x.start, None,
                      x.start + HORIZON if x.start + HORIZON <= d.as_of else None)
                     for x in d.leaks]


def one_org(job: tuple[str, int, bool, bool]) -> dict[str, Any]:
    """Generate one organisation, check it at its as-of dates, and grade every finding."""
    generator, seed, stable, weekly = job
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="dipstick-detect-"))
    try:
        end, seeded = _generate(generator, folder, seed, stable)
        package = load_package(folder)
        n = len(package.model.services)
        if stable:
            grid = [end - k * HORIZON for k in range(STABLE_CHECKS - 1, -1, -1)]
        else:
            grid = sorted({x[4] for x in seeded if x[4] is not None} | {end})
            if weekly:   # every week from the first onset: the first date each leak is lit
                first = min(x[2] for x in seeded)
                grid = sorted(set(grid) | {end - timedelta(weeks=k) for k in range(
                    (end - first).days // 7 + 1) if end - timedelta(weeks=k) >= first})
        lit: dict[date, dict[tuple[str, str], date | None]] = {}
        said: dict[tuple[str, str], str] = {}   # each lit finding's summary, at the end
        for d in grid:
            result = run_check(package, as_of=d)
            lit[d] = {(v.service.id, f.cause): f.since for v in result.verdicts
                      for f in v.findings if f.status is Status.LEAK}
            said = {(v.service.id, f.cause): f.summary for v in result.verdicts
                    for f in v.findings if f.status is Status.LEAK}
        package.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    truth = {(s, c): (onset, clear, d13) for s, c, onset, clear, d13 in seeded}
    leaking = {s for s, _ in truth}
    leaks = []
    for (sid, cause), (onset, clear, d13) in truth.items():
        at13 = None if d13 is None else (sid, cause) in lit[d13]
        when = d13 if at13 else end
        since = lit[when].get((sid, cause)) if (sid, cause) in lit[when] else None
        hit = next((d for d in grid if d >= onset and (sid, cause) in lit[d]), None)
        leaks.append({"service": sid, "cause": cause, "onset": onset.isoformat(), "clear": clear,
                      "delay_weeks": (hit - onset).days / 7 if weekly and hit else None,
                      "at13": at13, "at_end": (sid, cause) in lit[end],
                      "lit": (sid, cause) in lit[when],
                      "since_error": None if since is None else abs((since - onset).days)})
    fp = [{"service": s, "cause": c, "kind": "other cause" if s in leaking else "healthy",
           "summary": said.get((s, c), "")} for s, c in sorted(set(lit[end]) - set(truth))]
    episodes: list[str] = []
    before: set[tuple[str, str]] = set()
    for d in grid:
        now = set(lit[d])
        episodes += [c for s, c in now - before - set(truth)]
        before = now
    years = len(grid) * HORIZON.days / 365.25 * (n - len(leaking)) if stable else 0.0
    return {"generator": generator, "seed": seed, "stable": stable, "services": n,
            "checks": len(grid), "leaks": leaks, "fp_end": fp, "episodes": episodes,
            "service_years": years, "seconds": time.perf_counter() - start}


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per cause and overall: the figures the issue's "done when" is judged on."""
    stable = [r for r in results if r["stable"]]
    years = sum(r["service_years"] for r in stable)
    out: dict[str, Any] = {}
    for cause in (*CAUSES, "all"):
        ls = [x for r in results for x in r["leaks"] if cause in ("all", x["cause"])]
        fps = [x for r in results for x in r["fp_end"] if cause in ("all", x["cause"])]
        fps_leaking = [x for r in results if not r["stable"] for x in r["fp_end"]
                       if cause in ("all", x["cause"])]
        at13 = [x["at13"] for x in ls if x["at13"] is not None]
        tp_end = sum(x["at_end"] for x in ls)
        errs = [x["since_error"] for x in ls if x["since_error"] is not None]
        eps = [c for r in stable for c in r["episodes"] if cause in ("all", c)]
        delays = [x["delay_weeks"] for x in ls if x.get("delay_weeks") is not None]
        by = {k: [x["at13"] for x in ls if x["clear"] is k and x["at13"] is not None]
              for k in (True, False)}
        out[cause] = {
            "seeded": len(ls),
            "recall13": sum(at13) / len(at13) if at13 else None, "recall13_n": len(at13),
            "recall13_clear": sum(by[True]) / len(by[True]) if by[True] else None,
            "recall13_subtle": sum(by[False]) / len(by[False]) if by[False] else None,
            "recall_end": tp_end / len(ls) if ls else None,
            "precision": tp_end / (tp_end + len(fps)) if tp_end + len(fps) else None,
            "precision_leaking_orgs": (tp_end / (tp_end + len(fps_leaking))
                                       if tp_end + len(fps_leaking) else None),
            "fp_other_cause": sum(x["kind"] == "other cause" for x in fps),
            "fp_healthy": sum(x["kind"] == "healthy" for x in fps),
            "since_error_median_days": _median(errs),
            "delay_weeks_median": _median(delays),   # --weekly only: first lit − onset
            "lit_without_since": sum(1 for x in ls if x["lit"] and x["since_error"] is None),
            "false_alarms": len(eps),
            "false_alarms_per_100_service_years": 100 * len(eps) / years if years else None,
        }
    out["all"]["stable_service_years"] = years
    return out


def _f(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def print_table(summary: dict[str, Any], weekly: bool = False) -> None:
    head = ("cause", "seeded", "recall@13w (n)", "clear / subtle", "recall@end", "precision",
            "FP other/healthy", "median since error (d)", "FA /100 svc-y (n)",
            *(("median delay (w)",) if weekly else ()))
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for cause, s in summary.items():
        name = f"**{cause}**" if cause == "all" else cause
        print(f"| {name} | {s['seeded']} | {_f(s['recall13'])} ({s['recall13_n']}) | "
              f"{_f(s['recall13_clear'])} / {_f(s['recall13_subtle'])} | "
              f"{_f(s['recall_end'])} | {_f(s['precision'])} | "
              f"{s['fp_other_cause']}/{s['fp_healthy']} | "
              f"{_f(s['since_error_median_days'], 0)} | "
              f"{_f(s['false_alarms_per_100_service_years'], 1)} ({s['false_alarms']}) |"
              + (f" {_f(s['delay_weeks_median'], 1)} |" if weekly else ""))
    a = summary["all"]
    print(f"\noverall: recall@13w {_f(a['recall13'])}, precision {_f(a['precision'])} "
          f"(on the leaking organisations alone {_f(a['precision_leaking_orgs'])}) "
          f"({a['fp_other_cause'] + a['fp_healthy']} false leak lights, "
          f"{a['fp_other_cause']} on services leaking from another cause), "
          f"median since error {_f(a['since_error_median_days'], 0)} d "
          f"({a['lit_without_since']} lit without a since), false alarms "
          f"{_f(a['false_alarms_per_100_service_years'], 1)} per 100 service-years "
          f"({a['false_alarms']} in {a['stable_service_years']:.0f} service-years)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--generator", choices=("demo", "orgsim"), default="orgsim")
    parser.add_argument("--seeds", default="1-6",
                        help="seed range: tune on 1-6, report on 101-112 (never tune there)")
    parser.add_argument("--stable", type=int, default=None,
                        help="stable organisations, from the first seeds (default: half)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--weekly", action="store_true",
                        help="also check weekly from the first onset: median detection delay")
    parser.add_argument("--json", type=Path, help="write the summary and per-org grades here")
    parser.add_argument("--summarise", type=Path, metavar="JSON",
                        help="print the tables of an earlier --json run (no checks run)")
    args = parser.parse_args()
    if args.summarise:
        old = json.loads(args.summarise.read_text())
        print(f"{old['generator']}, seeds {old['seeds']} ({args.summarise})")
        print_table(summarise(old["organisations"]), args.weekly)
        return
    seeds = parse_seeds(args.seeds)
    n_stable = (len(seeds) + 1) // 2 if args.stable is None else args.stable
    jobs = [(args.generator, s, True, False) for s in seeds[:n_stable]]
    jobs += [(args.generator, s, False, args.weekly) for s in seeds]
    start = time.perf_counter()
    results = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for i, r in enumerate(pool.imap_unordered(one_org, jobs), 1):
            results.append(r)
            print(f"  {i}/{len(jobs)} organisations ({r['generator']} seed {r['seed']}"
                  f"{' stable' if r['stable'] else ''}, {r['checks']} checks, "
                  f"{r['seconds']:.0f} s), {time.perf_counter() - start:.0f} s", flush=True)
    wall = time.perf_counter() - start
    results.sort(key=lambda r: (r["stable"], r["seed"]))
    summary = summarise(results)
    print(f"{args.generator}, seeds {args.seeds}: {len(seeds)} leaking + {n_stable} stable "
          f"organisations, {sum(len(r['leaks']) for r in results)} seeded leaks, "
          f"{sum(r['checks'] for r in results)} checks, {wall:.0f} s wall on {args.jobs} "
          "processes")
    print_table(summary, args.weekly)
    if args.json:
        args.json.write_text(json.dumps({
            "generator": args.generator, "seeds": args.seeds, "stable": n_stable,
            "wall_seconds": round(wall, 1), "summary": summary, "organisations": results},
            indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
