"""Evidence with its uncertainty, and the check-wide confidence rule (issue 13, item 3).

An indicator grades the *effect* of a measure against its threshold as before, and attaches the
test of :mod:`dipstick.stats` that says how sure that effect is: its sample size, its 95 %
interval and the one-sided p-value (against "no change" where the service is compared with its
own baseline, against the watch line where the line is absolute). :func:`confirm` then corrects all
p-values of one check together (Benjamini–Hochberg) and lets a ``leak`` stand only where the
correction (over all the check's tests) leaves q ≤ 0.05; the rest become ``watch`` "not yet
sure". Thousands of tests on a big portfolio would otherwise raise a few dozen leaks by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dipstick.findings import (
    HELD,
    Evidence,
    Finding,
    Status,
    Threshold,
    _fmt,
    conclude,
    evidence,
    evolve,
    make_evidence,
)
from dipstick.stats import Test, _g, fdr, fisher

ALPHA = 0.05   # the false discovery rate a check allows among its leaks
# The null of a test. Against the service's own baseline: no change (ratio 1, difference 0)
# — the line judges the effect's size, the test that the change is real; measured on the
# demo, a one-sided test against the watch line could not confirm 92 vs 52 incidents
# (×1.77, 95 % CI 1.25–2.54) among a check's 1,240 tests. Against an absolute line (ratings,
# licence use): the watch line itself, where "no change" has no meaning.
NO_CHANGE = 1.0


def tested(metric: str, label: str, value: float | None, threshold: Threshold | None,
           period: str, test: Test | None, *, unit: str = "", baseline: float | None = None,
           note: str = "", sample: str = "", required: bool = True,
           relative: bool = False) -> Evidence:
    """Evidence graded on ``value`` and carrying ``test``: n, interval and p, and in its note
    the interval and the sample in words, e.g. "95 % CI 1.2–2.1; 41 vs 26 tickets".

    ``value`` may differ from ``test.estimate`` (a drop is the negated difference); the
    interval is then mapped by the caller. Without a test the statistic is meaningless (fewer
    than two ratings, no event at all): the evidence is ``unknown`` unless ``required`` is
    false (a value that is good whatever its noise, e.g. no lost time at all)."""
    if test is None and required and value is not None:
        return evidence(metric, label, None, threshold, period, unit=unit, baseline=baseline,
                        note="too few data points to test")
    if test is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return evidence(metric, label, value, threshold, period, unit=unit, baseline=baseline,
                        note=note)
    # ``evidence``'s grading inlined and the evidence built once, whole (not graded, then
    # copied by ``dataclasses.replace``): ~50,000 calls a check, each a third of the time.
    # ``test.interval`` and ``_round`` inlined too, the same text and floats; ``_g`` only
    # for bounds outside ±1000 (or not finite): inside, it is the plain ``.3g`` (session 17)
    value = round(float(value), 4)
    status, score = (Status.OK, 0.0) if threshold is None else threshold.grade(value)
    low, high, p = test.low, test.high, test.p
    words = (f"95 % CI {f'{low:.3g}' if -1000.0 < low < 1000.0 else _g(low, 3)}–"
             f"{f'{high:.3g}' if -1000.0 < high < 1000.0 else _g(high, 3)}"
             f"{unit if unit.strip() != '×' else ''}; {test.sample}")
    if sample:
        words += f" {sample}"
    return make_evidence(metric, label, value, period, status, score, unit,
                         None if threshold is None else threshold.describe(), baseline,
                         f"{words}; {note}" if note else words, test.n,
                         round(low, 4) if _INF < low < INF else None,
                         round(high, 4) if _INF < high < INF else None,
                         round(p, 6) if _INF < p < INF else None, None, relative)


INF, _INF = math.inf, -math.inf


def is_sign(e: Evidence) -> bool:
    """Past its watch line and, if tested, not plainly noise (p ≤ 0.05 before correction):
    what a second sign of the same event must be for a lone one to stand."""
    return e.status in (Status.WATCH, Status.LEAK) and (e.p is None or e.p <= 0.05)


def flipped(test: Test | None) -> Test | None:
    """The test of −x from the test of x (a drop from a difference now − before)."""
    if test is None:
        return None
    return Test(-test.estimate, -test.high, -test.low, test.p, test.n, test.sample)


def shifted(test: Test | None, by: float) -> Test | None:
    """The test of x + ``by`` (a share change from a ratio: ratio − 1)."""
    if test is None:
        return None
    return Test(test.estimate + by, test.low + by, test.high + by, test.p, test.n, test.sample)


def at_most_watch(e: Evidence, why: str) -> Evidence:
    """``e`` capped at ``watch``, saying ``why`` (a level that differs by nature, a drift that
    began before the change it would be blamed on). Held there: :func:`confirm` does not
    raise it however sure its test."""
    if e.status is Status.OK or e.status is Status.UNKNOWN:
        return e
    return evolve(e, status=Status.WATCH, score=HELD,
                  note=f"{e.note}; {why}" if e.note else why)


def scaled(test: Test, factor: float, offset: float = 0.0, sample: str | None = None) -> Test:
    """The test of ``factor`` · x + ``offset`` (factor > 0): a share difference in points, a
    difference of means as a ratio to the baseline mean."""
    return Test(test.estimate * factor + offset, test.low * factor + offset,
                test.high * factor + offset, test.p, test.n,
                test.sample if sample is None else sample)


@dataclass(frozen=True)
class Sign:
    """One measure of a cause against the service's own baseline, as :func:`agreeing` weighs
    it: in words ("resolution ×1.4"), whether its effect is material (:func:`halfway` to its
    watch line or more), and the one-sided p of no change and the sample of its test."""

    metric: str
    words: str
    material: bool
    p: float | None
    n: int = 0


def halfway(value: float | None, line: Threshold, null: float) -> bool:
    """Whether ``value`` lies at least halfway from ``null`` (no change) to the watch line, on
    the worse side: the effect a sign must have to count as one in :func:`agreeing`."""
    if value is None:
        return False
    mid = null + (line.watch - null) / 2
    return value >= mid if line.higher_is_worse else value <= mid


AGREEING = "signs_agreeing"
# Two material signs, each p ≤ 0.05, whose combined p survives the check's FDR: a leak. The
# count grades the effect (2 watch, 3 leak); confirm() raises a sure watch, as for any evidence
# against the service's own baseline.
AGREE = Threshold(2.0, 3.0)
SIGN_P = 0.05


def agreeing(signs: Sequence[Sign], period: str) -> Evidence | None:
    """Several signs of one cause that agree: each measure past half its watch line and sure
    (p ≤ 0.05) against the service's own baseline, with their combined test (Fisher, over
    every sign tested, agreeing or not). A subtle leak moves all its signs at once, each short
    of its watch line — resolution ×1.4, lost hours ×1.5, satisfaction −0.7 — and no one of
    them is a leak alone; together they are (issue 13: on orgsim's tuning seeds 19–30, 7 of 12
    subtle employee-experience leaks showed only such signs). ``None`` below two tested
    signs. The metric names the agreeing measures (``signs_agreeing:a+b``): episodes read
    their signals."""
    ps = {s.metric: s.p for s in signs if s.p is not None}
    if len(ps) < 2:
        return None
    agree = [s for s in signs if s.material and s.p is not None and s.p <= SIGN_P]
    p = fisher(list(ps.values()))
    words = ", ".join(f"{s.words} (p {_fmt(ps[s.metric])})" for s in agree)
    metric = f"{AGREEING}:{'+'.join(s.metric for s in agree) or 'none'}"
    note = (f"{words}; " if words else "") + f"combined p of {len(ps)} signs (Fisher)"
    e = evidence(metric, "Signs agreeing against the service's own baseline",
                 float(len(agree)), AGREE, period, note=note)
    return evolve(e, n=sum(s.n for s in signs if s.p is not None), p=_round(p, 6),
                  relative=True)


def _round(v: float, digits: int = 4) -> float | None:
    return round(v, digits) if math.isfinite(v) else None


def _candidate(e: Evidence) -> bool:
    """Tested evidence past its watch line: the evidence a q can downgrade and that shows it."""
    return e.p is not None and e.status in _PAST_WATCH


_PAST_WATCH = (Status.WATCH, Status.LEAK)


SETTLED = "_since_shift"


def _settled_alone(f: Finding) -> Finding:
    """A level since a shift (``…_since_shift``) leaks only if the window's own tested
    evidence of the same measure is a sign too (at ``watch`` or worse, p ≤ 0.05). The shift
    detector judges a weekly series; on a sparse one (a how-to ticket every few weeks, "from
    0.00005 to 0.0038 per user, confidence 100 %") its confidence means little, and such levels
    were all four false alarms on orgsim's stable tuning organisations (seeds 7–9). Where the
    measure has no tested window evidence, the level stands as it is."""
    held = False
    ev = list(f.evidence)
    for i, e in enumerate(ev):
        if e.status is not Status.LEAK or not e.metric.endswith(SETTLED):
            continue
        base = e.metric.removesuffix(SETTLED).split(":")[0]
        window = [x for x in ev if x.metric.split(":")[0] == base and x.p is not None]
        if window and not any(x.status in (Status.WATCH, Status.LEAK) and x.p is not None
                              and x.p <= 0.05 for x in window):
            ev[i] = at_most_watch(e, "the window's own test of this measure does not say it "
                                     "moved: the shift alone is not sure")
            held = True
    if not held:
        return f
    again = conclude(f.service, f.cause, ev, f.leak, f.action)
    return evolve(again, since=f.since, symptom_of=f.symptom_of, episode=f.episode)


def _tests(f: Finding, ps: list[float], settle: bool = True) -> tuple[Finding, int, bool]:
    """``f`` after :func:`_settled_alone` (if ``settle``), its p-values appended to ``ps``,
    their number and whether one of its tested evidence is a :func:`_candidate`."""
    tests, candidate, settled = 0, False, False
    for e in f.evidence:
        if e.p is not None:
            ps.append(e.p)
            tests += 1
            if e.status in _PAST_WATCH:
                candidate = True
        if e.status is Status.LEAK and e.metric.endswith(SETTLED):
            settled = True
    if not settled or not settle:
        return f, tests, candidate
    del ps[len(ps) - tests:]
    return _tests(_settled_alone(f), ps, settle=False)


def confirm(findings: Sequence[Finding], alpha: float = ALPHA) -> list[Finding]:
    """The p-values of *every* tested evidence of the check corrected together into q
    (Benjamini–Hochberg); a ``leak`` evidence with q > ``alpha`` becomes ``watch`` ("not yet
    sure: q = 0.2") and its finding is concluded again. The family is all tests, not only those
    past a line: picking the tests with the biggest effects first and correcting only over them
    keeps chance effects of small samples in a small family (on orgsim's tuning seeds, 37 false
    `change` and `perception` leaks of which 20 went once the family was whole, recall 0.55 →
    0.53). A pure function: the findings come back in order, the unchanged ones as they were.
    """
    # one pass over the evidence: the p-values in order, and per finding how many tests it
    # has and whether one is a candidate (~550 of ~16,000 findings on the large demo have
    # one; the rest are left as they are)
    ps: list[float] = []
    seen: list[tuple[Finding, int, bool]] = []
    for f in findings:
        f, tests, candidate = _tests(f, ps)
        seen.append((f, tests, candidate))
    qs = fdr(ps)
    at = 0   # the index of the finding's first q (its tests' q follow in order)
    out: list[Finding] = []
    for f, tests, candidate in seen:
        if not candidate:
            at += tests
            out.append(f)
            continue
        ev: list[Evidence] = []
        changed = False
        for e in f.evidence:
            if e.p is None:
                ev.append(e)
                continue
            q = round(qs[at], 6)
            at += 1
            if not _candidate(e):
                ev.append(e)
                continue
            if e.status is Status.LEAK and q > alpha:
                changed = True
                e = evolve(e, status=Status.WATCH, score=HELD,
                           note=f"not yet sure: q = {_fmt(q)}; {e.note}")
            elif e.status is Status.WATCH and e.relative and e.score != HELD and q <= alpha:
                changed = True
                e = evolve(e, status=Status.LEAK, score=50.0,
                           note=f"sure past the watch line: q = {_fmt(q)}; {e.note}")
            ev.append(evolve(e, q=q))
        if not changed:
            out.append(evolve(f, evidence=tuple(ev)))
            continue
        again = conclude(f.service, f.cause, ev, f.leak, f.action)   # ok → no leak counted
        if again.status is Status.LEAK:     # a date the indicator gave (a change's) stays
            again = evolve(again, since=f.since)
        out.append(evolve(again, symptom_of=f.symptom_of, episode=f.episode))
    return out
