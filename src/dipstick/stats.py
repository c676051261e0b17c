"""How sure a figure is: intervals and one-sided tests for the three kinds of evidence.

Every indicator compares a *now* with a *before* (or with a fixed line) on samples that can be
small: 11 rated tickets, 26 incidents. A light that flips on such a sample is noise. Each test
here answers one question — "how likely is a value this bad if the truth were only at the watch
line?" — so that a leak can require both an effect past its line and confidence that the
deterioration is real. The p-values of a whole check are then corrected together
(:func:`fdr`), so 2,000 services × 8 causes do not raise alarms by chance.

Methods (all exact or standard; documented in docs/indicators.md):
- counts over exposure (tickets per week, per user): the conditional binomial test of a Poisson
  rate ratio, with the exact Clopper–Pearson interval turned into a ratio interval;
- proportions (utilisation, completion, reopen share): Wilson's interval, exact binomial test;
- means (satisfaction, resolution hours): Welch's t-test and interval from (mean, sd, n).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import threading
import types
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Z95 = 1.959963984540054

_special: Any = None


_loading = threading.Lock()


def _sp() -> Any:
    """SciPy's special functions, loaded on first use (a start-up that runs no test needs none
    of scipy) and then held here: ``from scipy import special`` inside each of the ~100,000
    calls of a large check cost a microsecond every time."""
    global _special
    if _special is None:
        with _loading:
            if _special is None:
                _special = _ufuncs()
    return _special


def _ufuncs() -> Any:
    """``scipy.special._ufuncs``: the compiled ufuncs (``ndtr``, ``bdtr``, ``stdtr``, …) that
    ``scipy.special`` re-exports as the very same objects, without running the package's
    ``__init__``, whose array-API layer (``scipy._lib._array_api``, array_api_compat) was
    0.3 s of a check's CPU to import and which no call here uses. The package is stood in by
    a bare one for the length of the import only: a later ``import scipy.special`` runs it
    whole and finds these ufuncs loaded. Any surprise (another SciPy's layout): the package."""
    if "scipy.special" in sys.modules:
        return sys.modules["scipy.special"]
    try:
        package = importlib.util.find_spec("scipy.special")
        if package is None or not package.submodule_search_locations:
            raise ImportError("scipy.special is no package")
        stand_in = types.ModuleType("scipy.special")
        stand_in.__path__ = list(package.submodule_search_locations)
        sys.modules["scipy.special"] = stand_in
        try:
            return importlib.import_module("scipy.special._ufuncs")
        finally:
            if sys.modules.get("scipy.special") is stand_in:
                del sys.modules["scipy.special"]
    except Exception:   # the whole package then, as before
        from scipy import special

        return special


@dataclass(frozen=True, init=False)
class Test:
    """An estimate with its 95 % interval, the one-sided p-value against a null value, and the
    sample it rests on (in words, e.g. "41 vs 26 tickets")."""

    estimate: float
    low: float
    high: float
    p: float
    n: int
    sample: str

    def __init__(self, estimate: float, low: float, high: float, p: float, n: int,
                 sample: str) -> None:
        """The generated ``__init__``'s parameters and result, its fields set at once, not by
        one ``object.__setattr__`` each (the frozen class's way): 3.0 → 1.9 µs, ~60,000 tests
        a large check (tests/test_stats.py holds it to the generated one)."""
        self.__dict__.update({"estimate": estimate, "low": low, "high": high, "p": p, "n": n,
                              "sample": sample})

    def interval(self, unit: str = "", digits: int = 3) -> str:
        return f"95 % CI {_g(self.low, digits)}–{_g(self.high, digits)}{unit}"


def _g(v: float, digits: int) -> str:
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"


def rate_ratio(k1: float, t1: float, k0: float, t0: float, null: float = 1.0,
               higher_is_worse: bool = True) -> Test | None:
    """Counts ``k1`` over exposure ``t1`` (now) against ``k0`` over ``t0`` (before).

    Given k1 + k0 = n, k1 is binomial with p = r·t1 / (r·t1 + t0) when the true ratio is r; the
    test asks how likely k1 is this far from ``null`` (one-sided, in the worse direction). The
    ratio's interval is the exact Clopper–Pearson interval of p, mapped back to r."""
    found = rate_ratio_p(k1, t1, k0, t0, null, higher_is_worse)
    if found is None:
        return None
    est, p = found
    k1i, k0i = round(k1), round(k0)
    low, high = clopper_pearson(k1i, k1i + k0i)

    def to_ratio(p: float) -> float:
        return math.inf if p >= 1 else (p / (1 - p)) * (t0 / t1)

    return Test(est, to_ratio(low), to_ratio(high), p, k1i + k0i, f"{k1i} vs {k0i}")


def rate_ratio_p(k1: float, t1: float, k0: float, t0: float, null: float = 1.0,
                 higher_is_worse: bool = True) -> tuple[float, float] | None:
    """The estimate and the p-value of :func:`rate_ratio` without its interval, for a test
    whose interval is not shown (the change indicator's test against the year before, whose
    p only makes the shown test surer or less sure: ~8,600 intervals a large check needed
    not)."""
    k1i, k0i = round(k1), round(k0)
    if t1 <= 0 or t0 <= 0 or k1i < 0 or k0i < 0 or k1i + k0i == 0:
        return None
    n = k1i + k0i
    p0 = null * t1 / (null * t1 + t0)
    est = (k1i / t1) / (k0i / t0) if k0i else math.inf
    return est, binom_tail(k1i, n, p0, higher_is_worse)


def binom_tail(k: int, n: int, p: float, upper: bool) -> float:
    """The exact one-sided binomial p-value: P(X ≥ k) (``upper``) or P(X ≤ k), X ~ Bin(n, p) —
    what ``scipy.stats.binomtest`` computes, from the incomplete beta function directly (a
    check runs ten thousand of them; binomtest's overhead was a third of a large check)."""
    special = _special or _sp()
    if upper:
        return 1.0 if k <= 0 else float(special.bdtrc(k - 1, n, p))
    return 1.0 if k >= n else float(special.bdtr(k, n, p))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a binomial share, from beta quantiles: the same
    bounds as ``binomtest(...).proportion_ci(method="exact")`` without its root finding."""
    return _clopper_pearson(k, n, level)


@lru_cache(maxsize=1 << 16)
def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """:func:`clopper_pearson`, kept per (k, n): small counts recur across a portfolio — a
    large check asks ~20,000 times for ~7,500 distinct intervals, each two inverse incomplete
    beta functions (~15 µs). The same function of the same arguments: the same floats."""
    special = _special or _sp()
    a = (1 - level) / 2
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1, a))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1, n - k, 1 - a))
    return low, high


def proportion(k: float, n: float, null: float, higher_is_worse: bool) -> Test | None:
    """``k`` of ``n`` (e.g. licences in use) against the line ``null``: Wilson's interval, the
    exact binomial test one-sided in the worse direction."""
    ki, ni = round(k), round(n)
    if ni <= 0 or not 0 <= ki <= ni:
        return None
    p = binom_tail(ki, ni, min(max(null, 1e-9), 1 - 1e-9), higher_is_worse)
    low, high = wilson(ki, ni)
    return Test(ki / ni, low, high, p, ni, f"{ki} of {ni}")


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportions(k1: float, n1: float, k0: float, n0: float, null: float = 0.0,
                    higher_is_worse: bool = True) -> Test | None:
    """Difference of two shares (now − before) against ``null``: a normal test with the
    unpooled standard error, and Newcombe's hybrid Wilson interval for the difference."""
    k1i, n1i, k0i, n0i = (round(x) for x in (k1, n1, k0, n0))
    if n1i <= 0 or n0i <= 0:
        return None
    p1, p0 = k1i / n1i, k0i / n0i
    d = p1 - p0
    l1, u1 = wilson(k1i, n1i)
    l0, u0 = wilson(k0i, n0i)
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    se = math.sqrt(max(p1 * (1 - p1) / n1i + p0 * (1 - p0) / n0i, 1e-12))
    p = normal_tail((d - null) / se, higher_is_worse)
    return Test(d, low, high, p, n1i + n0i, f"{k1i} of {n1i} vs {k0i} of {n0i}")


def means(m1: float, s1: float, n1: float, m0: float, s0: float, n0: float,
          null: float = 0.0, higher_is_worse: bool = True) -> Test | None:
    """Difference of two means (now − before) against ``null`` by Welch's t-test, with the
    Welch–Satterthwaite interval. Needs two observations on each side."""

    n1i, n0i = int(n1), int(n0)
    if n1i < 2 or n0i < 2 or any(map(_bad, (m1, s1, m0, s0))):
        return None
    v1, v0 = s1 * s1 / n1i, s0 * s0 / n0i
    se = math.sqrt(v1 + v0)
    d = m1 - m0
    if se == 0:   # no spread: worse or not, beyond float noise (engines sum differently)
        worse = _beyond(d, null, higher_is_worse)
        return Test(d, d, d, 0.0 if worse else 1.0, n1i + n0i, f"{n1i} vs {n0i}")
    df = (v1 + v0) ** 2 / (v1 * v1 / (n1i - 1) + v0 * v0 / (n0i - 1))
    t = (d - null) / se
    p, q = _student(t, df, higher_is_worse)
    return Test(d, d - q * se, d + q * se, p, n1i + n0i, f"{n1i} vs {n0i}")


def shift_of_means(m1: float, s1: float, n1: float, m0: float, s0: float, n0: float,
                   null: float = 0.0, higher_is_worse: bool = True) -> Test | None:
    """Whether a series' recent values left its baseline: Welch's interval (honest about the
    recent spread), but the p-value of "no change" from the *baseline's* spread for both sides
    (Student's t, n0 − 1 degrees of freedom). Under no change the recent values vary as the
    baseline did; a step or a slide inside the recent window widens their own spread and, in
    Welch's p, hid a KPI that fell 29 % (4 values vs 13) behind its own ramp."""
    welch = means(m1, s1, n1, m0, s0, n0, null, higher_is_worse)
    n1i, n0i = int(n1), int(n0)
    if welch is None or n0i < 3 or s0 <= 0:
        return welch
    t = (m1 - m0 - null) / (s0 * math.sqrt(1 / n1i + 1 / n0i))
    return Test(welch.estimate, welch.low, welch.high, _student_p(t, n0i - 1, higher_is_worse),
                welch.n, welch.sample)


def _student(t: float, df: float, higher_is_worse: bool) -> tuple[float, float]:
    """One-sided p of Student's t in the worse direction and the two-sided 95 % quantile: the
    special functions ``scipy.stats.t`` wraps, without its per-call overhead (a large check
    runs ~17,000 of these)."""
    return _student_p(t, df, higher_is_worse), _t975(df)


def _student_p(t: float, df: float, higher_is_worse: bool) -> float:
    """The p of :func:`_student` alone, for a test whose interval comes from elsewhere."""
    special = _special or _sp()
    return float(special.stdtr(df, -t) if higher_is_worse else special.stdtr(df, t))


@lru_cache(maxsize=1 << 14)
def _t975(df: float) -> float:
    """Student's two-sided 95 % quantile, kept per degrees of freedom: a large check asks
    32,000 times for 16,000 distinct ones (a mean against a line has whole ones)."""
    return float((_special or _sp()).stdtrit(df, 0.975))


def normal_tail(z: float, higher_is_worse: bool) -> float:
    """One-sided p of a standard normal ``z`` in the worse direction: ``scipy.stats.norm``'s
    sf / cdf are ``special.ndtr`` of −z / z, here without their per-call argument checks
    (a large check runs ~5,000)."""
    special = _special or _sp()
    return float(special.ndtr(-z) if higher_is_worse else special.ndtr(z))


def mean_vs_line(m: float, s: float, n: float, line: float,
                 higher_is_worse: bool) -> Test | None:
    """One mean against a fixed line (e.g. satisfaction 4 of 10): Student's t."""

    ni = int(n)
    if ni < 2 or _bad(m) or _bad(s):
        return None
    se = s / math.sqrt(ni)
    if se == 0:
        worse = _beyond(m, line, higher_is_worse)
        return Test(m, m, m, 0.0 if worse else 1.0, ni, f"{ni}")
    t = (m - line) / se
    p, q = _student(t, ni - 1, higher_is_worse)
    return Test(m, m - q * se, m + q * se, p, ni, f"{ni}")


def _beyond(v: float, line: float, higher_is_worse: bool) -> bool:
    gap = (v - line) if higher_is_worse else (line - v)
    return gap > 1e-9 * max(1.0, abs(line))


def _bad(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def fdr(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order: the steps of
    ``scipy.stats.false_discovery_control(ps, method="bh")``, same values, without importing
    ``scipy.stats`` (0.6 s CPU of a check that needs nothing else from it)."""
    import numpy as np

    ps = np.asarray(pvalues, dtype=np.float64)
    if not np.all((ps >= 0) & (ps <= 1)):
        raise ValueError("p-values must lie between 0 and 1")
    m = len(ps)
    if m <= 1:
        return [float(q) for q in ps]
    order = np.argsort(ps)
    qs = ps[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    np.minimum.accumulate(qs[::-1], out=qs[::-1])   # q_i = min over j >= i
    out = np.empty_like(qs)
    out[order] = qs
    return [float(q) for q in np.clip(out, 0.0, 1.0)]


def fisher(pvalues: Sequence[float]) -> float:
    """Fisher's combined p of independent one-sided tests of one question: −2 Σ ln p is χ² with
    2k degrees of freedom when every null holds. Several moderate signs that agree are stronger
    evidence than any one of them; the tests that disagree stay in the sum, so picking the
    agreeing ones does not make the result look surer than it is."""
    special = _special or _sp()
    ps = [min(max(p, 1e-300), 1.0) for p in pvalues]
    if not ps:
        return 1.0
    x = -2.0 * sum(math.log(p) for p in ps)
    return 1.0 if x <= 0 else float(special.chdtrc(2 * len(ps), x))   # scipy.stats.chi2.sf


def sum_ratio(n1: float, mean1: float, sd1: float, t1: float,
              n0: float, mean0: float, sd0: float, t0: float,
              null: float = 1.0, higher_is_worse: bool = True) -> Test | None:
    """Ratio of two totals per exposure (lost hours a month now ÷ before), each a sum over
    ``n`` events of sizes with ``mean`` and ``sd``.

    The events are Poisson and their sizes independent (a compound Poisson total), so
    var(log total) ≈ (1 + cv²) / n on each side (delta method); the test is a one-sided z-test
    of the log ratio against log ``null`` and the interval is exp(log ratio ± 1.96 se)."""
    n1i, n0i = round(n1), round(n0)
    if n1i < 1 or n0i < 1 or t1 <= 0 or t0 <= 0 or null <= 0 or mean1 <= 0 or mean0 <= 0 \
            or any(map(_bad, (mean1, sd1, mean0, sd0))):
        return None
    est = (n1i * mean1 / t1) / (n0i * mean0 / t0)
    se = math.sqrt((1 + (sd1 / mean1) ** 2) / n1i + (1 + (sd0 / mean0) ** 2) / n0i)
    p = normal_tail((math.log(est) - math.log(null)) / se, higher_is_worse)
    return Test(est, est * math.exp(-Z95 * se), est * math.exp(Z95 * se), p, n1i + n0i,
                f"{n1i} vs {n0i}")


def poisson_range(k: float) -> tuple[float, float]:
    """The exact (Garwood) 95 % interval of a Poisson mean from one count ``k``: the range of
    an estimate that scales with a count (tickets a month × minutes each)."""
    special = _special or _sp()
    # chi2.ppf(q, 2k) / 2, which scipy computes as 2 · gammaincinv(k, q) / 2
    ki = max(0, round(k))
    low = 0.0 if ki == 0 else float(special.gammaincinv(ki, 0.025))
    return low, float(special.gammaincinv(ki + 1, 0.975))
