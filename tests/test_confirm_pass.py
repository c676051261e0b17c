"""``confirm`` reads the check's evidence in one pass (session 17): every tested evidence past
its watch line gets the Benjamini–Hochberg q of its own p among all the check's p-values, in
order, whatever the findings around it — held levels since a shift, findings with tests but
no candidate, findings with no test at all."""

from __future__ import annotations

import random

from dipstick.findings import Evidence, Finding, LeakEstimate, Status, Threshold, conclude
from dipstick.indicators.confidence import SETTLED, confirm
from dipstick.stats import fdr

LINE = Threshold(1.5, 2.0)


def _finding(rng: random.Random, i: int) -> Finding:
    ev: list[Evidence] = []
    for j in range(rng.randrange(0, 5)):
        value = rng.choice([1.0, 1.7, 2.5])
        status, score = LINE.grade(value)
        p = rng.choice([None, 1e-6, 0.004, 0.03, 0.2, 0.7])
        ev.append(Evidence(f"m{j}", "m", value, "now", status, score, n=9, p=p,
                           relative=rng.random() < 0.5))
    if rng.random() < 0.3:   # a level since a shift, held or not by the window's own test
        ev.insert(0, Evidence(f"m0{SETTLED}", "since", 9.0, "since", Status.LEAK, 100.0))
    return conclude(f"s{i}", "training", ev, LeakEstimate(10.0), "act")


def test_each_candidate_gets_the_q_of_its_own_p_in_the_checks_order() -> None:
    rng = random.Random(17)
    for _ in range(20):
        found = [_finding(rng, i) for i in range(60)]
        out = confirm(found)
        assert [f.service for f in out] == [f.service for f in found]
        ps = [e.p for f in found for e in f.evidence if e.p is not None]
        qs = iter(fdr(ps))
        held = 0
        for before, after in zip(found, out, strict=True):
            assert len(before.evidence) == len(after.evidence)
            candidate = any(e.p is not None and e.status in (Status.WATCH, Status.LEAK)
                            for e in before.evidence)
            settled_leak = any(e.metric.endswith(SETTLED) and e.status is Status.LEAK
                               for e in before.evidence)
            if not candidate and not settled_leak:
                assert after is before                     # left as it was
            for e0, e in zip(before.evidence, after.evidence, strict=True):
                assert e.p == e0.p
                if e0.p is None:
                    assert e.q is None
                    held += e0.metric.endswith(SETTLED) and e.status is not e0.status
                    continue
                q = round(next(qs), 6)
                assert e.q == (q if e0.status in (Status.WATCH, Status.LEAK) else None)
        assert next(qs, None) is None
    assert held
