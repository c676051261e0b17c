"""Sampling that keeps a synthetic organisation both noisy and predictable.

Leak thresholds are crisp (a reopen share of 0.15 is a leak, 0.14 is not), so a healthy service
must not cross one by bad luck and a subtle leak must not miss one by good luck. Independent
random draws do both now and then. So the attributes of tickets and answers are drawn from
*low-discrepancy* uniforms (a Weyl sequence k·α mod 1 over the rows in time order): the share
below any level over every run of consecutive rows is within about one row of its expectation,
while single values still look random. Event times come from a systematic point process for the
same reason: the count in any interval is its expected count ± 1.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa

from dipstick.demo.timeline import FloatArray, IntArray

# One irrational step per attribute, rationally independent, so attributes do not correlate;
ALPHA = {   # quadratic irrationals: bounded continued fractions spread short runs evenly
    "rated": 2 ** 0.5 - 1,
    "score": (5 ** 0.5 - 1) / 2,
    "lost": 3 ** 0.5 - 1,
    "resolve": 6 ** 0.5 - 2,
    "reopen": 13 ** 0.5 - 3,
    "reassign": 11 ** 0.5 - 3,
    "requester": 7 ** 0.5 - 2,
    "comment": 14 ** 0.5 - 3,
}


def lowdisc(n: int, key: str, rng: np.random.Generator) -> FloatArray:
    """``n`` evenly spread uniforms in [0, 1) with a random start."""
    u: FloatArray = np.modf(np.arange(n, dtype=np.float64) * ALPHA[key] + rng.random())[0]
    return u


def systematic_events(intensity: FloatArray, rng: np.random.Generator) -> tuple[IntArray,
                                                                                FloatArray]:
    """Events of a point process with the given expected count per cell (a flat array).

    Event ``k`` falls at cumulative mass ``k + U`` (one random ``U``): every run of cells gets
    its expected count ± 1. Returns the cell of each event and its position within the cell.
    """
    cum = np.cumsum(intensity)
    n = int(cum[-1]) if len(cum) else 0
    pos = np.arange(n, dtype=np.float64) + rng.random()
    cell = np.searchsorted(cum, pos, side="right").clip(0, len(cum) - 1)
    frac = (pos - (cum[cell] - intensity[cell])) / np.maximum(intensity[cell], 1e-12)
    return cell.astype(np.int64), frac.clip(0.0, 0.999999)


def norm_ppf(u: FloatArray) -> FloatArray:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    out = np.empty_like(u)
    lo, hi = u < 0.02425, u > 1 - 0.02425
    mid = ~(lo | hi)
    q = u[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))
    for mask, sign in ((lo, 1.0), (hi, -1.0)):
        q = np.sqrt(-2 * np.log(np.where(sign > 0, u[mask], 1 - u[mask])))
        out[mask] = sign * ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    return out


def _norm_cdf(x: FloatArray) -> FloatArray:
    """Standard normal CDF via the Abramowitz–Stegun 7.1.26 erf (|error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    out: FloatArray = 0.5 * (1.0 + np.sign(x) * erf)
    return out


GRID = 0.01   # score means are quantised to this step


def _pmf(mu: FloatArray, sd: float) -> FloatArray:
    """P(score = 0..10) for a normal(mu, sd) rounded and clipped to 0..10 (rows: mu)."""
    edges = np.arange(0.5, 10.0, 1.0)
    cdf = _norm_cdf((edges[None, :] - mu[:, None]) / sd)
    cdf = np.concatenate([np.zeros((len(mu), 1)), cdf, np.ones((len(mu), 1))], axis=1)
    out: FloatArray = np.diff(cdf, axis=1)
    return out


@cache
def _score_cdf(sd: float) -> FloatArray:
    """CDF table of integer scores: row i has mean exactly i × GRID (solved by bisection)."""
    targets = np.arange(0, 10 + GRID / 2, GRID)
    lo, hi = np.full(len(targets), -15.0), np.full(len(targets), 25.0)
    ks = np.arange(11.0)
    for _ in range(45):
        mid = (lo + hi) / 2
        mean = _pmf(mid, sd) @ ks
        low = mean < targets
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    table: FloatArray = np.cumsum(_pmf((lo + hi) / 2, sd), axis=1)
    return table


def scores(u: FloatArray, mean: FloatArray, sd: float) -> IntArray:
    """Integer scores 0–10 whose expected value is ``mean`` (per row) for uniforms ``u``."""
    rows = np.clip(np.rint(np.asarray(mean) / GRID), 0, 1000).astype(np.int64)
    cdf = _score_cdf(sd)
    out = np.zeros(len(u), dtype=np.int64)
    for k in range(10):
        out += u >= cdf[rows, k]
    return out


def score_stats(mean: float, sd: float) -> tuple[float, float]:
    """Expected share of promoters (≥ 9) and detractors (≤ 6) for a score mean."""
    row = _score_cdf(sd)[round(mean / GRID)]
    return float(1 - row[8]), float(row[6])


@cache
def mean_for_pmd(target: float, sd: float) -> float:
    """The score mean whose promoters − detractors (in %) is closest to ``target``."""
    best, gap = 0.0, float("inf")
    for m in np.arange(3.0, 9.5, GRID):
        p, d = score_stats(float(m), sd)
        if abs(100 * (p - d) - target) < gap:
            best, gap = float(m), abs(100 * (p - d) - target)
    return round(best, 2)


def lognormal(u: FloatArray, median: FloatArray, sigma: float) -> FloatArray:
    """Skewed durations; the far tail (beyond 2.5 σ) is cut, as a ticket tool's data-quality
    rule would, so one freak value cannot swing a quarter's total."""
    out: FloatArray = median * np.exp(sigma * np.clip(norm_ppf(u), -2.5, 2.5))
    return out


def geometric(u: FloatArray, mean: FloatArray) -> IntArray:
    """Counts 0, 1, 2, … with the given mean (most rows 0, a long tail)."""
    p = np.clip(mean / (1.0 + mean), 1e-9, 0.999)
    return np.floor(np.log1p(-u) / np.log(p)).astype(np.int64)


def codes(prefix: str | tuple[str, ...], numbers: IntArray, width: int,
          which: IntArray | None = None) -> pa.Array:
    """Prefix + zero-padded numbers as an Arrow string array, without a Python loop.

    With several (equally long) prefixes, ``which`` picks each row's prefix."""
    prefixes = (prefix,) if isinstance(prefix, str) else prefix
    n = len(numbers)
    table = np.array([np.frombuffer(p.encode(), dtype=np.uint8) for p in prefixes])
    head = table[np.zeros(n, dtype=np.int64) if which is None else which]
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((numbers[:, None] // powers[None, :]) % 10 + 48).astype(np.uint8)
    raw = np.ascontiguousarray(np.concatenate([head, digits], axis=1))
    fixed = raw.view(f"S{raw.shape[1]}").ravel()
    return pa.array(fixed, type=pa.binary()).cast(pa.string())
