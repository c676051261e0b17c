"""The weekly series' median resolution hours by ticket type, on DuckDB by one sort in NumPy.

DuckDB's grouped ``median`` keeps every value of every group in its own vector: the two
weekly medians of the large demo's 5.3 M tickets cost ~0.55 s of CPU inside the series' query.
Fetching the resolved incidents' and requests' times to resolution (as microseconds, made whole
minutes here) with their (service, week, type) and sorting them once as one int64 key costs about
half of that and gives the same numbers: the hours are ``minutes / 60.0`` (order-preserving, so
the middle values are the same tickets), and DuckDB's median of doubles is the middle value, or
``(lo + hi) / 2`` of the middle two (``tests/test_series_medians.py`` holds both to DuckDB's
own). Elsewhere (Spark) the engine takes the medians, on the executors: the driver never holds a
row per ticket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import narwhals as nw
import numpy as np
import numpy.typing as npt

from dipstick.engine import epoch_us, one_of
from dipstick.shifts.groups import Labels, fetch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KINDS = ("incident", "request")     # the types with a resolution series, by their index
MINUTE_US = 60_000_000


def in_numpy(frame: nw.LazyFrame[Any]) -> bool:
    """Whether the medians of ``frame``'s tickets are taken here rather than by the engine."""
    return frame.implementation is nw.Implementation.DUCKDB


def rows(weekly: nw.LazyFrame[Any], frame: nw.LazyFrame[Any], codes: Labels | None = None
         ) -> tuple[list[str | None], IntArray, IntArray, IntArray, IntArray]:
    """Of ``weekly`` (the tickets before the cut, with ``wk``), every resolved incident and
    request: the service names, and per row its service's index among them, its week, its
    type's index in :data:`KINDS` and its whole minutes to resolution. The microseconds
    between come from DuckDB and are truncated to minutes here (:func:`whole_minutes`):
    Narwhals' portable floor division in SQL cost ~0.07 s of CPU on 4.5 M tickets. ``codes``:
    the ENUMs ``frame`` holds as codes already (:func:`~dipstick.shifts.groups.early_codes`)."""
    lf = (weekly.filter(one_of("type", KINDS) & ~nw.col("resolved_at").is_null())
          .select("service", "wk", _r=(nw.col("type") == KINDS[1]).cast(nw.Int8),
                  _us=epoch_us("resolved_at", frame) - epoch_us("opened_at", frame)))
    got, labels = fetch(lf, ["service"], codes)
    names, index = service_codes(got, labels)
    service, wk, kind, us = (np.asarray(v, dtype=np.int64)
                             for v in (index, got["wk"], got["_r"], got["_us"]))
    return names, service, wk, kind, whole_minutes(us)


def whole_minutes(us: IntArray) -> IntArray:
    """Whole minutes of differences in microseconds, truncated toward zero (negative when the
    end is earlier): :func:`dipstick.engine.minutes_between`'s last step, on fetched
    integers."""
    minutes = us // MINUTE_US
    earlier = us < 0
    if earlier.any():
        minutes[earlier] = -((-us[earlier]) // MINUTE_US)
    return minutes


def service_codes(got: dict[str, Any], labels: dict[str, tuple[str, ...]]
                  ) -> tuple[list[str | None], IntArray]:
    """The service names of rows fetched by :func:`~dipstick.engine.coded_arrays` and each
    row's index among them: the ENUM's values as they are (a null one more name, as -1
    indexes it), or the distinct texts in order of first appearance."""
    if "service" in labels:
        names: list[str | None] = list(labels["service"])
        codes = np.asarray(got["service"], dtype=np.int64)
        if (codes < 0).any():
            names.append(None)
            codes = np.where(codes < 0, len(names) - 1, codes)
        return names, codes
    values = got["service"].tolist()
    distinct = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return list(distinct), np.fromiter(map(distinct.__getitem__, values), np.int64,
                                       count=len(values))


def grouped(groups: IntArray, values: IntArray, divisor: float) -> tuple[IntArray, FloatArray]:
    """Each distinct group (ascending; ``groups`` are whole numbers from 0) and the median of
    its ``values / divisor`` as DuckDB's ``median`` gives it: the middle value, or the mean
    ``(lo + hi) / 2`` of the middle two. The groups' sizes by a count, the values by one sort
    of (group, value) folded into an int64 (lexsort where it does not fit)."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    counts = np.bincount(groups)
    found = np.flatnonzero(counts)
    n = counts[found]
    starts = np.cumsum(n) - n
    middle = (starts + (n - 1) // 2, starts + n // 2)
    lo, span = int(values.min()), int(values.max()) - int(values.min()) + 1
    if len(counts) * span < 2 ** 62:
        key = groups * span                 # in place from here: no 36 MB temporaries
        key += values
        key -= lo
        key.sort()
        low, high = ((key[m] % span + lo) / divisor for m in middle)
    else:       # too wide to fold into one int64
        ordered = values[np.lexsort((values, groups))]
        low, high = (ordered[m] / divisor for m in middle)
    return found, (low + high) / 2


def weekly(parts: Iterable[tuple[list[str | None], IntArray, IntArray, IntArray, IntArray]],
           keys: list[tuple[str, ...]], weeks: IntArray, bounds: list[int]
           ) -> dict[str, FloatArray]:
    """``res_incident`` and ``res_request`` of the series' grouped rows (``keys`` with their
    runs ``bounds`` of ``weeks``, sorted by key and week) from :func:`rows` of each set of
    services, taken one set at a time: NaN for a type without a resolved ticket that week,
    as the engine's median of no values is null."""
    out = {f"res_{t}": np.full(len(weeks), np.nan) for t in KINDS}
    if not keys:
        return out
    code = {k: i for i, (k,) in enumerate(keys)}
    lo = int(weeks.min())
    span = int(weeks.max()) - lo + 1
    row_key = (np.repeat(np.arange(len(keys), dtype=np.int64), np.diff(bounds)) * span
               + (weeks - lo))
    for names, service, wk, kind, minutes in parts:
        if not len(service):
            continue
        index = np.array([code.get(str(n), -1) for n in names], dtype=np.int64)
        group = index[service]          # ((service * span) + week) * 2 + kind, in place
        group *= span
        group += wk
        group -= lo
        group *= 2
        group += kind
        found, medians = grouped(group, minutes, 60.0)
        at = np.searchsorted(row_key, found // 2)
        for i, t in enumerate(KINDS):
            mine = found % 2 == i
            out[f"res_{t}"][at[mine]] = medians[mine]
    return out
