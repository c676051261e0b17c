"""Every stakeholder group's value score, its variance and its promoters − detractors, for one
window at once, as arrays: perception's assess worked them out group by group in Python
(~3,300 groups a window on the large demo; a third of its CPU).

Bit for bit the floats of the per-group formulation (``perception._side`` and ``_pmd``, kept as
the reference and compared in tests/test_perception_sides.py): each sum is accumulated column
by column in the dimensions' name order, as Python's ``sum`` adds them one by one; +, −, ×, ÷
and √ are IEEE operations that NumPy rounds as Python does; squares go through Python's own
``**`` (the C library's ``pow``, which NumPy's ``square`` need not equal in the last bit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

# One window's side of a score test: the score, its variance and the number of answers.
Side = tuple[float | None, float | None, int]
# Promoters − detractors (points), one answer's variance and the number of answers.
Pmd = tuple[float, float, int]
Key = tuple[str, str]


def sides(table: Mapping[Key, Mapping[str, Any]], weight: Callable[[str, str], float],
          people: Mapping[Key, tuple[int, float]]) -> dict[Key, Side]:
    """Each (service, group)'s ``_side`` of ``table`` (dimension → its row), the group's
    weight of a dimension from ``weight(group, dimension)``."""
    keys = list(table)
    if not keys:
        return {}
    width = max(len(dims) for dims in table.values())
    # flat lists, one row of ``width`` cells a group (padding past its dimensions), made into
    # arrays at once: an array's item set one by one cost more than the sums it saved
    ws: list[float] = []
    means: list[float] = []
    sds: list[float] = []
    ns: list[int] = []
    count: list[int] = []
    who_n: list[float] = []
    who_sd: list[float] = []
    kept: dict[Key, float] = {}
    for key, dims in table.items():
        group = key[1]
        for d in sorted(dims):
            r = dims[d]
            wt = kept.get((group, d))
            if wt is None:
                wt = kept[(group, d)] = weight(group, d)
            ws.append(wt)
            means.append(r["mean"])
            sds.append(r["sd"] or 0.0)
            ns.append(r["n"])
        pad = width - len(dims)
        if pad:
            ws += [0.0] * pad
            means += [0.0] * pad
            sds += [0.0] * pad
            ns += [2] * pad
        count.append(len(dims))
        who = people.get(key)
        if who is not None and who[0] >= 2:
            who_n.append(who[0])
            who_sd.append(max(who[1], 1.0))
        else:
            who_n.append(0.0)
            who_sd.append(0.0)
    shape = (len(keys), width)
    w, mean = np.array(ws).reshape(shape), np.array(means).reshape(shape)
    sd, n = np.array(sds).reshape(shape), np.array(ns, dtype=np.int64).reshape(shape)
    on_row = np.arange(width) < np.array(count)[:, None]
    few = ((n < 2) & on_row).any(axis=1)                # a dimension answered by fewer than 2
    answers = np.where(on_row, n, 0).sum(axis=1).tolist()
    on_col = on_row.T
    people_n, people_sd = np.array(who_n), np.array(who_sd)
    total, weighted = np.zeros(len(keys)), np.zeros(len(keys))
    together, apart = np.zeros(len(keys)), np.zeros(len(keys))
    sd = np.maximum(sd, 1.0)
    w2, sd2 = _squared(w), _squared(sd)
    for j in range(width):
        on = on_col[j]
        total = np.where(on, total + w[:, j], total)
        weighted = np.where(on, weighted + w[:, j] * mean[:, j], weighted)
        together = np.where(on, together + w[:, j] * sd[:, j] / np.sqrt(n[:, j]), together)
        apart = np.where(on, apart + w2[:, j] * sd2[:, j] / n[:, j], apart)
    known = total != 0
    safe = np.where(known, total, 1.0)
    total2 = _squared(safe)
    score = weighted / safe
    moving = _squared(together) / total2                      # dimensions moving as one
    apart = apart / total2
    own = _squared(people_sd) / np.where(people_n >= 2, people_n, 1.0)   # their own means
    variance = np.where(people_n >= 2, np.where(own > apart, own, apart), moving)
    tested = known & ~few
    out: dict[Key, Side] = {}
    for key, k, s, v, t, a in zip(keys, known.tolist(), score.tolist(), variance.tolist(),
                                  tested.tolist(), answers, strict=True):
        out[key] = (s if k else None, v if t else None, a)
    return out


def pmds(table: Mapping[Key, Mapping[str, Any]],
         also: Mapping[Key, Mapping[str, Any]] | None = None) -> dict[Key, Pmd]:
    """Each (service, group)'s ``_pmd`` of ``table``; with ``also``, of both windows' answers
    together (the keys in both): the pooled variance of the drop's test. The counts are whole
    numbers, so their sums are exact in any order."""
    keys = [k for k in table if also is None or k in also]
    if not keys:
        return {}
    counts: list[float] = []
    for key in keys:
        k = p = d = 0
        for rows in (table[key], also[key] if also is not None else {}):
            for r in rows.values():
                k += r["n"]
                p += r["promoters"]
                d += r["detractors"]
        counts += (k, p, d)
    n, promoters, detractors = np.array(counts).reshape(len(keys), 3).T
    pro, det = promoters / n, detractors / n
    spread = pro + det - _squared(pro - det)
    floor = 1.0 / n
    var = 100 ** 2 * np.where(floor > spread, floor, spread)
    x = 100 * (pro - det)
    return {key: (a, v, int(c)) for key, a, v, c in
            zip(keys, x.tolist(), var.tolist(), n.tolist(), strict=True)}


def _squared(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``a ** 2`` element by element through Python's float power, as the per-group formulas
    squared (a few thousand values: a fraction of a millisecond)."""
    return np.array([v ** 2 for v in a.ravel().tolist()]).reshape(a.shape)
