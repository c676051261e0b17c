"""A large state log's handovers and services in NumPy (:mod:`dipstick.streams.on_numpy`), as
:func:`dipstick.engine.discovery_sql.aggregates` defines them: handovers per case among its
events with a resource, in (time, order, row) order, before any collapse; services per
(activity, service) over the visits, after it.

A resource or service is told by DuckDB's 64-bit ``hash`` of its text, fetched with the other
columns (~15 ms for 1.27 M events), and trusted only when the log's distinct values (NULL among
them) have distinct hashes: then equal hashes are equal texts, exactly, and NULL has a hash of
its own. An ENUM code would be exact without the check, but DuckDB's cast to an ENUM of many
values grows with them (measured: 0.7 s for 30 k distinct values on 1.27 M events, against
~0.1 s of hashing for any number; docs/decisions.md, session 20)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from dipstick.engine.discovery_sql import LogShape


@dataclass(frozen=True)
class People:
    """The resource and service columns to fetch (``select``: ``_res`` and ``_srv``, each a
    hash) and what tells their values apart: the hash of NULL among the resources (None: no
    NULL), the services' distinct hashes ascending and their texts (None for NULL) alike."""

    select: str
    null_resource: int | None
    service_hashes: Any
    service_names: tuple[str | None, ...]


def people(rel: duckdb.DuckDBPyRelation, log: LogShape) -> People | None:
    """What the log's resources and services need fetched; None when the SQL must answer: a
    column that is not text, or two distinct values with one hash."""
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    cols = [c for c in ("resource", "service") if c in log.columns]
    if any(types[c] != "VARCHAR" for c in cols):
        return None
    select, null, hashes, names = "", None, np.zeros(0, np.uint64), ()
    if "resource" in cols:
        found = fetch(rel, "SELECT hash(resource) AS h, resource IS NULL AS z FROM (SELECT "
                            "DISTINCT resource FROM _e)")
        if _clash(found["h"]):
            return None
        nulls = found["h"][found["z"]]
        null = int(nulls[0]) if len(nulls) else None
        select += ", hash(resource) AS _res"
    if "service" in cols:
        res = rel.query("_e", "SELECT hash(service), service FROM (SELECT DISTINCT service "
                              "FROM _e)")
        assert res is not None   # a SELECT has a result
        rows = sorted(res.fetchall(), key=lambda r: int(r[0]))
        hashes = np.array([r[0] for r in rows], np.uint64)
        if _clash(hashes):
            return None
        names = tuple(r[1] for r in rows)
        select += ", hash(service) AS _srv"
    return People(select, null, hashes, names)


def handovers(res: Any, order: Any, new: Any, null: int | None) -> dict[str, Any]:
    """The SQL's ``{'total', 'cases', 'known'}``: among each case's events with a resource, in
    case order (``order`` of the fetched hashes ``res``; ``new`` marks each case's first
    event), the changes of resource; the cases with one; the cases with any resource."""
    r = res[order]
    first = new
    if null is not None:
        known = np.flatnonzero(r != np.uint64(null))
        case = np.cumsum(new)[known]   # a case's number, kept for its events with a resource
        r = r[known]
        first = np.empty(len(r), bool)
        first[:1] = True
        np.not_equal(case[1:], case[:-1], out=first[1:])
    if not len(r):
        return {"total": None, "cases": 0, "known": 0}
    change = np.zeros(len(r), bool)
    np.not_equal(r[1:], r[:-1], out=change[1:])
    change &= ~first
    starts = np.flatnonzero(first)
    return {"total": int(change.sum()),
            "cases": int(np.logical_or.reduceat(change, starts).sum()), "known": len(starts)}


def services(srv: Any, code: Any, acts: int, p: People) -> list[dict[str, Any]] | None:
    """The SQL's count of visits per (activity code, service), NULL services left out, from
    the visits' service hashes ``srv`` and activity codes; None when there is none."""
    s = np.searchsorted(p.service_hashes, srv)
    n = len(p.service_names)
    null = [i for i, name in enumerate(p.service_names) if name is None]
    pairs = code.astype(np.int64) * n + s
    if null:
        pairs = pairs[s != null[0]]
    if acts * n <= 4 * max(len(pairs), 1 << 20):
        counts = np.bincount(pairs, minlength=acts * n)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, counts = np.unique(pairs, return_counts=True)
    return [{"activity": int(k) // n + 1, "service": p.service_names[int(k) % n],
             "n": int(c)} for k, c in zip(keys, counts, strict=True)] or None


def _clash(hashes: Any) -> bool:
    """Whether two of these distinct values' hashes are equal."""
    h = np.sort(hashes)
    return bool((h[1:] == h[:-1]).any())


def fetch(rel: duckdb.DuckDBPyRelation, sql: str) -> dict[str, Any]:
    """A query over the relation (as ``_e``), its columns as NumPy arrays."""
    res = rel.query("_e", sql)
    assert res is not None   # a SELECT has a result
    return res.fetchnumpy()
