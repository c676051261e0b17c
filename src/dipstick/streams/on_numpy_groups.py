"""Grouped durations for a large state log's discovery in NumPy (:mod:`dipstick.streams.on_numpy`):
count, exact sum, extremes and DuckDB's median per group, from a radix sort of small keys and a
partition per group; the directly-follows pairs and their source activities from one sort; and
the per-event case numbers and positions in 32 bits where the log fits.

Every full-length temporary here is ~10 MB at 1.27 M events: a pass over memory and, the first
time the heap reaches that size, ~2,500 fresh pages the kernel faults in (docs/benchmarks.md,
session 20, the lead's "bimodal" note). So work shared between two answers is done once, and
arrays are as narrow as their values allow (session 21)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

# Up to this many groups a Python loop of partitions beats sorting all values (a partition's
# call costs a few µs)
PARTITIONED_GROUPS = 4_096


@dataclass(frozen=True)
class Groups:
    """Per group present (ascending keys): count, exact sum, least, greatest and median."""

    keys: I64
    count: I64
    total: I64
    lo: I64
    hi: I64
    median: list[float]


def index_type(n: int) -> type[np.signedinteger[Any]]:
    """The narrower of int32 and int64 that holds every index, case number and position of
    ``n`` events (each at most ``n``)."""
    return np.int32 if n < 2**31 else np.int64


def positions(starts: Any, n: int, dtype: type[np.signedinteger[Any]]) -> Any:
    """Each event's 1-based position in its case, the events in case order and ``starts``
    each case's first (ascending, from 0): ones, each case's first taking back the previous
    case's length, summed in place. One array of ``dtype``; ``arange(n) - starts[case] + 1``
    made four of int64 and a gather."""
    pos = np.ones(n, dtype)
    pos[starts[1:]] = 1 - np.diff(starts)
    np.cumsum(pos, out=pos)
    return pos


def secs(us: Any) -> float:
    """Integer microseconds as seconds, as the SQL divides them (a double over 10⁶)."""
    return float(us) / 1_000_000


def between(lo: float, hi: float, d: float) -> float:
    """DuckDB's interpolation ``lo · (1 − d) + hi · d`` as its build evaluates it: one fused
    multiply-add, ``fma(lo, 1 − d, hi · d)`` (the unfused forms differ in the last bit on
    some quantiles: measured). Exact in rationals, then rounded once, as an fma is."""
    if lo == hi:
        return lo
    return float(Fraction(lo) * Fraction(1 - d) + Fraction(hi * d))


def small(keys: Any) -> Any:
    """Non-negative integer keys as int16 when they fit: NumPy's stable sort of 16-bit integers
    is a radix sort (linear), of wider ones a merge sort."""
    return keys.astype(np.int16) if len(keys) and int(keys.max()) < 2**15 else keys


def follows(src: I64, dst: I64, us: I64, acts: int) -> tuple[Groups, Groups]:
    """The times to the next event (``us``, from an event of activity code ``src`` to one of
    ``dst``) grouped twice: by directly-follows pair (key ``src × acts + dst``) and by source.

    One stable radix sort of the pair keys when they fit 16 bits serves both: a source's pairs
    are adjacent keys, so its values are adjacent too, and its count, sum and extremes are its
    pairs'. Grouping each apart sorted and gathered the ~1.1 M values of a 1.27 M-event log
    twice (docs/benchmarks.md, session 21). Else each by :func:`grouped`."""
    pair = src * acts
    pair += dst
    key = small(pair)
    if len(us) and key.dtype == np.int16:
        counts = np.bincount(key)
        keys = np.flatnonzero(counts)
        if len(keys) <= PARTITIONED_GROUPS:
            values = us[np.argsort(key, kind="stable")]
            count = counts[keys]
            begin = np.cumsum(count) - count
            pairs = Groups(keys, count, np.add.reduceat(values, begin),
                           np.minimum.reduceat(values, begin),
                           np.maximum.reduceat(values, begin), _medians(values, begin, count))
            source = keys // acts
            first = np.flatnonzero(np.append(True, source[1:] != source[:-1]))
            n = np.add.reduceat(count, first)
            # the pairs' medians are taken: the sources' may reorder the values in place
            by_source = Groups(source[first], n, np.add.reduceat(pairs.total, first),
                               np.minimum.reduceat(pairs.lo, first),
                               np.maximum.reduceat(pairs.hi, first),
                               _medians(values, begin[first], n, in_place=True))
            return pairs, by_source
    return grouped(pair, us), grouped(src, us)


def grouped(group: I64, us: I64) -> Groups:
    """Integer microseconds grouped by a non-negative integer key, from one sort of the two
    packed into an integer when they fit in 63 bits (else a ``lexsort``): counts, sums (in
    int64, exact), extremes and DuckDB's ``median`` (the middle value, or :func:`between`
    the middle two at 0.5), in seconds where the SQL gives seconds."""
    if not len(us):
        e = np.zeros(0, np.int64)
        return Groups(e, e, e, e, e, [])
    keys16 = small(group)
    if keys16.dtype == np.int16:
        found = _by_partition(keys16, us)
        if found is not None:
            return found
    lo_us = int(us.min())
    span = int(us.max()) - lo_us + 1
    if span * (int(group.max()) + 1) < 2**62:
        packed = np.sort(group * span + (us - lo_us))
        keys, values = packed // span, packed % span + lo_us
    else:
        o = np.lexsort((us, group))
        keys, values = group[o], us[o]
    new = np.empty(len(keys), bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    begin = np.flatnonzero(new)
    end = np.append(begin[1:], len(keys))
    count = end - begin
    mid_lo, mid_hi = values[begin + (count - 1) // 2], values[begin + count // 2]
    median = [between(secs(x), secs(y), 0.5) for x, y in zip(mid_lo, mid_hi, strict=True)]
    return Groups(keys[begin], count, np.add.reduceat(values, begin), values[begin],
                  values[end - 1], median)


def _by_partition(group: Any, us: I64) -> Groups | None:
    """:func:`grouped` for 16-bit keys without sorting the values: a stable radix sort of the
    keys gathers each group's values side by side, and each group's middle two come from a
    partition (linear) — a third of the packed sort's time on 1.27 M events (docs/benchmarks.md,
    session 15). None when there are so many groups that the loop over them costs more."""
    counts = np.bincount(group)
    keys = np.flatnonzero(counts)
    if len(keys) > PARTITIONED_GROUPS:
        return None
    values = us[np.argsort(group, kind="stable")]
    count = counts[keys]
    begin = np.cumsum(count) - count
    return Groups(keys, count, np.add.reduceat(values, begin),
                  np.minimum.reduceat(values, begin), np.maximum.reduceat(values, begin),
                  _medians(values, begin, count))


def _medians(values: I64, begin: Any, count: Any, in_place: bool = False) -> list[float]:
    """DuckDB's median of each group ``values[b:b + k]`` in seconds, from its middle two by a
    partition: of a copy, or (``in_place``) of the group's own values, reordered."""
    out = []
    for b, k in zip(begin.tolist(), count.tolist(), strict=True):
        lo, hi = (k - 1) // 2, k // 2
        part = values[b:b + k]
        if in_place:
            part.partition((lo, hi))
        else:
            part = np.partition(part, (lo, hi))
        out.append(between(secs(part[lo]), secs(part[hi]), 0.5))
    return out
