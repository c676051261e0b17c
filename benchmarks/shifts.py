"""Benchmark: change-point methods on synthetic weekly series with known shifts. Run:

    python benchmarks/shifts.py [--series 300] [--seed 1] [--package DIR] [--speed-only]

Half the series shift once (a step, or a ramp of 8–30 weeks) at a random week between 26 and
126 of 156, by 1.5–5 noise standard deviations; half are stable. All have AR(1) noise, two thirds
a yearly season (summer dip up to 15 %, Christmas down to half), a few single-week outliers,
and up to 10 % missing weeks. Scores, per method:

- precision: detected change points within ±4 weeks of a real onset / all detected;
- recall: shifted series with a change point within ±4 weeks of the onset;
- date error: median |detected − onset| weeks of those hits;
- delay: median weeks of data after the onset a method needs before it reports the shift
  (offline methods are re-run on growing prefixes; a shift not found after 26 weeks counts 26);
- false alarms per 100 series-years on the stable series;
- ms: mean time per full-length series.

Then the speed of dipstick's own detection, one series at a time (``detect``) against all at
once (``detect_many``, what a check's ``ShiftIndex`` does per metric), in the same run and on
the same series — the synthetic ones, and with ``--package`` every weekly series of a data
package (e.g. the large demo) — with wall and CPU seconds and the load average; it fails if
the two give different shifts.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import ruptures as rpt

from dipstick.shifts import detect_many
from dipstick.shifts import segment as segment_
from dipstick.shifts.detect import DEFAULT, adjust, detect
from dipstick.shifts.segment import _lag1, noise
from dipstick.shifts.series import EPOCH_MONDAY, FloatArray, IntArray, Series, SeriesKey

N, FIRST, TOL, MAX_DELAY = 156, 2800, 4, 26
Method = Callable[[IntArray, FloatArray], list[int]]      # -> week indices of change points


@dataclass
class Case:
    index: IntArray
    values: FloatArray
    onset: int | None        # week number of the shift's start
    width: int = 0           # weeks the shift takes (1: a step)


def make(rng: np.random.Generator, shifted: bool) -> Case:
    t = np.arange(N)
    sd = rng.uniform(0.01, 0.08)
    phi = rng.uniform(0.0, 0.6)
    e = np.zeros(N)
    shocks = rng.normal(0, sd * math.sqrt(1 - phi**2), N)
    for i in range(1, N):
        e[i] = phi * e[i - 1] + shocks[i]
    e[0] = rng.normal(0, sd)
    level = np.ones(N)
    onset, width = None, 0
    if shifted:
        at = int(rng.integers(26, 127))
        size = rng.uniform(1.5, 5.0) * sd * rng.choice([-1, 1])
        width = int(rng.integers(8, 31)) if rng.random() < 0.3 else 1
        level += size * np.clip((t - at + 1) / width, 0, 1)
        onset = FIRST + at
    days = np.datetime64("1970-01-05") + 7 * (FIRST + t)
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)
    season = np.ones(N)
    if rng.random() < 2 / 3:
        season = 1 - rng.uniform(0, 0.15) * np.exp(-(((doy - 212) / 18.0) ** 2))
        season = np.where((doy >= 356) | (doy <= 2), rng.uniform(0.5, 1.0), season)
    y = 100 * level * season * (1 + e)
    spikes = rng.random(N) < 0.01
    y[spikes] *= 1 + rng.choice([-1, 1], spikes.sum()) * 6 * sd
    keep = rng.random(N) > rng.uniform(0, 0.1)
    return Case((FIRST + t)[keep].astype(np.int64), y[keep], onset, width)


def ours(index: IntArray, y: FloatArray) -> list[int]:
    s = Series(SeriesKey("service", "x", "m"), index, y)
    return [(sh.date - EPOCH_MONDAY.date()).days // 7 for sh in detect(s)]


def _rpt(algo: str, adjusted: bool, ar: bool = False) -> Method:
    def run(index: IntArray, y: FloatArray) -> list[int]:
        if len(y) < 12:
            return []
        if adjusted:
            y2, keep = adjust(index, y, DEFAULT)
            index, y = index[keep], y2[keep]
        sigma = noise(y)
        if not sigma > 0:
            return []
        pen = DEFAULT.penalty * math.log(len(y)) * sigma**2
        model = (rpt.Binseg(model="l2", min_size=6, jump=1) if algo == "binseg"
                 else rpt.KernelCPD(kernel="linear", min_size=6))
        fitted = model.fit(y.reshape(-1, 1))
        bkps = fitted.predict(pen=pen)
        if ar:      # dipstick's noise model: inflate for the residuals' autocorrelation
            phi = _lag1(y, bkps[:-1])
            bkps = fitted.predict(pen=pen * (1 + phi) / (1 - phi))
        return [int(index[b]) for b in bkps[:-1]]
    return run


def cusum(index: IntArray, y: FloatArray) -> list[int]:
    """Two-sided tabular CUSUM (k = 0.5 σ, h = 5 σ) on a 26-week reference, restarted after
    each alarm; the change is dated at the last zero of the alarming sum."""
    out: list[int] = []
    start = 0
    while len(y) - start > 26:
        ref = y[start:start + 26]
        mu, sd = float(np.median(ref)), noise(ref) or 1e-9
        hi = lo = 0.0
        last_hi = last_lo = start + 25
        alarm = None
        for i in range(start + 26, len(y)):
            hi = max(0.0, hi + (y[i] - mu) / sd - 0.5)
            lo = max(0.0, lo - (y[i] - mu) / sd - 0.5)
            last_hi = i if hi == 0 else last_hi
            last_lo = i if lo == 0 else last_lo
            if hi > 5 or lo > 5:
                alarm = (last_hi if hi > 5 else last_lo) + 1
                break
        if alarm is None:
            break
        out.append(int(index[min(alarm, len(index) - 1)]))
        start = alarm
    return out


METHODS: dict[str, Method] = {
    "dipstick (adjust + binseg + dating)": ours,
    "ruptures Binseg l2, raw": _rpt("binseg", False),
    "ruptures KernelCPD linear, raw": _rpt("kernel", False),
    "ruptures KernelCPD linear + adjust": _rpt("kernel", True),
    "ruptures KernelCPD linear + adjust + AR penalty": _rpt("kernel", True, ar=True),
    "CUSUM k=0.5 h=5, raw": cusum,
}


def score(name: str, method: Method, cases: list[Case]) -> dict[str, float]:
    found = tp = hits = false = 0
    errors: list[float] = []
    delays: list[float] = []
    start = time.perf_counter()
    results = [method(c.index, c.values) for c in cases]
    ms = (time.perf_counter() - start) / len(cases) * 1000
    for c, cps in zip(cases, results, strict=True):
        found += len(cps)
        if c.onset is None:
            false += len(cps)
            continue
        near = [cp for cp in cps if abs(cp - c.onset) <= TOL]
        tp += len(near)
        if near:
            hits += 1
            errors.append(min(abs(cp - c.onset) for cp in near))
        delays.append(_delay(method, c))
    stable = sum(1 for c in cases if c.onset is None)
    shifted = len(cases) - stable
    return {"precision": tp / found if found else 1.0, "recall": hits / shifted,
            "date error": statistics.median(errors) if errors else math.nan,
            "delay": statistics.median(delays),
            "false / 100 y": false / (stable * N / 52) * 100, "ms": ms}


def _delay(method: Method, c: Case) -> float:
    assert c.onset is not None
    for d in range(2, MAX_DELAY + 1):
        keep = c.index < c.onset + d
        if any(abs(cp - c.onset) <= TOL for cp in method(c.index[keep], c.values[keep])):
            return d
    return MAX_DELAY


def speed(label: str, series: list[Series]) -> None:
    """One by one vs batched on ``series``, same run, as a table row; the same shifts or exit.
    The ramp shapes' cache is emptied before each so neither inherits the other's."""
    timings = []
    found = []
    for run in (lambda: [detect(s) for s in series], lambda: detect_many(series)):
        segment_._ramps.cache_clear()
        wall, cpu = time.perf_counter(), time.process_time()
        found.append(run())
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    if found[0] != found[1]:
        raise SystemExit(f"{label}: batched shifts differ from one-by-one shifts")
    (w1, c1), (w2, c2) = timings
    shifted = sum(1 for f in found[0] if f)
    print(f"| {label} | {len(series):,} ({shifted:,} with shifts) | {w1:.2f} | {c1:.2f} | "
          f"{w2:.2f} | {c2:.2f} | {c1 / c2:.1f}× | {os.getloadavg()[0]:.1f} |")


def package_series(path: str) -> list[Series]:
    """Every weekly series of the package at its last date (what ``detect_all`` builds)."""
    from dipstick.findings import CheckContext, CommonSpec, Window
    from dipstick.package import load_package
    from dipstick.shifts import build

    package = load_package(path)
    try:
        assert package.latest is not None
        ctx = CheckContext(package.model, package.signals, Window(package.latest), CommonSpec())
        return build(ctx.signals, ctx.model, ctx.window.end)
    finally:
        package.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=300, help="series per kind (shifted, stable)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--package", help="also time detection on every series of this package")
    ap.add_argument("--speed-only", action="store_true", help="skip the methods' scores")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = [make(rng, shifted) for shifted in (True, False) for _ in range(args.series)]
    if not args.speed_only:
        cols = ["precision", "recall", "date error", "delay", "false / 100 y", "ms"]
        print(f"{args.series} shifted + {args.series} stable series of {N} weeks, "
              f"seed {args.seed}")
        print("| method | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for name, method in METHODS.items():
            r = score(name, method, cases)
            print(f"| {name} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + " |")
        print()
    print("| series | count | one by one, wall s | CPU s | batched, wall s | CPU s | "
          "CPU ratio | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    synthetic = [Series(SeriesKey("service", f"s{i}", "m"), c.index, c.values)
                 for i, c in enumerate(cases)]
    speed(f"synthetic, seed {args.seed}", synthetic)
    if args.package:
        speed(args.package, package_series(args.package))


if __name__ == "__main__":
    main()
