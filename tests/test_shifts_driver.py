"""``ShiftIndex.driver`` dates a less telling series only when it could outrank the lead
found so far (session 19): every answer is the module's ``driver`` over all the service's
shifts, dated; and some series are left undated."""

from __future__ import annotations

from datetime import date

import pytest

from dipstick.shifts import CAUSE_SERIES, ShiftIndex, driver
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
