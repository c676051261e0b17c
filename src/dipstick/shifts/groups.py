"""Aggregated weekly rows split into runs per key: the step between the engine's grouped rows
and the series (:mod:`dipstick.shifts.series`), with NumPy.

A key the signals keep as an ENUM (:mod:`dipstick.engine.coded`) is turned into its codes at
the start of the query (:func:`early_codes`), not at the fetch: every later Narwhals step binds
its input's columns again, and the type of a 2,040-value ENUM is 53 KB of SQL to parse each
time (~6 ms a step, ~0.06 s of CPU a check's series); the same codes, the same groups.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, NamedTuple

import narwhals as nw
import numpy as np
import numpy.typing as npt

from dipstick.engine import arrays, coded_arrays, enum_codes

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Labels = dict[str, tuple[str, ...]]


def early_codes(frame: nw.LazyFrame[Any], keys: list[str]) -> tuple[nw.LazyFrame[Any], Labels]:
    """``frame`` with each of ``keys`` still an ENUM on DuckDB as its codes (``enum_code``:
    what :func:`~dipstick.engine.coded_arrays` fetches), and the ENUMs' values by code; as it
    is, and no labels, elsewhere (text, Spark). Group and compare such a key only as codes."""
    coded, labels = enum_codes(frame.to_native(), keys)
    return (nw.from_native(coded), labels) if labels else (frame, {})


def fetch(lf: nw.LazyFrame[Any], keys: list[str], labels: Labels | None = None
          ) -> tuple[dict[str, npt.NDArray[Any]], Labels]:
    """:func:`~dipstick.engine.coded_arrays` of ``lf``; with ``labels`` (from
    :func:`early_codes`), those keys are codes already: fetched as int64, -1 for a null."""
    if not labels:
        return coded_arrays(lf, keys)
    got = arrays(lf)
    for k in labels:
        v = got[k]
        if v.dtype.kind == "f":                  # a null code came as NaN
            v = np.where(np.isnan(v), -1, v)
        got[k] = np.asarray(v, dtype=np.int64)
    return got, labels

class Groups(NamedTuple):
    """Aggregated rows sorted by key and week: the run of key ``keys[i]`` is rows
    ``bounds[i]:bounds[i + 1]`` of ``weeks`` and ``columns``."""

    keys: list[tuple[str, ...]]
    bounds: list[int]
    weeks: IntArray
    columns: dict[str, FloatArray]

    def runs(self) -> list[tuple[tuple[str, ...], IntArray, dict[str, FloatArray]]]:
        """Per key: its weeks and its columns' values (views)."""
        return [(k, self.weeks[a:b], {c: v[a:b] for c, v in self.columns.items()})
                for k, (a, b) in zip(self.keys, pairwise(self.bounds), strict=True)]

    def finite(self, values: FloatArray) -> list[tuple[IntArray, FloatArray]]:
        """Per key: its weeks where ``values`` (aligned with the rows) is finite, and those
        values."""
        return _finite(self.weeks, values, self.bounds)


def _finite(weeks: IntArray, values: FloatArray, bounds: list[int]
            ) -> list[tuple[IntArray, FloatArray]]:
    """Per run ``bounds[i]:bounds[i + 1]`` of the rows: its weeks with a finite value and those
    values, as views of one filtered copy (one pass for all runs: ~36,000 series a check)."""
    ok = np.isfinite(values)
    w, v = weeks[ok], values[ok]
    at = np.concatenate(([0], np.cumsum(ok)))[bounds].tolist()
    return [(w[a:b], v[a:b]) for a, b in pairwise(at)]


def _split(lf: nw.LazyFrame[Any] | list[nw.LazyFrame[Any]], keys: list[str], cols: list[str],
           week: str = "wk", codes: Labels | None = None) -> Groups:
    """Collect once (or once per set of keys), sort by key and week, and find each key's run
    of rows. Sorted here, not by the engine: an ``ORDER BY`` of the text keys cost DuckDB more
    (0.17 s of CPU on the tickets' 318,000 weeks) than :func:`_order` does. A key still coded
    (:func:`~dipstick.engine.coded_arrays`, or ``codes`` from :func:`early_codes`) is handled
    as its codes; only each run's first row is named."""
    frames = lf if isinstance(lf, list) else [lf]
    got = [fetch(f, keys, codes) for f in frames]
    labels = got[0][1]
    columns = {c: np.concatenate([g[c] for g, _ in got]) for c in got[0][0]}
    weeks = np.asarray(columns[week], dtype=np.int64)
    ranked = _ranked([columns[k] for k in keys], [labels.get(k) for k in keys])
    order = _fold(ranked, weeks)
    weeks = weeks[order]
    vals = {c: np.asarray(columns[c], dtype=np.float64)[order] for c in cols}
    if len(weeks) == 0:
        return Groups([], [0], weeks, vals)
    change = np.zeros(len(weeks), dtype=bool)
    change[0] = True
    for ranks, _ in ranked:     # equal ranks, equal keys: compared as integers, not text
        r = ranks[order]
        change[1:] |= r[1:] != r[:-1]
    starts = np.flatnonzero(change)
    first = order[starts]       # only each run's first row is looked up, named or coded
    named = [columns[k][first].tolist() if k not in labels else
             [labels[k][c] if c >= 0 else None for c in columns[k][first].tolist()]
             for k in keys]
    found = [tuple(map(str, row)) for row in zip(*named, strict=True)]
    return Groups(found, [*starts.tolist(), len(weeks)], weeks, vals)


def _order(keys: list[npt.NDArray[Any]], weeks: npt.NDArray[Any],
           labels: list[tuple[str, ...] | None] | None = None) -> IntArray:
    """The rows' order by key and week, as the engine's ``ORDER BY …, week NULLS FIRST`` sorts
    them. A key with ``labels`` holds codes into them (-1 for a null) and sorts by its
    labels."""
    return _fold(_ranked(keys, labels or [None] * len(keys)), np.asarray(weeks, dtype=np.int64))


def _ranked(keys: list[npt.NDArray[Any]], labels: list[tuple[str, ...] | None]
            ) -> list[tuple[IntArray, int]]:
    return [_rank(k) if n is None else _rank_codes(k, n) for k, n in zip(keys, labels,
                                                                           strict=True)]


def _fold(ranked: list[tuple[IntArray, int]], weeks: IntArray) -> IntArray:
    """Each key column as its rank among its few distinct values, folded with the week into
    one integer: one ``argsort``, 5x cheaper than a ``lexsort`` of the columns (the rows of a
    grouped result are distinct, so any sort gives the one order)."""
    if len(weeks) == 0:
        return np.zeros(0, dtype=np.int64)
    lo = int(weeks.min())
    folded, size = weeks - lo, int(weeks.max()) - lo + 1
    for ranks, n in reversed(ranked):
        if size * n >= 2 ** 62:     # too many to fold into one int64: sort column by column
            return np.lexsort([weeks] + [r for r, _ in reversed(ranked)])
        folded, size = folded + ranks * size, size * n
    return np.argsort(folded)


def _rank(values: npt.NDArray[Any]) -> tuple[IntArray, int]:
    """Each value's rank among the distinct values, and how many there are, in the order of an
    engine's ``ORDER BY … NULLS FIRST`` of text: missing first, then by code point (DuckDB
    compares UTF-8 bytes, the same order)."""
    items = values.tolist()
    found = set(items)
    distinct = [None] * (None in found) + sorted(found - {None})
    code = {x: i for i, x in enumerate(distinct)}
    return (np.fromiter(map(code.__getitem__, items), dtype=np.int64, count=len(items)),
            len(distinct))


def _rank_codes(codes: IntArray, labels: tuple[str, ...]) -> tuple[IntArray, int]:
    """:func:`_rank`'s order for codes into ``labels`` (-1 a null): a null 0, each label 1 +
    its place among the labels by code point; ranks of absent labels are skipped, which
    leaves the order the same."""
    by_text = sorted(range(len(labels)), key=labels.__getitem__)
    table = np.zeros(len(labels) + 1, dtype=np.int64)     # the last entry: code -1
    table[by_text] = np.arange(1, len(labels) + 1)
    return table[codes], len(labels) + 1
