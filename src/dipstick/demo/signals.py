"""Usage, costs, training and changes: the operational signals, built as whole arrays.

Daily active users are the heartbeat the other series follow — tickets are raised in
proportion to them — so they are built first, as one services × days matrix: a growth trend,
the office or retail rhythm, slow and daily noise, a ramp after a launch and, for a service
losing its users, a decline from the leak's onset.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipstick.demo.catalog import Catalog
from dipstick.demo.leaks import Knobs
from dipstick.demo.sampling import codes
from dipstick.demo.timeline import OFFICE_WEEK, RETAIL_WEEK, FloatArray, IntArray, Timeline

QUIET_DAYS = 200     # leaking services change nothing in this long but their seeded change


def users_matrix(cat: Catalog, k: Knobs, tl: Timeline, rng: np.random.Generator,
                 noise: float = 1.0) -> FloatArray:
    """Daily active users, services × days; NaN before a service's launch. ``noise`` scales
    the slow wander and the daily noise (the benchmark organisations vary it)."""
    n, d = len(cat.services), tl.days
    users = np.array([s.users for s in cat.services])
    growth = np.array([s.growth for s in cat.services])
    years = (np.arange(d) - (d - 1)) / 365.25
    trend = users[:, None] * (1 + growth[:, None]) ** years[None, :]
    retail = np.array([s.kind == "customer" for s in cat.services])
    rhythm = np.where(retail[:, None], tl.retail[None, :] / RETAIL_WEEK.mean(),
                      tl.office[None, :] / OFFICE_WEEK.mean())
    days = np.arange(d)[None, :]
    end = np.full((n, 1), d - 1 - 14)   # a decline is complete two weeks before as-of: the
    for x, e in k.ramp_end.items():     # 28-day mean hits it (unless the plan says when)
        end[x, 0] = e
    onset = k.onset[:, None]
    progress = np.clip((days - onset) / np.maximum(end - onset, 1), 0.0, 1.0)
    level = trend * (1 - (1 - k.decline[:, None]) * progress)
    launch = np.array([s.launch_day if s.launch_day is not None else -1 for s in cat.services])
    age = days - launch[:, None]
    ramp = np.where(age >= 0, 1 - np.exp(-np.maximum(age, 0) / 12.0), np.nan)
    level = np.where(launch[:, None] < 0, level, level * ramp)
    slow = np.zeros((n, d))
    shocks = rng.normal(0, 0.005 * noise, (n, d))
    for t in range(1, d):
        slow[:, t] = slow[:, t - 1] * 0.97 + shocks[:, t]
    wobble = np.exp(slow + rng.normal(0, 0.035 * noise, (n, d)))
    out: FloatArray = np.rint(level * rhythm * wobble)
    return out


def usage_table(cat: Catalog, dau: FloatArray, tl: Timeline) -> pa.Table:
    s, d = np.nonzero(~np.isnan(dau))
    return pa.table({
        "date": pa.array(tl.dates[d]),
        "service": _names(cat, s),
        "active_users": pa.array(dau[s, d].astype(np.int64)),
    })


def costs_table(cat: Catalog, tl: Timeline, rng: np.random.Generator) -> pa.Table:
    """Monthly run cost of every complete month: the catalog cost, inflation and small noise."""
    months = tl.month_starts()
    months = months[months < tl.days - 1]
    start = np.array([s.launch_day if s.launch_day is not None else -1 for s in cat.services])
    cost = np.array([s.monthly_cost for s in cat.services])
    s, m = np.nonzero(months[None, :] >= start[:, None] - 27)
    day = months[m]
    years = (day - (tl.days - 1)) / 365.25
    amount = cost[s] * 1.025 ** years * (1 + rng.normal(0, 0.012, len(s)))
    return pa.table({"month": pa.array(tl.dates[day]), "service": _names(cat, s),
                     "amount": pa.array(np.round(amount, 2))})


def training_table(cat: Catalog, k: Knobs, tl: Timeline, rng: np.random.Generator) -> pa.Table:
    """Monthly completion of the training each internal consuming group needs."""
    months = tl.month_starts()
    rows_s, rows_g, rows_req = [], [], []
    for i, svc in enumerate(cat.services):
        internal = [g for g in svc.consumers if cat.group(g).kind == "internal"]
        weights = np.array([np.sqrt(cat.group(g).size) for g in internal])
        for g, w in zip(internal, weights, strict=True):
            rows_s.append(i)
            rows_g.append(g)
            rows_req.append(max(6.0, svc.users * 1.15 * w / weights.sum()))
    si, req0 = np.array(rows_s, dtype=np.int64), np.array(rows_req)
    pair, m = np.divmod(np.arange(len(si) * len(months)), len(months))
    s, day = si[pair], months[m]
    launch = np.array([x.launch_day if x.launch_day is not None else -1 for x in cat.services])
    keep = day >= launch[s]
    pair, s, day = pair[keep], s[keep], day[keep]
    growth = np.array([x.growth for x in cat.services])[s]
    required = req0[pair] * (1 + growth) ** ((day - (tl.days - 1)) / 365.25)
    post = day >= k.onset[s]
    required = np.where(post & ~np.isnan(k.completion[s]), required * 1.5, required)
    share = np.array([x.completion for x in cat.services])[s] + rng.normal(0, 0.008, len(s))
    share = np.where(post & ~np.isnan(k.completion[s]), k.completion[s], share)
    required = np.rint(required)
    completed = np.minimum(np.rint(required * np.clip(share, 0, 1)), required)
    groups = np.array(rows_g)[pair]
    return pa.table({"date": pa.array(tl.dates[day]), "service": _names(cat, s),
                     "group": pa.array(groups.tolist()).dictionary_encode().cast(pa.string()),
                     "completed": pa.array(completed.astype(np.int64)),
                     "required": pa.array(required.astype(np.int64))})


def changes_table(cat: Catalog, k: Knobs, tl: Timeline, rng: np.random.Generator) -> pa.Table:
    """Releases, process and organisational changes; leaking services stay quiet lately."""
    n = len(cat.services)
    per_year = rng.uniform(3, 9, n)
    count = rng.poisson(per_year * tl.days / 365.25)
    s = np.repeat(np.arange(n), count)
    day = rng.integers(0, tl.days, len(s))
    wd = tl.weekday[day]
    day = np.where(wd >= 4, day - (wd - 2), day)      # changes go in on Monday..Thursday
    launch = np.array([x.launch_day if x.launch_day is not None else -1 for x in cat.services])
    quiet = k.quiet[s] & (day > tl.days - 1 - QUIET_DAYS)
    keep = (day > launch[s]) & ~quiet
    s, day = s[keep], day[keep]
    kind = rng.choice(np.array(["release", "process", "organisational"]), len(s),
                      p=[0.8, 0.12, 0.08])
    recent = day > tl.days - 1 - QUIET_DAYS
    success = recent | (rng.random(len(s)) > 0.05)
    communicated = recent | (rng.random(len(s)) > 0.1)
    launched = launch[launch > 0]
    s = np.concatenate([s, np.flatnonzero(launch > 0), [c.service for c in k.changes]])
    day = np.concatenate([day, launched, [c.day for c in k.changes]]).astype(np.int64)
    kind = np.concatenate([kind, np.full(len(launched), "release"), [c.kind for c in k.changes]])
    success = np.concatenate([success, np.ones(len(launched), bool),
                              [c.success for c in k.changes]]).astype(bool)
    communicated = np.concatenate([communicated, np.ones(len(launched), bool),
                                   [c.communicated for c in k.changes]]).astype(bool)
    order = np.lexsort((s, day))
    s, day = s[order], day[order]
    return pa.table({
        "id": codes("CHG", np.arange(1, len(s) + 1, dtype=np.int64) + 31000, 7),
        "service": _names(cat, s), "date": pa.array(tl.dates[day]),
        "kind": pa.array(kind[order].tolist()).dictionary_encode().cast(pa.string()),
        "success": pa.array(success[order]), "communicated": pa.array(communicated[order])})


def _names(cat: Catalog, index: IntArray) -> pa.Array:
    ids = pa.array([s.id for s in cat.services])
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), ids).cast(pa.string())
