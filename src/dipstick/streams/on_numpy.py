"""The aggregates of a large state log's discovery computed in NumPy over its typed columns.

DuckDB's visits table orders every event by (case, time, order) in a window partitioned by the
case text, then a dozen grouped aggregates read it: ~1.1 s CPU of a 1.27 M-event log's 1.8 s
(docs/benchmarks.md, session 13). Here DuckDB only reads and types the columns (a 64-bit hash
of the case, the time in microseconds, the order, the activity's code) and NumPy does the rest:
one ``lexsort`` of integers — skipped when the export is already in case order — then segment
sums, ``bincount`` and sorts of packed integers for exact medians.

Same definitions as :func:`dipstick.engine.discovery_sql.aggregates` (state reading, with or
without ``collapse``), and the same result dict, so :mod:`dipstick.streams.on_duckdb` turns
either into the :class:`Discovery`. Durations are summed as integer microseconds: exact, where a
sum of float seconds depends on its order (equal on logs with whole seconds, the usual export).
Two case ids with one hash (the distinct ids' hashes are checked) or a missing case, time or
order are answered by ``None``: the caller then runs the SQL. Lifecycle logs are the SQL's;
resources and services are :mod:`dipstick.streams.on_numpy_people`'s. One-threaded NumPy:
cheaper in CPU than DuckDB's window, not always in wall on an idle machine (docs/benchmarks.md,
session 13).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from dipstick.engine.discovery_sql import THROUGHPUT_QUANTILES, LogShape
from dipstick.engine.sql import literal
from dipstick.streams.on_numpy_groups import (
    Groups,
    between,
    follows,
    index_type,
    positions,
    secs,
    small,
)
from dipstick.streams.on_numpy_people import fetch, handovers, people, services
from dipstick.streams.on_numpy_variants import variants

I64 = npt.NDArray[np.int64]
_EPOCH = datetime(1970, 1, 1)
_LOW = 26   # the low bits :func:`_sums` adds apart: 2²⁶ × up to 2²⁷ values stays below 2⁵³


def applies(log: LogShape) -> bool:
    """Whether this path computes the log's discovery: a state log (lifecycle pairing is the
    SQL's); its resources and services are :mod:`dipstick.streams.on_numpy_people`'s."""
    return not log.lifecycle


def aggregates(rel: duckdb.DuckDBPyRelation, log: LogShape, wait_names: Sequence[str],
               collapse: bool, top: int) -> dict[str, Any] | None:
    """``discovery_sql.aggregates`` of a state log (:func:`applies`), or None when the SQL
    must run: two case ids (or resources, or services) share a hash, or a case, time or order
    is missing."""
    found = people(rel, log)
    if found is None:
        return None
    cols = _columns(rel, log, found.select)
    cases_text, cases_hash = _cases(rel)
    row = _rows(cols.pop("_r", None))
    # a masked array (NULLs) told by its type: ``np.ma`` would import numpy.ma (10-25 ms CPU)
    if any(type(a) is not np.ndarray for a in (*cols.values(), cases_text)):
        return None   # a missing case, time or order (not in a log read by dipstick): SQL
    by_hash = np.argsort(cases_hash)
    hashes = cases_hash[by_hash]
    if bool((hashes[1:] == hashes[:-1]).any()):
        return None   # two case ids, one hash
    try:
        ordered = _case_order(cols["h"], cols["t"], cols["s"], row, hashes)
    except _MissingRow:
        return None   # a missing file row, needed at a tie: the SQL orders by it
    o, key, t = ordered.order, ordered.case, ordered.t
    h, code, res, srv = cols["h"], cols["code"][o], cols.get("_res"), cols.get("_srv")
    del cols, ordered   # freed for the arrays to come: fewer fresh pages for the kernel to zero
    new = np.empty(len(t), bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    del key
    hand = None if res is None else handovers(res, o, new, found.null_resource)
    del res
    at = np.arange(len(t))[o] if isinstance(o, slice) else o   # each event's index as fetched
    if collapse:   # consecutive events of one activity in a case: one visit
        keep = new.copy()
        np.not_equal(code[1:], code[:-1], out=keep[1:])
        keep |= new
        at, t, code, new = at[keep], t[keep], code[keep], new[keep]
    # each case's rank in text order (the SQL's min(case_id) picks a variant's representative)
    rank = by_hash[np.searchsorted(hashes, h[at[new]])]
    srv = None if srv is None else srv[at]
    del h, o, at   # ~20 MB the aggregates' arrays reuse instead of fresh pages
    out = _aggregate(rank, t, code, new, cases_text, log, wait_names, top)
    out["handovers"] = hand   # of the events before collapse; the services of the visits
    out["services"] = None if srv is None else services(srv, code, len(log.activities), found)
    return out


def _columns(rel: duckdb.DuckDBPyRelation, log: LogShape, extra: str) -> dict[str, Any]:
    """The typed columns in the relation's order: case hash, time (µs), order and the
    activity's code (0-based, in name order), then the ``extra`` select items and the file
    row (``_r``, when the log has one). All from one scan: a relation need not give its rows
    in one order twice (a window's output, as a check's recent cases, does not: session 22
    found ties broken by a second scan's rows there)."""
    enum = ", ".join(literal(a) for a in log.activities)
    file_row = ", _row AS _r" if "_row" in log.columns else ""
    return fetch(rel, f"SELECT hash(case_id) AS h, epoch_us(timestamp) AS t, seq AS s, "
                       f"CAST(enum_code(CAST(activity AS ENUM({enum}))) AS SMALLINT) AS code"
                       f"{extra}{file_row} FROM _e")


def _cases(rel: duckdb.DuckDBPyRelation) -> tuple[Any, Any]:
    """The distinct case ids in text order (the SQL's ``min(case_id)``) and their hashes."""
    res = fetch(rel, "SELECT case_id, hash(case_id) AS h FROM (SELECT DISTINCT case_id "
                      "FROM _e) ORDER BY case_id")
    return res["case_id"], res["h"]


# The file row of each event, in the columns' order, or None when the log has none
Rows = Callable[[], "I64 | None"]


class _MissingRow(Exception):
    """A file row is missing (NULL) where it would break a tie: the SQL's to answer."""


def _rows(r: Any) -> Rows:
    """The file row fetched with the other columns (None: the log has none) as the orderings
    ask for it: a NULL among them (a masked array) matters only at a tie they break."""
    def row() -> I64 | None:
        if r is not None and type(r) is not np.ndarray:
            raise _MissingRow   # a masked array: a NULL among them
        return r

    return row


@dataclass(frozen=True)
class _Ordered:
    """The events in case order: the permutation (``slice(None)`` when the fetch order is
    already it), a key per event in that order that is equal exactly within a case (the hash,
    or its leading bits), and the times in that order — gathered once, where the order was
    checked (a random gather of 1.27 M values costs ~15 ms)."""

    order: Any
    case: Any
    t: I64


def _case_order(h: Any, t: I64, s: I64, row: Rows, hashes: Any) -> _Ordered:
    """The events ordered by (case hash, time, order, file row); ``hashes`` are the distinct
    case hashes, ascending.

    No permutation (a slice of all) when the export already is in case order (each case's
    events adjacent and in time order: one cheap pass). Else, when each case's events come in
    time order, only not adjacent (an export sorted by time), a stable sort by case: one ``sort``
    of integers packing the hash's leading bits (when those still tell every case apart) with
    the event's index — a fifth of a ``lexsort``'s time (docs/benchmarks.md, session 14) —
    then the same pass. Else one ``lexsort`` of (case hash, time), the order and row consulted
    only where a case has events at one time (exports with whole minutes have many), the row
    (``row()``) only where one has two at one time and order."""
    same = h[1:] == h[:-1]
    if len(h) - int(same.sum()) == len(hashes) and bool((_later(t, s, row, same) | ~same).all()):
        return _Ordered(slice(None), h, t)
    found = _stable_by_case(h, t, s, row, hashes)
    if found is not None:
        return found
    o = np.lexsort((t, h))
    hs, ts = h[o], t[o]
    tie = (hs[1:] == hs[:-1]) & (ts[1:] == ts[:-1])
    if bool(tie.any()):   # sort each tie's events (contiguous, in place) by order and row
        at = np.zeros(len(o), bool)
        at[1:] |= tie
        at[:-1] |= tie
        idx = np.flatnonzero(at)
        sub = o[idx]
        r = row()
        keys = (s[sub], t[sub], h[sub]) if r is None else (r[sub], s[sub], t[sub], h[sub])
        o[idx] = sub[np.lexsort(keys)]   # within a tie, hash and time are equal: hs, ts hold
    return _Ordered(o, hs, ts)


def _stable_by_case(h: Any, t: I64, s: I64, row: Rows, hashes: Any) -> _Ordered | None:
    """The events stably sorted by case — one ``sort`` of the hash's leading 63 − b bits
    packed with the event's b-bit index — when that is their order by (case, time, order,
    row): each case's events come in that order in the file. None when they do not, or when
    two cases share those leading bits (``hashes``: the distinct ones, ascending). The order
    and row are gathered only at a case's events with one time (a gather of every event's
    costs more than the check)."""
    n = len(h)
    bits = max(n - 1, 1).bit_length()
    shift = np.uint64(bits + 1)
    lead = hashes >> shift
    if bits >= 48 or bool((lead[1:] == lead[:-1]).any()):
        return None
    # packed in place: each operator's fresh 10 MB result (five of them) was a pass over
    # memory and ~2,500 new pages for the kernel to fault in (docs/benchmarks.md, session 21)
    packed = (h >> shift).view(np.int64)   # below 2⁶³ after the shift
    packed <<= bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    o = packed & ((1 << bits) - 1)
    packed >>= bits
    case = packed
    same = case[1:] == case[:-1]
    to = t[o]
    if not bool((~same | (to[1:] >= to[:-1])).all()):
        return None
    tie = np.flatnonzero(same & (to[1:] == to[:-1]))
    if len(tie):
        a, b = o[tie], o[tie + 1]
        later = s[b] > s[a]
        tied = s[b] == s[a]
        r = row() if bool(tied.any()) else None
        if r is not None:
            later |= tied & (r[b] > r[a])
        if not bool(later.all()):
            return None
    return _Ordered(o, case, to)


def _later(t: I64, s: I64, row: Rows, same: Any) -> Any:
    """Whether each event is later than the one before it in (time, order, row); the row is
    fetched only when two events of one case (``same``) have one time and order."""
    at = t[1:] == t[:-1]
    later = (t[1:] > t[:-1]) | (at & (s[1:] > s[:-1]))
    at &= s[1:] == s[:-1]
    at &= same
    r = row() if bool(at.any()) else None
    if r is not None:
        later |= at & (r[1:] > r[:-1])
    return later


def _aggregate(rank: Any, t: I64, code: Any, new: Any, cases_text: Any, log: LogShape,
               wait_names: Sequence[str], top: int) -> dict[str, Any]:
    n = len(t)
    acts = len(log.activities)
    starts = np.flatnonzero(new)
    ncases = len(starts)
    # each event's case number and position in its case, by running sums in 32 bits where n
    # fits (a bool's cumsum into int64 costs ~7× one into int32; half the bytes to write)
    idx = index_type(n)
    case = np.cumsum(new, dtype=idx)
    case -= 1
    pos = positions(starts, n, idx)
    last = np.empty(n, bool)
    last[:-1] = new[1:]
    last[-1] = True
    nxt = ~last
    code = code.astype(np.int64)
    to_next_us = np.empty(n, np.int64)
    np.subtract(t[1:], t[:-1], out=to_next_us[:-1])
    to_next_us[last] = 0
    waiting = np.zeros(acts, bool)
    for i, a in enumerate(log.activities):
        waiting[i] = a in set(wait_names)
    wait_row = waiting[code]
    again = _again(case, code)
    # rework: a repeat not straight back from waiting (a case's first event is no repeat, so
    # the previous row's state, another case's there, never counts)
    prev_wait = np.zeros(n, bool)
    prev_wait[1:] = wait_row[:-1]
    rework = again & ~prev_wait
    ends = np.append(starts[1:], n) - 1
    tp_us = t[ends] - t[starts]
    # gathered once, each read twice or three times below (~4 ms a gather of 1.27 M events)
    src, us, redo = code[nxt], to_next_us[nxt], code[rework]
    pairs, per_activity = follows(src, code[1:][nxt[:-1]], us, acts)
    reworked = _pair_keys(case[rework], redo, acts)
    out: dict[str, Any] = {
        "head": {"n": n, "cases": ncases, "first": _time(int(t.min())),
                 "last": _time(int(t.max())), "paired": 0},
        "services": None, "handovers": None,
        "start_activities": _counted(code[starts], acts),
        "end_activities": _counted(code[last], acts),
        "edges": _edges(pairs, acts),
        "activities": _activities(code, pos, again, (src, us, per_activity), to_next_us,
                                  (rework, redo), waiting),
        "rework_cases": _rework_cases(reworked, ncases * acts, acts),
        "throughput": _throughput(tp_us, t[starts]),
    }
    out.update(variants(code, pos, starts, ends, tp_us, rank, cases_text, top))
    return out


def _time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _sums(group: Any, values: Any, size: int) -> I64:
    """Exact integer sums per group: ``bincount``'s float weights when no partial sum can
    reach 2⁵³ (positions) — for wider non-negative values (durations in µs) two of them, of
    the values' high bits and of their low 26 bits, joined in int64 (two thirds of the
    sort's time) — else the values gathered by a stable radix sort of 16-bit keys and summed
    per run, else a scatter-add (``np.add.at``, several times slower)."""
    n = len(values)
    if n and int(values.min()) >= 0:
        top = int(values.max())
        # every partial sum is a whole number below 2⁵³, so exact as a double
        if top * n < 2**53:
            return np.bincount(group, weights=values, minlength=size).astype(np.int64)
        if (top >> _LOW) * n < 2**53 and n < 2 ** (53 - _LOW):
            hi = np.bincount(group, weights=values >> _LOW, minlength=size).astype(np.int64)
            lo = np.bincount(group, weights=values & ((1 << _LOW) - 1), minlength=size)
            return (hi << _LOW) + lo.astype(np.int64)
    out = np.zeros(size, np.int64)
    keys16 = small(group)
    if keys16.dtype != np.int16:
        np.add.at(out, group, values)
        return out
    counts = np.bincount(keys16, minlength=size)
    keys = np.flatnonzero(counts)
    if len(keys):
        begin = np.cumsum(counts[keys]) - counts[keys]
        # 32-bit positions too: add.reduceat sums small integers in int64, as add.reduce does
        out[keys] = np.add.reduceat(values[np.argsort(keys16, kind="stable")], begin)
    return out


def _mean(total: Any, count: int) -> float:
    """DuckDB's ``avg`` of integers: the sum over the count in long double, then a double."""
    return float(np.longdouble(int(total)) / np.longdouble(count))


def _counted(codes: Any, acts: int) -> list[dict[str, Any]]:
    n = np.bincount(codes, minlength=acts)
    return [{"activity": int(c) + 1, "n": int(n[c])} for c in np.flatnonzero(n)]


def _edges(g: Groups, acts: int) -> list[dict[str, Any]]:
    """The directly-follows pairs (``g``: grouped by ``source × acts + target``): count,
    mean, median, min and max of the time between."""
    return [{"activity": int(k) // acts + 1, "next_act": int(k) % acts + 1, "n": int(n),
             "mean": secs(total) / int(n), "median": med, "lo": secs(lo), "hi": secs(hi)}
            for k, n, total, lo, hi, med in zip(g.keys, g.count, g.total, g.lo, g.hi, g.median,
                                                strict=True)]


def _activities(code: I64, pos: I64, again: Any, follows: tuple[I64, I64, Groups],
                to_next_us: I64, rework: tuple[Any, I64], waiting: Any) -> list[dict[str, Any]]:
    """Per activity: visits, cases (first visits) and their mean position, the time to the
    next event (mean, median), work, wait and rework. A state's time is all work or all
    wait, by its name, so work and wait are its time to the next event, summed once.
    ``follows``: the code and time to the next event of the events with one, and those times
    grouped by code; ``rework``: the rework mask and its events' codes."""
    acts = len(waiting)
    visits = np.bincount(code, minlength=acts)
    firsts = ~again
    first_code = code[firsts]
    cases = np.bincount(first_code, minlength=acts)
    pos_sum = _sums(first_code, pos[firsts], acts)
    src, us, g = follows
    to_count, spent = np.zeros(acts, np.int64), np.zeros(acts, np.int64)
    to_count[g.keys], spent[g.keys] = g.count, g.total
    to_med: list[float | None] = [None] * acts
    for k, m in zip(g.keys, g.median, strict=True):
        to_med[k] = m
    work, wait = np.where(waiting, 0, spent), np.where(waiting, spent, 0)
    redo, redo_code = rework
    redone = np.where(waiting, 0, _sums(redo_code, to_next_us[redo], acts))
    # squares of the waiting states' times only: the others' bins are dropped, and a last
    # event's 0.0 adds nothing, so each bin sums the same terms in the same order (equal bits)
    waits = waiting[src]
    sq = us[waits] / 1_000_000
    sq *= sq
    wait_sq = np.bincount(src[waits], weights=sq, minlength=acts)
    rework_visits = np.bincount(redo_code, minlength=acts)
    return [{"activity": int(c) + 1, "visits": int(visits[c]), "cases": int(cases[c]),
             "order": _mean(pos_sum[c], int(cases[c])), "process": 0.0,
             "to_next": secs(spent[c]) / int(to_count[c]) if to_count[c] else None,
             "to_next_med": to_med[c], "work": secs(work[c]), "wait": secs(wait[c]),
             "wait_sq": float(wait_sq[c]), "rework_visits": int(rework_visits[c]),
             "rework_s": secs(redone[c])} for c in np.flatnonzero(visits)]


def _quantile(sorted_s: Any, q: float) -> float:
    """DuckDB's ``quantile_cont``: between the floor and ceiling ranks of (n − 1)·q."""
    rn = (len(sorted_s) - 1) * q
    lo, hi = float(sorted_s[math.floor(rn)]), float(sorted_s[math.ceil(rn)])
    return between(lo, hi, rn - math.floor(rn))


def _throughput(tp_us: I64, first_us: I64) -> dict[str, Any]:
    tp = np.sort(tp_us) / 1_000_000
    return {"mean": secs(int(tp_us.sum())) / len(tp_us), "max": float(tp[-1]),
            "qs": [_quantile(tp, q) for q in THROUGHPUT_QUANTILES],
            "last_start": _time(int(first_us.max()))}


def _again(case: Any, code: Any) -> Any:
    """Whether an earlier event (in this order) has the same (case, activity) pair, the events
    being in case order (``case`` never decreases). Then each activity's events are in case
    order too, so one stable sort by activity puts each pair's events side by side, earliest
    first: a radix sort of the small codes, ~10× cheaper than a scatter-minimum into a slot per
    pair (``np.minimum.at``) or a sort of the pairs (docs/benchmarks.md, session 15). Where
    one activity's run ends is told by its count, not by gathering the codes sorted."""
    n = len(case)
    o = np.argsort(small(code), kind="stable")
    cs = case[o]
    same = np.zeros(n, bool)
    if n > 1:
        np.equal(cs[1:], cs[:-1], out=same[1:])
        same[np.cumsum(np.bincount(code))[:-1]] = False   # each activity's first after another's
    again = np.empty(n, bool)
    again[o] = same
    return again


def _pair_keys(case: Any, code: I64, acts: int) -> I64:
    """``case × acts + code`` in int64 from 32-bit case numbers: their own product would
    wrap past 2³¹ (two million cases of a thousand activities)."""
    keys: I64 = np.multiply(case, acts, dtype=np.int64)
    keys += code
    return keys


def _rework_cases(pairs: I64, size: int, acts: int) -> list[dict[str, Any]]:
    """Per activity, the cases with rework there: distinct (case, activity) pairs."""
    if size <= 4 * max(len(pairs), 1 << 20):
        hit = np.zeros(size, bool)
        hit[pairs] = True
        return _counted(np.flatnonzero(hit) % acts, acts)
    return _counted(np.unique(pairs) % acts, acts)
