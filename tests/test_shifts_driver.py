"""``ShiftIndex.driver`` dates a less telling series only when it could outrank the lead
found so far (session 19): every answer is the module's ``driver`` over all the service's
shifts, dated; and some series are left undated."""

from __future__ import annotations

from datetime import date

import pytest

from dipstick.shifts import CAUSE_SERIES, ShiftIndex, driver
from dipstick.shifts.detect import Shift
from dipstick.shifts.segment import Step, Undated
from test_shifts_expect import CASES, _index


@pytest.mark.parametrize("seed", [61, 62, 63])
def test_the_driver_is_the_one_of_every_shift(seed: int) -> None:
    by_key, links = _index(seed)
    index = ShiftIndex(by_key, links=links)
    plain = ShiftIndex(by_key, links=links)
    named = 0
    for sid in sorted(links):
        every = [s for k in plain.keys(sid) for s in plain.shifts_of(k)]
        for cause in (*CASES, "customer_experience", "flow"):
            for as_of in (date(2027, 1, 1), date(2025, 6, 30)):
                want = driver(cause, sid, every, as_of)
                assert index.driver(sid, cause, as_of) == want, (sid, cause, as_of)
                named += want is not None
    assert named > 40
    # some driver series with a bad step were segmented (``_may_be_bad``) and never dated
    skipped = [k for k, u in index._undated.items() if any(
        (st.after > st.before) == by_key[k].higher_is_worse for st in u.steps)]
    assert skipped and all(any(k.metric in CAUSE_SERIES[c] for c in CASES) for k in skipped)
    assert index.all_shifts() == plain.all_shifts()


def test_a_series_is_outranked_only_below_its_best_bad_step() -> None:
    """The bound ``_outranked`` skips dating by: a less telling series' lead can be any of its
    bad steps, so only when the most confident of them does not beat the lead found so far;
    its good steps, however sure, do not count, and a more telling series is never skipped."""
    by_key, links = _index(61)
    index = ShiftIndex(by_key, links=links)
    wanted = CAUSE_SERIES["retirement"]              # users first, then cost_per_user
    key = next(k for k in by_key if k.metric == wanted[1])
    worse = by_key[key].higher_is_worse
    up, down = (1.0, 2.0), (2.0, 1.0)
    bad, good = (up, down) if worse else (down, up)
    lead = Shift(next(k for k in by_key if k.metric == wanted[0]), date(2026, 1, 5), 1.0, 2.0,
                 1.0, 0.9)

    def outranked(*steps: tuple[tuple[float, float], float]) -> bool:
        index._undated[key] = Undated([], [Step(i, b, a, c, 1.0) for i, ((b, a), c)
                                           in enumerate(steps)], 1.0)
        index._found.pop(key, None)
        return index._outranked(key, lead, wanted)

    assert outranked((bad, 0.5), (bad, 0.899))        # no bad step beats 0.90 once rounded
    assert not outranked((bad, 0.5), (bad, 0.95))     # the surer one could lead: dated
    assert not outranked((bad, 0.95), (bad, 0.5))
    assert outranked((good, 0.99), (bad, 0.6))        # a good step is no lead
    assert not outranked((good, 0.99))                # no bad step: left to the dating
    more_telling = Shift(key, date(2026, 1, 5), 1.0, 2.0, 1.0, 0.99)
    index._undated[key] = Undated([], [Step(0, *bad, 0.5, 1.0)], 1.0)
    other = next(k for k in by_key if k.metric == wanted[0])
    index._undated[other] = Undated([], [Step(0, *bad, 0.5, 1.0)], 1.0)
    index._found.pop(other, None)
    assert not index._outranked(other, more_telling, wanted)   # users is the more telling
