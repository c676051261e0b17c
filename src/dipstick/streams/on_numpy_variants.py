"""A large state log's variants in NumPy (:mod:`dipstick.streams.on_numpy`): each case's
sequence identified as the SQL does (its length and two sums of a hash of (activity, position),
:data:`dipstick.engine.discovery_sql.VARIANT_HASH`), the cases grouped by it, and the most
frequent variants with their representative case."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dipstick.engine.discovery_sql import VARIANT_HASH

I64 = npt.NDArray[np.int64]


def variant_hash(code: Any, pos: Any, i: int) -> I64:
    """``discovery_sql.variant_hash`` of (code, position), 1-based as there, in int64 (no overflow:
    every product stays below 2⁶²); computed once per (code, position) and looked up."""
    acts, longest = int(code.max()) + 1, int(pos.max()) + 1
    if acts * longest > len(code):   # a table bigger than the events: compute each
        return _hash(code + 1, pos.astype(np.int64), i)
    looked_up: I64 = _table(acts, longest, i)[code, pos]
    return looked_up


def variant_hashes(code: Any, pos: Any) -> tuple[I64, I64]:
    """Both :func:`variant_hash` es, looked up by one flat index (code × longest + position)
    shared by the two ``take`` s: a 2-D fancy index costs about what the flat index and both
    takes do together."""
    acts, longest = int(code.max()) + 1, int(pos.max()) + 1
    if acts * longest > len(code):
        return variant_hash(code, pos, 0), variant_hash(code, pos, 1)
    at = np.multiply(code, longest, dtype=np.int64)
    at += pos
    return (np.take(_table(acts, longest, 0).ravel(), at),
            np.take(_table(acts, longest, 1).ravel(), at))


def _table(acts: int, longest: int, i: int) -> I64:
    """:func:`_hash` of every (code, position) below (acts, longest), as a table."""
    return _hash(np.arange(1, acts + 1, dtype=np.int64)[:, None],
                 np.arange(longest, dtype=np.int64)[None, :], i)


def _hash(k: Any, at: Any, i: int) -> I64:
    a, b, c, p = VARIANT_HASH[i]
    x = (k * a + at * b + c) % p
    y = (x * x) % p
    h: I64 = ((y + at * 31) % p * ((y % 65_521) + 1)) % p
    return h


def variants(code: Any, pos: Any, starts: Any, ends: Any, tp_us: I64, rank: Any,
             cases_text: Any, top: int) -> dict[str, Any]:
    """Cases grouped by (length, the two hash sums) as the SQL does; each variant's cases,
    mean throughput and representative (its least case id in text order, ``rank``)."""
    length = ends - starts + 1
    h0, h1 = (np.add.reduceat(h, starts) for h in variant_hashes(code, pos))
    o, new = _adjacent(length, h0, h1)
    begin = np.flatnonzero(new)
    count = np.diff(np.append(begin, len(o)))
    tp_sum = np.add.reduceat(tp_us[o], begin)
    rep = np.minimum.reduceat(rank[o], begin)
    best = np.lexsort((rep, -count))[:top]
    case_at = np.empty(len(cases_text), np.int64)   # a case's index in ``starts`` by its rank
    case_at[rank] = np.arange(len(rank))
    found, sequences = [], []
    for v in best:
        ci = int(case_at[rep[v]])
        name = str(cases_text[rep[v]])
        found.append({"cases": int(count[v]), "tp": float(tp_sum[v]) / 1_000_000 / int(count[v]),
                      "rep": name})
        sequences.append({"case_id": name,
                          "acts": [int(c) + 1 for c in code[starts[ci]:ends[ci] + 1]]})
    return {"variants": found, "sequences": sequences, "variant_count": len(begin)}


def _adjacent(length: I64, h0: I64, h1: I64) -> tuple[Any, Any]:
    """The cases in an order where equal (length, h0, h1) are adjacent, and where each new
    triple starts: one ``argsort`` of the length and h0 packed in an integer (~2 ms for 150 k
    cases, a tenth of a three-key ``lexsort``) when they fit and h1 agrees within their runs
    (two sequences with one length and h0 but not h1: practically never), else the lexsort.
    Which order the groups come in is free: their counts, sums and least ranks are not."""
    span = int(h0.max()) + 1   # sums of non-negative hashes
    if span * (int(length.max()) + 1) < 2**63:
        key = length * span + h0
        o = np.argsort(key)
        k, k2 = key[o], h1[o]
        same = k[1:] == k[:-1]
        if not bool((same & (k2[1:] != k2[:-1])).any()):
            return o, np.concatenate(([True], ~same))
    o = np.lexsort((h1, h0, length))
    k0, k1, k2 = length[o], h0[o], h1[o]
    new = np.empty(len(o), bool)
    new[0] = True
    new[1:] = (k0[1:] != k0[:-1]) | (k1[1:] != k1[:-1]) | (k2[1:] != k2[:-1])
    return o, new
