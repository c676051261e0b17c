"""The result classes' fast paths (issue 16, session 15) against the plain ones they stand for:
``make_evidence`` is ``Evidence(...)``, and ``conclude``'s one pass picks what ``max`` did."""

from __future__ import annotations

import inspect
import math
import random
from dataclasses import MISSING, fields
from typing import Any

from dipstick.findings import (
    Evidence,
    Finding,
    LeakEstimate,
    Status,
    _summarise,
    conclude,
    make_evidence,
)


def test_make_evidence_takes_the_fields_in_order_with_their_defaults() -> None:
    params = list(inspect.signature(make_evidence).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields(Evidence)]
    for p, f in zip(params, fields(Evidence), strict=True):
        want = inspect.Parameter.empty if f.default is MISSING else f.default
        assert p.default == want, f.name


def test_make_evidence_is_the_dataclass_s_own_construction() -> None:
    rng = random.Random(15)
    values: dict[str, list[Any]] = {
        "metric": ["m", "x:y"], "label": ["L"], "value": [None, 1.5, "failed", math.nan],
        "period": ["13 weeks"], "status": list(Status), "score": [0.0, 49.95, math.nan],
        "unit": ["", "×"], "threshold": [None, "watch ≥ 1"], "baseline": [None, 2.0],
        "note": ["", "n"], "n": [None, 41], "low": [None, -0.0], "high": [None, 3.0],
        "p": [None, 0.01], "q": [None, 0.2], "relative": [False, True]}
    names = [f.name for f in fields(Evidence)]
    for _ in range(300):
        args = [rng.choice(values[n]) for n in names]
        cut = rng.randint(5, len(names))            # the defaults too
        got, want = make_evidence(*args[:cut]), Evidence(*args[:cut])
        assert repr(got) == repr(want)
        assert got.__dict__ == want.__dict__ or any(
            isinstance(v, float) and math.isnan(v) for v in args)
        assert hash(got) == hash(want)
        assert list(got.__dict__) == names          # every field, in order


def _conclude_with_max(service: str, cause: str, ev: tuple[Evidence, ...],
                       leak: LeakEstimate, action: str) -> Finding:
    """``conclude`` as it was: ``max`` with a key, twice."""
    known = [e for e in ev if e.status is not Status.UNKNOWN]
    if not known:
        return conclude(service, cause, ev, leak, action)
    worst = max(known, key=lambda e: (e.status.rank, e.score))
    score = max(e.score for e in known)
    if worst.status is Status.OK:
        leak = LeakEstimate.none("nothing counted while the cause is ok")
    return Finding(service, cause, worst.status, score, _summarise(worst), ev, leak, action)


def test_conclude_picks_the_worst_and_the_top_score_as_max_did() -> None:
    """Ties (the first of them wins), n/a below ok, NaN scores, unknowns skipped."""
    rng = random.Random(16)
    scores = [0.0, 25.0, 30.0, 49.95, 50.0, 60.0, 100.0, math.nan]
    leak = LeakEstimate(10.0, 1.0, "f")
    for _ in range(2000):
        ev = tuple(make_evidence(f"m{i}", f"L{i}", float(i), "p", rng.choice(list(Status)),
                                 rng.choice(scores), note=rng.choice(["", f"n{i}"]))
                   for i in range(rng.randint(0, 6)))
        got = conclude("s", "c", ev, leak, "a")
        want = _conclude_with_max("s", "c", ev, leak, "a")
        assert repr(got) == repr(want), ev
