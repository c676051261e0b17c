"""Tickets: incidents, requests and how-to questions, with everything a service desk records.

Tickets are raised in proportion to active users (so how-to questions per 100 users hold
steady while a service grows or shrinks), on the weekday rhythm, by the service's consuming
groups. Their attributes — satisfaction, lost time, resolution time, reopens, reassignments —
come from low-discrepancy draws, so every window of a healthy service shows its designed rates
and a leak's recipe shows exactly its own. All of it is vectorised over the rows: the large
organisation's five million tickets take a few seconds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipstick.demo.catalog import TICKET_SCALE, Catalog
from dipstick.demo.leaks import Knobs
from dipstick.demo.sampling import (
    codes,
    geometric,
    lognormal,
    lowdisc,
    scores,
    systematic_events,
)
from dipstick.demo.timeline import BoolArray, FloatArray, IntArray, Timeline

TYPES = ("incident", "request", "question")
PREFIXES = ("INC", "REQ", "QST")
SAT_SD = 1.1
DAY_SHARE = np.array([0, 0.03, 0.18, 0.53, 0.60, 0.90, 1.0])   # opened by hour …
DAY_HOUR = np.array([0, 7, 9, 12, 13, 17, 24])                # … of the day
BOOST_USERS = 800.0   # services with fewer ticket-raising users get more tickets per user
TEETHING = 0.8       # a new service gets this many more tickets at first, fading in months
MIN_SAMPLE = 40      # internal tickets a quarter an external service needs to have any
MONTH = 365.25 / 12


def expected_count(cat: Catalog, dau: FloatArray, k: Knobs) -> float:
    """Expected ticket rows: lets the large organisation size its users to a target."""
    return float(sum(r.sum() for r in _intensities(cat, dau, k, Timeline(days=dau.shape[1]))))


def _boost(cat: Catalog, k: Knobs) -> FloatArray:
    """Incidents and requests per user rise for services with few ticket-raising users, so
    that even a small service has a steady sample of tickets in every window."""
    final = np.array([s.users * TICKET_SCALE[s.kind] for s in cat.services]) * k.decline
    out: FloatArray = np.maximum(1.0, BOOST_USERS / final) ** 0.75
    return out


def _intensities(cat: Catalog, dau: FloatArray, k: Knobs, tl: Timeline) -> list[FloatArray]:
    """Expected tickets per service and day, one matrix per type."""
    customer = np.array([s.kind == "customer" for s in cat.services])
    scale = np.array([TICKET_SCALE[s.kind] for s in cat.services])
    rhythm = np.where(customer[:, None], 1.0, tl.ticket_rhythm[None, :])
    base = np.nan_to_num(dau) * rhythm * (scale / 100 / MONTH)[:, None]
    launch = np.array([s.launch_day if s.launch_day is not None else -1 for s in cat.services])
    age = np.arange(dau.shape[1])[None, :] - launch[:, None]
    base *= np.where((launch[:, None] >= 0) & (age >= 0), 1 + TEETHING * np.exp(-age / 90), 1.0)
    post = np.arange(dau.shape[1])[None, :] >= k.onset[:, None]
    rates = np.array([s.rates for s in cat.services])
    boost = _boost(cat, k)[:, None]
    inc = rates[:, 0:1] * boost * np.where(post, k.incidents[:, None], 1.0)
    req = rates[:, 1:2] * boost
    asked = np.where(post & ~np.isnan(k.questions[:, None]), k.questions[:, None],
                     rates[:, 2:3])
    return [base * inc, base * req, base * asked]


def _requesters(cat: Catalog, k: Knobs) -> tuple[FloatArray, IntArray, list[str]]:
    """Per service: cumulative shares and group codes of who raises its tickets (code 0: no
    group recorded). Staff raise tickets on an external service (and outsiders on an internal
    one) only when there would be a steady sample of them: a handful a quarter says nothing."""
    groups = [g.id for g in cat.groups]
    rows: list[list[tuple[int, float]]] = []
    boost = _boost(cat, k)
    for i, s in enumerate(cat.services):
        inside = [g for g in s.consumers if cat.group(g).kind == "internal"]
        outside = [g for g in s.consumers if cat.group(g).kind != "internal"]
        share_out = {"internal": 0.12, "customer": 0.85}.get(s.kind, 0.7) if outside else 0.0
        quarter = s.users * TICKET_SCALE[s.kind] * boost[i] * sum(s.rates[:2]) / 100 * 3
        if s.kind != "internal" and quarter * (1 - share_out) < MIN_SAMPLE:
            inside = []
        if s.kind == "internal" and quarter * share_out < MIN_SAMPLE:
            outside, share_out = [], 0.0
        if not inside and outside:
            share_out = 1.0
        share_in = (1 - share_out) * (0.88 if s.kind == "internal" else 1.0) if inside else 0.0
        opts = [(groups.index(g) + 1, share_out / len(outside)) for g in outside]
        opts += [(groups.index(g) + 1, share_in / len(inside)) for g in inside]
        opts.append((0, max(0.0, 1 - share_out - share_in)))
        rows.append(opts)
    width = max(len(r) for r in rows)
    cum = np.ones((len(rows), width))
    code = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        cum[i, : len(r)] = np.cumsum([p for _, p in r])
        code[i, : len(r)] = [c for c, _ in r]
        code[i, len(r):] = r[-1][0]
    cum[:, -1] = 1.0
    return cum, code, groups


def tickets_table(cat: Catalog, k: Knobs, dau: FloatArray, tl: Timeline,
                  rng: np.random.Generator) -> pa.Table:
    cum, code_of, groups = _requesters(cat, k)
    kinds = np.array(["none"] + [g.kind for g in cat.groups])
    svc = _ServiceParams(cat)
    cells, types = [], []
    for kind, intensity in enumerate(_intensities(cat, dau, k, tl)):
        cells.append(systematic_events(intensity.ravel(), rng)[0])
        types.append(np.full(len(cells[-1]), kind))
    cell, t = np.concatenate(cells), np.concatenate(types)
    hour = np.interp(rng.random(len(cell)), DAY_SHARE, DAY_HOUR)
    s, d = np.divmod(cell, tl.days)
    opened = (tl.epoch_seconds[d] + np.rint(hour * 3600)).astype(np.int64)
    order = np.lexsort((t, opened, s))
    s, d, t, opened = s[order], d[order], t[order], opened[order]
    n = len(s)
    u = lowdisc(n, "requester", rng)
    code = code_of[s, (u[:, None] >= cum[s]).sum(axis=1).clip(0, cum.shape[1] - 1)]
    internal = (kinds[code] == "internal") | (code == 0)
    # Attributes follow the tickets of one service and kind (internal or not, question or not)
    # in time order: every window of them is one run of the low-discrepancy sequences, so it
    # shows exactly the designed rates to the indicator that reads that kind.
    order = np.lexsort((opened, t == 2, internal, s))
    s, d, t, opened, code, internal = (x[order] for x in (s, d, t, opened, code, internal))
    post = d >= k.onset[s]
    ex = post & internal & (t < 2)
    mean = _satisfaction(svc.sat[s], post, internal, kinds[code] == "customer", k, s)
    rated = lowdisc(n, "rated", rng) < svc.rated[s]
    sat = scores(lowdisc(n, "score", rng), mean, SAT_SD)
    lost = lognormal(lowdisc(n, "lost", rng), svc.lost[s, t] * np.where(ex, k.lost[s], 1.0), 0.8)
    hours = lognormal(lowdisc(n, "resolve", rng),
                      svc.resolve[s, t] * np.where(ex, k.resolve[s], 1.0), 0.9)
    resolved = opened + np.rint(hours * 3600).astype(np.int64)
    p = np.where(ex & ~np.isnan(k.reopen[s]), k.reopen[s], svc.reopen[s])
    ur = lowdisc(n, "reopen", rng)
    reassign_mean = np.where(ex & ~np.isnan(k.reassign[s]), k.reassign[s], svc.reassign[s])
    reassign = geometric(lowdisc(n, "reassign", rng), reassign_mean)
    out = np.lexsort((s, t, opened))          # exports come in the order tickets were opened
    number = np.zeros(n, dtype=np.int64)
    for ty in range(len(TYPES)):
        mask = t[out] == ty
        number[mask] = np.arange(1, int(mask.sum()) + 1)
    ts = pa.timestamp("s", tz="UTC")
    end = tl.seconds(tl.days - 1) + 86400
    return pa.table({
        "id": codes(PREFIXES, number, 7, which=t[out]),
        "service": _dict(s[out], [x.id for x in cat.services]),
        "opened_at": pa.array(opened[out], type=ts),
        "resolved_at": pa.array(resolved[out], type=ts, mask=resolved[out] >= end),
        "type": _dict(t[out], list(TYPES)),
        "reopened": pa.array(((ur < p).astype(np.int64) + (ur < p * 0.15))[out]),
        "satisfaction": pa.array(sat[out], mask=~rated[out]),
        "lost_minutes": pa.array(np.rint(lost[out]).astype(np.int64)),
        "requester_group": pa.DictionaryArray.from_arrays(
            pa.array((code[out] - 1).clip(0).astype(np.int32), mask=code[out] == 0),
            pa.array(groups)).cast(pa.string()),
        "reassignments": pa.array(reassign[out]),
    })


def _dict(index: IntArray, names: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)),
                                          pa.array(names)).cast(pa.string())


def _satisfaction(base: FloatArray, post: BoolArray, internal: BoolArray, customer: BoolArray,
                  k: Knobs, s: IntArray) -> FloatArray:
    mean = np.where(post & ~np.isnan(k.sat_all[s]), k.sat_all[s], base)
    mean = np.where(post & internal & ~np.isnan(k.sat_internal[s]), k.sat_internal[s], mean)
    out: FloatArray = np.where(post & customer & ~np.isnan(k.sat_customer[s]),
                               k.sat_customer[s], mean)
    return out


class _ServiceParams:
    """The healthy ticket parameters of every service as arrays (indexed by service)."""

    def __init__(self, cat: Catalog) -> None:
        ss = cat.services
        self.sat = np.array([s.sat for s in ss])
        self.rated = np.array([s.rated for s in ss])
        self.lost = np.array([s.lost for s in ss])
        self.resolve = np.array([s.resolve for s in ss])
        self.reopen = np.array([s.reopen for s in ss])
        self.reassign = np.array([s.reassign for s in ss])
