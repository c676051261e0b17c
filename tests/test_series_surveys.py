"""The weekly value scores per (service, group) added up from the query by dimension
(``series._surveys``) against the two queries they replaced: equal bit for bit on whole
scores, and the group's own query again on fractional ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from dipstick.findings import Window
from dipstick.package import load_package
from dipstick.shifts import series

from builder import AS_OF, PackageBuilder


def _package(root: Path, fractional: bool) -> Path:
    b = PackageBuilder(root)
    for sid in ("a", "b", "c"):
        b.service(sid, consumers=["staff", "shoppers"])
    rng = np.random.default_rng(9)
    rows = []
    for i in range(4_000):
        group, dims = (("staff", ("time_saved", "ease")), ("shoppers", ("ease",)))[i % 3 == 0]
        score = int(rng.integers(0, 10)) + (0.1 * int(rng.integers(0, 10)) if fractional
                                            and i % 5 == 0 else 0)
        rows.append({"date": (AS_OF - timedelta(days=int(rng.integers(0, 300)))).isoformat(),
                     "service": ("a", "b", "c")[int(rng.integers(0, 3))] if i % 50 else "c",
                     "group": group, "dimension": dims[int(rng.integers(0, len(dims)))],
                     "score": score, "respondent": f"r{i}"})
    return b.rows("surveys", rows).write("csv")


@pytest.mark.parametrize("fractional", [False, True])
def test_value_scores_from_one_query_equal_a_query_per_key(tmp_path: Path,
                                                           fractional: bool) -> None:
    loaded = load_package(_package(tmp_path, fractional))
    cut = series.cut_of(Window(AS_OF).end)
    want = [s for keys in (["service", "group"], ["service", "group", "dimension"])
            for s in series._grouped(loaded.signals, "surveys", "date", cut, keys, "score",
                                     "value_score")]
    got = series._surveys(loaded.signals, cut)
    assert len(want) == 3 * 2 + 3 * 3 and [s.key for s in got] == [s.key for s in want]
    for g, w in zip(got, want, strict=True):
        assert g.index.dtype == w.index.dtype and g.values.dtype == w.values.dtype
        assert g.index.tolist() == w.index.tolist() and len(g) > 20
        assert g.values.tolist() == w.values.tolist(), g.key      # exact, not close
