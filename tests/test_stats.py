"""The evidence statistics against textbook values and against their own promise: under the null
hypothesis a 5 % test fires about 5 % of the time, not more."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dipstick import stats


def test_wilson_matches_the_textbook() -> None:
    low, high = stats.wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)     # Newcombe (1998), table I
    assert stats.wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert stats.wilson(10, 10)[1] == pytest.approx(1.0)


def test_rate_ratio_interval_and_direction() -> None:
    t = stats.rate_ratio(41, 8, 26, 8)
    assert t is not None and t.sample == "41 vs 26"
    assert t.estimate == pytest.approx(41 / 26)
    assert t.low < t.estimate < t.high
    assert 0.02 < t.p < 0.05                               # 41 vs 26 at equal exposure
    assert stats.rate_ratio(41, 8, 26, 8, null=1.6).p > 0.5   # not past a 1.6 line
    assert stats.rate_ratio(0, 8, 0, 8) is None


def test_means_welch_against_scipy() -> None:
    from scipy.stats import ttest_ind_from_stats

    t = stats.means(6.2, 1.5, 11, 7.5, 1.4, 40, higher_is_worse=False)
    ref = ttest_ind_from_stats(6.2, 1.5, 11, 7.5, 1.4, 40, equal_var=False,
                               alternative="less")
    assert t is not None and t.p == pytest.approx(ref.pvalue)
    assert t.low < -1.3 < t.high


@pytest.mark.parametrize("kind", ["rate", "proportion", "means"])
def test_tests_keep_their_size_under_the_null(kind: str) -> None:
    rng = np.random.default_rng(7)
    hits = 0
    trials = 2000
    for _ in range(trials):
        if kind == "rate":
            t = stats.rate_ratio(rng.poisson(30), 4, rng.poisson(90), 12)
        elif kind == "proportion":
            t = stats.proportion(rng.binomial(40, 0.4), 40, 0.4, higher_is_worse=False)
        else:
            a, b = rng.normal(7, 2, 12), rng.normal(7, 2, 30)
            t = stats.means(a.mean(), a.std(ddof=1), 12, b.mean(), b.std(ddof=1), 30,
                            higher_is_worse=False)
        hits += t is not None and t.p < 0.05
    assert hits / trials <= 0.065                       # at most the nominal 5 % (+ noise)


def test_fisher_combines_agreeing_tests_and_keeps_its_size() -> None:
    from scipy import stats as sst

    ps = [0.045, 0.0046, 0.6, 0.3]
    assert stats.fisher(ps) == pytest.approx(sst.combine_pvalues(ps, method="fisher").pvalue)
    assert stats.fisher([0.04, 0.04]) < 0.04 < stats.fisher([0.04, 0.9])
    assert stats.fisher([]) == 1.0 and stats.fisher([0.0, 1.0]) < 1e-100
    rng = np.random.default_rng(3)
    hits = sum(stats.fisher(rng.uniform(size=4)) < 0.05 for _ in range(4000))
    assert hits / 4000 <= 0.06                          # under the null, the nominal 5 %


def test_fdr_is_benjamini_hochberg() -> None:
    q = stats.fdr([0.01, 0.04, 0.03, 0.2])
    assert q == pytest.approx([0.04, 0.0533333, 0.0533333, 0.2], rel=1e-4)
    assert stats.fdr([]) == []


def test_exact_binomial_helpers_equal_scipys_binomtest() -> None:
    """The closed forms the check uses (a third of a large check went to binomtest's root
    finding) give scipy's own exact p-values and Clopper–Pearson bounds."""
    from scipy.stats import binomtest

    for k, n, p in [(0, 5, 0.3), (3, 5, 0.3), (5, 5, 0.3), (41, 67, 0.5), (92, 144, 0.5),
                    (1, 1000, 0.01), (999, 1000, 0.99), (12, 40, 0.6)]:
        for upper in (True, False):
            want = binomtest(k, n, p, alternative="greater" if upper else "less").pvalue
            assert stats.binom_tail(k, n, p, upper) == pytest.approx(want, rel=1e-9, abs=1e-300)
        ci = binomtest(k, n, 0.5).proportion_ci(0.95, method="exact")
        low, high = stats.clopper_pearson(k, n)
        assert low == pytest.approx(ci.low, abs=1e-9) and high == pytest.approx(ci.high, abs=1e-9)


def test_welch_and_student_equal_scipys() -> None:
    from scipy.stats import ttest_1samp, ttest_ind_from_stats

    a, b = (5.1, 1.2, 30), (4.2, 1.9, 12)
    t = stats.means(*a, *b, null=0.0, higher_is_worse=True)
    want = ttest_ind_from_stats(*a, *b, equal_var=False, alternative="greater")
    assert t is not None and t.p == pytest.approx(want.pvalue, rel=1e-9)
    two = stats.means(*a, *b, null=0.0, higher_is_worse=False)
    assert two is not None and (two.low, two.high) == (t.low, t.high)
    assert t.p + two.p == pytest.approx(1.0)
    xs = np.array([6.0, 7, 5, 8, 6, 7, 4])
    one = stats.mean_vs_line(float(xs.mean()), float(xs.std(ddof=1)), len(xs), 7.0,
                             higher_is_worse=False)
    assert one is not None
    assert one.p == pytest.approx(ttest_1samp(xs, 7.0, alternative="less").pvalue, rel=1e-9)


def test_a_shift_of_means_is_judged_on_the_baselines_spread() -> None:
    """Issue 13: a KPI that slid 29 % inside the current window (4 values along its ramp vs 13
    steady ones): Welch's p leans on the ramp's own spread and is unsure; under "no change"
    the recent values vary as the baseline did, and the slide is plain. The interval stays
    Welch's."""
    welch = stats.means(20.5, 4.0, 4, 27.85, 0.8, 13, null=0.0, higher_is_worse=False)
    shift = stats.shift_of_means(20.5, 4.0, 4, 27.85, 0.8, 13, null=0.0, higher_is_worse=False)
    assert welch is not None and shift is not None
    assert welch.p > 0.01 and shift.p < 1e-6
    assert (shift.low, shift.high) == (welch.low, welch.high)
    # no change: the same values on both sides are not a shift
    same = stats.shift_of_means(27.9, 0.8, 4, 27.85, 0.8, 13, null=0.0, higher_is_worse=False)
    assert same is not None and same.p > 0.4


def test_special_function_paths_equal_scipy_stats_bit_for_bit() -> None:
    """normal tails, χ² tails and quantiles, and Benjamini–Hochberg come from scipy.special
    and NumPy (importing scipy.stats cost a check 0.6 s CPU): the very values scipy.stats
    gives, not merely close ones, so a check's JSON cannot change."""
    from scipy import stats as sst

    rng = np.random.default_rng(16)
    for z in [*rng.normal(0, 3, 200), 0.0, -0.0, 8.5, -40.0, math.inf, -math.inf]:
        assert stats.normal_tail(z, True) == float(sst.norm.sf(z))
        assert stats.normal_tail(z, False) == float(sst.norm.cdf(z))
    for k in [*rng.integers(0, 500, 100), 0, 1, 2]:
        ki = int(k)
        want_low = 0.0 if ki == 0 else float(sst.chi2.ppf(0.025, 2 * ki)) / 2
        assert stats.poisson_range(ki) == (want_low, float(sst.chi2.ppf(0.975, 2 * ki + 2)) / 2)
    for size in (1, 2, 3, 7, 40):
        ps = list(rng.uniform(size=size) ** 3)
        want = sst.chi2.sf(-2.0 * sum(math.log(p) for p in ps), 2 * len(ps))
        assert stats.fisher(ps) == float(want)
    assert stats.fisher([1.0, 1.0]) == 1.0 == float(sst.chi2.sf(-0.0, 4))
    for size in (1, 2, 5, 300):
        ps = [float(p) for p in rng.uniform(size=size) ** 2]
        ps[: size // 3] = [ps[0]] * (size // 3)                 # ties keep their q
        assert stats.fdr(ps) == [float(q) for q in
                                 sst.false_discovery_control(ps, method="bh")]
    with pytest.raises(ValueError):
        stats.fdr([0.2, 1.5])
    t = stats.two_proportions(30, 100, 18, 110)
    assert t is not None and t.p == float(sst.norm.sf((0.3 - 18 / 110) / math.sqrt(
        0.3 * 0.7 / 100 + (18 / 110) * (1 - 18 / 110) / 110)))


def test_kept_results_are_the_very_floats_of_a_fresh_computation() -> None:
    """Session 15 keeps Clopper–Pearson bounds per (k, n, level) and Student's quantile per
    degrees of freedom, and the change indicator asks a rate ratio for its estimate and p
    alone: each the same floats, bit for bit, as computing afresh — a kept value for one
    level or df must never answer another's question."""
    from scipy import special

    rng = np.random.default_rng(15)
    for _ in range(200):
        n = int(rng.integers(1, 400))
        k = int(rng.integers(0, n + 1))
        for level in (0.95, 0.9, 0.95):          # asked again: from what was kept
            a = (1 - level) / 2
            want = (0.0 if k == 0 else float(special.betaincinv(k, n - k + 1, a)),
                    1.0 if k == n else float(special.betaincinv(k + 1, n - k, 1 - a)))
            assert stats.clopper_pearson(k, n, level) == want
    for df in [*rng.uniform(1, 80, 100), *range(1, 40), 2.5, 2.5]:
        assert stats._student(1.3, df, True)[1] == float(special.stdtrit(df, 0.975))
    for _ in range(300):
        k1, k0 = (int(x) for x in rng.integers(0, 60, 2))
        t1, t0 = (float(x) for x in rng.uniform(0.5, 400, 2))
        null, worse = float(rng.choice([1.0, 1.3])), bool(rng.integers(0, 2))
        full = stats.rate_ratio(k1, t1, k0, t0, null, worse)
        alone = stats.rate_ratio_p(k1, t1, k0, t0, null, worse)
        assert (full is None) == (alone is None)
        if full is not None and alone is not None:
            assert alone == (full.estimate, full.p)
            assert full.p == stats.binom_tail(k1, k1 + k0, null * t1 / (null * t1 + t0), worse)
    # the p of a shift of means alone: Student's p with the baseline's spread
    t = stats.shift_of_means(20.5, 4.0, 4, 27.85, 0.8, 13, null=0.0, higher_is_worse=False)
    assert t is not None
    z = (20.5 - 27.85) / (0.8 * math.sqrt(1 / 4 + 1 / 13))
    assert t.p == float(special.stdtr(12, z))


_LIGHT = """
import sys
from dipstick import stats
assert stats.normal_tail(1.3, True) > 0
light = stats._special
assert "scipy.special" not in sys.modules, "the package's __init__ ran"
from scipy import special
names = ("ndtr", "bdtr", "bdtrc", "stdtr", "stdtrit", "betaincinv", "chdtrc", "gammaincinv")
assert all(getattr(light, n) is getattr(special, n) for n in names)
assert special.logsumexp([0.0]) == 0.0   # the whole package after all, not the stand-in
print("ok")
"""


def test_special_functions_load_without_the_package_and_are_its_own() -> None:
    """:func:`stats._sp` loads ``scipy.special._ufuncs`` alone (the package's array-API layer
    was 0.3 s of a check's CPU), and those are the very ufuncs ``scipy.special`` exports, so
    no value changes; a later ``import scipy.special`` still gets the whole package. In a
    fresh interpreter: this one has imported scipy.special long ago."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _LIGHT], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_test_class_s_own_init_is_the_generated_one() -> None:
    """``Test``'s hand-written ``__init__`` (its fields set at once, session 19) takes the
    generated one's parameters, by position and by name, and makes the same object: the same
    attributes in field order (NaN, −0.0, ±inf included), hashing alike; ``replace`` works and
    the instance stays frozen."""
    import dataclasses
    import inspect
    import random

    test = stats.Test
    twin = dataclasses.make_dataclass(
        "Twin", [(f.name, f.type) for f in dataclasses.fields(test)], frozen=True)
    names = [f.name for f in dataclasses.fields(test)]
    params = list(inspect.signature(test).parameters.values())
    assert [p.name for p in params] == names
    assert all(p.default is inspect.Parameter.empty for p in params)
    rng = random.Random(19)
    pool = [0.0, -0.0, 1.5, math.nan, math.inf, -math.inf, 1e-300]
    for _ in range(200):
        args = [*(rng.choice(pool) for _ in range(4)), rng.randint(0, 50), f"{rng.random()}"]
        got, by_name = test(*args), test(**dict(zip(names, args, strict=True)))
        want = repr(list(vars(twin(*args)).items()))
        assert repr(list(vars(got).items())) == want == repr(list(vars(by_name).items()))
        assert hash(got) == hash(by_name)
    t = test(1.0, 0.5, 2.0, 0.01, 5, "5 vs 3")
    assert dataclasses.replace(t, p=0.5) == test(1.0, 0.5, 2.0, 0.5, 5, "5 vs 3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.p = 0.2  # type: ignore[misc]
