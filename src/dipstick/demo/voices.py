"""What stakeholders and outcome owners report: pulse checks, touchpoint scores and KPIs.

Pulse checks run quarterly per service and consuming group, a handful of respondents each
answering every value dimension of their group, so the latest check-in of a healthy service is
always recent. Touchpoints are weekly journey analytics; KPIs are the outcome owners' weekly or
monthly actuals, closing in on their targets unless the plan lets one drift away.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipstick.demo.catalog import Catalog
from dipstick.demo.leaks import SURVEY_SD, Knobs
from dipstick.demo.sampling import codes, lowdisc, scores
from dipstick.demo.timeline import RETAIL_WEEK, FloatArray, IntArray, Timeline

ROUND = 91   # days between pulse-check rounds
COMMENTS = (
    ("Slower than it used to be.", "We lose time with it every week.",
     "Nobody told us what changed.", "Hard to find what I need.", "Too many errors lately."),
    ("Does the job.", "Fine, but the search could be better.",
     "OK once you know your way around.", "Sometimes slow at month end."),
    ("Saves me a lot of time.", "Reliable, no complaints.", "Easy to use.",
     "Great support from the team."),
)


def surveys_table(cat: Catalog, k: Knobs, tl: Timeline, rng: np.random.Generator,
                  sd: float = SURVEY_SD) -> pa.Table:
    parts: dict[str, list[np.ndarray]] = {}
    last = tl.days - 1
    for gi, g in enumerate(cat.groups):
        pairs = [i for i, s in enumerate(cat.services) if g.id in s.consumers]
        if not pairs:
            continue
        p = np.array(pairs)
        phase = np.array([cat.services[i].phase for i in pairs])
        launch = np.array([max(cat.services[i].launch_day or 0, 0) for i in pairs])
        stale = np.array([(i, g.id) in k.stale for i in pairs])
        rounds = np.arange(last // ROUND + 1)
        day = last - phase[:, None] - ROUND * rounds[None, :]
        ok = (day >= launch[:, None] + 14) & ~(stale[:, None] & (rounds[None, :] == 0))
        pi, ri = np.nonzero(ok)
        lo, hi = (5, 9) if g.kind == "internal" else (7, 12)
        count = rng.integers(lo, hi + 1, len(pi))
        unhappy = np.array([(i, g.id) in k.survey for i in pairs], dtype=bool)
        count = np.where(unhappy[pi], np.maximum(count, 7), count)    # enough voices to hear
        resp_pair = np.repeat(p[pi], count)
        resp_day = np.minimum(np.repeat(day[pi, ri], count) + rng.integers(0, 5, count.sum()),
                              last)
        resp_id = rng.integers(100000, 999999, count.sum())
        nd = len(g.dims)
        s = np.repeat(resp_pair, nd)
        d = np.repeat(resp_day, nd)
        dim = np.tile(np.arange(nd), len(resp_pair))
        offset = rng.uniform(-0.2, 0.2, (len(cat.services), nd))
        mean = np.array([x.survey for x in cat.services])[s] + offset[s, dim]
        for (si, gid), (onset, after) in k.survey.items():
            if gid == g.id:
                mean = np.where((s == si) & (d >= onset), after, mean)
        block = np.repeat(np.repeat(np.arange(len(pi)), count), nd) * nd + dim
        score = scores(_stratified(block, rng), mean, sd)
        first = dim == 0
        talk = first & (lowdisc(len(s), "comment", rng) < 0.12)
        band = np.where(score <= 5, 0, np.where(score <= 7, 1, 2))
        pick = rng.integers(0, 1000, len(s))
        for key, v in (("service", s), ("day", d), ("group", np.full(len(s), gi)), ("dim", dim),
                       ("score", score), ("respondent", np.repeat(resp_id, nd)),
                       ("talk", talk), ("band", band), ("pick", pick)):
            parts.setdefault(key, []).append(v)
    c = {key: np.concatenate(v) for key, v in parts.items()}
    order = np.lexsort((c["dim"], c["respondent"], c["group"], c["service"], c["day"]))
    c = {key: v[order] for key, v in c.items()}
    dims = [f"{g.id}\x1f{dd[0]}" for g in cat.groups for dd in g.dims]
    dim_base = np.cumsum([0] + [len(g.dims) for g in cat.groups])[:-1]
    dim_code = dim_base[c["group"]] + c["dim"]
    flat = np.array([x for band in COMMENTS for x in band], dtype=object)
    first = np.cumsum([0] + [len(b) for b in COMMENTS])[:-1]
    sizes = np.array([len(b) for b in COMMENTS])
    comments = np.full(len(order), None, dtype=object)
    band, pick = c["band"][c["talk"]], c["pick"][c["talk"]]
    comments[c["talk"]] = flat[first[band] + pick % sizes[band]]
    return pa.table({
        "date": pa.array(tl.dates[c["day"]]),
        "service": _dict(c["service"], [s.id for s in cat.services]),
        "group": _dict(c["group"], [g.id for g in cat.groups]),
        "dimension": _dict(dim_code, [x.split("\x1f")[1] for x in dims]),
        "score": pa.array(c["score"]),
        "respondent": codes("R", c["respondent"], 6),
        "comment": pa.array(comments.tolist(), type=pa.string()),
    })


def touchpoints_table(cat: Catalog, k: Knobs, tl: Timeline, rng: np.random.Generator,
                      noise: float = 1.0) -> pa.Table:
    weeks = tl.weeks()
    tps = cat.touchpoints
    n, w = len(tps), len(weeks)
    week_activity = np.array([tl.retail[d: d + 7].mean() for d in weeks]) / RETAIL_WEEK.mean()
    years = (weeks - (tl.days - 1)) / 365.25
    base = np.array([t.visitors for t in tps])[:, None]
    visitors = base * 1.06 ** years[None, :] * week_activity[None, :]
    visitors = np.rint(visitors * np.exp(rng.normal(0, 0.05 * noise, (n, w))))
    rate = np.array([t.drop for t in tps])[:, None] * np.exp(rng.normal(0, 0.04 * noise,
                                                                       (n, w)))
    sat = np.array([t.sat for t in tps])[:, None] + rng.normal(0, 0.18 * noise, (n, w))
    for i, t in enumerate(tps):
        if (t.journey, t.id) in k.touchpoints:
            onset, after, factor = k.touchpoints[(t.journey, t.id)]
            post = weeks >= onset
            sat[i, post] += after - t.sat
            rate[i, post] *= factor
    drops = np.minimum(np.rint(visitors * rate), visitors)
    ti, wi = np.divmod(np.arange(n * w), w)
    return pa.table({
        "date": pa.array(tl.dates[weeks[wi]]),
        "journey": pa.array([t.journey for t in tps]).take(pa.array(ti)),
        "touchpoint": pa.array([t.id for t in tps]).take(pa.array(ti)),
        "satisfaction": pa.array(np.round(np.clip(sat, 0, 10), 1).ravel()),
        "visitors": pa.array(visitors.ravel().astype(np.int64)),
        "drop_offs": pa.array(drops.ravel().astype(np.int64)),
    })


def kpis_table(cat: Catalog, tl: Timeline, rng: np.random.Generator,
               noise: float = 1.0) -> pa.Table:
    dates, outcomes, values = [], [], []
    last = tl.days - 1
    for o in cat.outcomes:
        idx = tl.weeks() if o.freq == "W" else tl.month_starts()
        if o.ended is not None:
            idx = idx[idx <= o.ended]
        x = np.minimum(1.0, idx / (last * 0.8))
        up = o.direction == "up"
        final = o.target * (1.0 if o.status == "achieved" else
                            rng.uniform(1.02, 1.06) if up else rng.uniform(0.94, 0.98))
        start = o.target * o.start_ratio
        path: FloatArray = start + (final - start) * (3 * x ** 2 - 2 * x ** 3)
        if o.drift_start is not None:
            bad = o.target * (1 - o.drift_gap if up else 1 + o.drift_gap)
            at = start + (final - start) * min(1.0, o.drift_start / (last * 0.8))
            end = last if o.drift_end is None else o.drift_end
            t = np.clip((idx - o.drift_start) / max(end - o.drift_start, 1), 0, 1)
            path = np.where(idx >= o.drift_start, at + (bad - at) * t, path)
        path = path * (1 + rng.normal(0, 0.008 * noise, len(idx)))
        if "(%)" in o.kpi:
            path = np.minimum(path, 100.0)
        digits = 0 if o.target >= 100 else 1 if o.target >= 10 else 2
        dates.append(idx)
        outcomes.append(np.full(len(idx), o.id, dtype=object))
        values.append(np.round(path, digits))
    return pa.table({"date": pa.array(tl.dates[np.concatenate(dates)]),
                     "outcome": pa.array(np.concatenate(outcomes).tolist(), type=pa.string()),
                     "value": pa.array(np.concatenate(values))})


def _stratified(block: IntArray, rng: np.random.Generator) -> FloatArray:
    """Uniforms with one draw per equal slice of [0, 1) in each block (one round's answers on
    one dimension): a round of seven answers always holds its share of detractors."""
    n = len(block)
    order = np.lexsort((rng.random(n), block))
    sizes = np.bincount(block)
    starts = np.cumsum(sizes) - sizes
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[block[order]]
    out: FloatArray = (rank + rng.random(n)) / sizes[block]
    return out


def _dict(index: np.ndarray, names: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)),
                                          pa.array(names)).cast(pa.string())
