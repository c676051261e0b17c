"""Grouped weekly sums rolled up to a coarser key, in NumPy: the value scores per (service,
group) from the query by (service, group, dimension) (``series._surveys``), one query fewer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def means(keys: list[Any], bounds: list[int], weeks: IntArray, sums: FloatArray,
          counts: FloatArray) -> tuple[list[Any], list[int], IntArray, dict[str, FloatArray]]:
    """Rows sorted by key and week, the run of ``keys[i]`` being rows ``bounds[i]:bounds[i +
    1]``, where ``keys`` (sorted) repeat as runs of equal coarser keys: the coarser keys, their
    runs' bounds, their weeks and the mean ``v = sums / counts`` of each (coarser key, week)."""
    if len(weeks) == 0:
        return [], [0], weeks, {"v": weeks.astype(np.float64)}
    new = np.array([i == 0 or k != keys[i - 1] for i, k in enumerate(keys)], dtype=bool)
    coarse = np.repeat(np.cumsum(new) - 1, np.diff(bounds))
    lo = int(weeks.min())
    span = int(weeks.max()) - lo + 1
    found, at = np.unique(coarse * span + (weeks - lo), return_inverse=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (np.bincount(at, sums, minlength=len(found))
                / np.bincount(at, counts, minlength=len(found)))
    starts = np.flatnonzero(new)
    return ([keys[i] for i in starts.tolist()],
            np.searchsorted(found // span, np.arange(len(starts) + 1)).tolist(),
            found % span + lo, {"v": mean})
