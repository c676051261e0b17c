"""The signal tables of one simulated organisation, with seasonality, noise and the seeded effects.

Healthy behaviour first — a summer dip and a year-end lull in internal use, a Christmas peak on
customer touchpoints, weekday/weekend rhythm, slow benign growth, routine releases that change
nothing — then the leaks' multipliers from :class:`orgsim.leaks.Effects` on top.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from .catalog import Org, Service
from .leaks import Effects


def calendar(start: date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per day: day of year, weekday, summer weight (0–1) and year-end lull (0/1)."""
    dates = [start + timedelta(days=i) for i in range(days)]
    doy = np.array([d.timetuple().tm_yday for d in dates])
    wday = np.array([d.weekday() for d in dates])
    summer = np.exp(-(((doy - 212) / 20.0) ** 2))
    yearend = np.array([(d.month == 12 and d.day >= 22) or (d.month == 1 and d.day <= 2)
                        for d in dates], dtype=float)
    return doy, wday, summer, yearend


def usage_level(rng: np.random.Generator, s: Service, fx: Effects, start: date, days: int,
                noise: float) -> np.ndarray:
    """Expected active users per day (the leak included, daily noise not)."""
    _, wday, summer, yearend = calendar(start, days)
    t = np.arange(days) / days
    base = s.users * (1 + s.growth * t)
    season = 1 - s.summer * summer - (0.45 if s.nature != "facing" else 0.1) * yearend
    week = np.where(wday >= 5, s.weekend, 1.0)
    wander = np.zeros(days)
    step = rng.normal(0, 0.012 * noise, days)
    for i in range(1, days):
        wander[i] = 0.97 * wander[i - 1] + step[i]
    level = base * season * week * np.exp(wander) * fx.service(s.id, "usage")
    if s.launched_week:
        launch = s.launched_week * 7
        level[:launch] = 0.0
        level *= np.clip((np.arange(days) - launch) / 84, 0.05, 1.0)
    out: np.ndarray = level
    return out


def usage_rows(rng: np.random.Generator, s: Service, level: np.ndarray, start: date,
               noise: float) -> dict[str, list[Any]]:
    observed = level * np.exp(rng.normal(0, 0.04 * noise, len(level)))
    keep = level > 0
    return {"date": [start + timedelta(days=int(i)) for i in np.flatnonzero(keep)],
            "service": [s.id] * int(keep.sum()),
            "active_users": np.round(observed[keep]).astype(int).tolist()}


TYPES = ("incident", "request", "question")


def ticket_rows(rng: np.random.Generator, s: Service, level: np.ndarray, fx: Effects,
                start: date, consumers: list[str], first_id: int) -> dict[str, list[Any]]:
    """Tickets of one service: counts follow use; attributes follow the service's own nature."""
    days = len(level)
    rel = level / max(s.users, 1.0)   # relative use: fewer users, fewer tickets
    _, wday, _, _ = calendar(start, days)
    week = np.where(wday >= 5, 0.25, 1.0)
    week = week / week.mean()
    shares = {"incident": s.incident_share,
              "question": s.howto_share,
              "request": max(0.05, 1 - s.incident_share - s.howto_share)}
    cols: dict[str, list[Any]] = {k: [] for k in (
        "id", "service", "opened_at", "resolved_at", "type", "reopened", "satisfaction",
        "lost_minutes", "requester_group", "reassignments")}
    end = datetime.combine(start + timedelta(days=days), datetime.min.time())
    n = first_id
    resolve, lost = fx.service(s.id, "resolve"), fx.service(s.id, "lost")
    reopen, sat = fx.service(s.id, "reopen"), fx.service(s.id, "sat_shift")
    for kind in TYPES:
        mult = fx.service(s.id, kind)
        lam = s.weekly_tickets * shares[kind] / 7 * rel * week * mult
        counts = rng.poisson(lam)
        day = np.repeat(np.arange(days), counts)
        k = len(day)
        if not k:
            continue
        secs = rng.uniform(7 * 3600, 18 * 3600, k)
        hours = s.resolve_hours * resolve[day] * np.exp(rng.normal(0, 0.9, k))
        if kind == "request":
            hours = hours * 1.5
        rated = rng.random(k) < s.rated
        score = np.clip(np.round(rng.normal(s.satisfaction + sat[day], 1.6, k)), 0, 10)
        p_reopen = np.clip(s.reopen * reopen[day], 0, 0.9)
        reopened = rng.binomial(1, p_reopen) + rng.binomial(1, p_reopen * 0.2)
        lostm = (np.round(rng.exponential(s.lost_minutes * lost[day], k)) if kind == "incident"
                 else np.zeros(k))
        opened = (np.datetime64(start, "s") + day.astype("timedelta64[D]")
                  + secs.astype("timedelta64[s]"))
        closed = opened + (hours * 3600).astype("timedelta64[s]")
        cols["id"] += [f"INC{i:08d}" for i in range(n, n + k)]
        n += k
        cols["service"] += [s.id] * k
        cols["opened_at"] += opened.tolist()
        cols["resolved_at"] += [c if c < end else None for c in closed.tolist()]
        cols["type"] += [kind] * k
        cols["reopened"] += reopened.tolist()
        cols["satisfaction"] += [int(x) if r else None for x, r in zip(score, rated, strict=True)]
        cols["lost_minutes"] += lostm.astype(int).tolist()
        cols["requester_group"] += [consumers[i] for i in rng.integers(len(consumers), size=k)]
        cols["reassignments"] += rng.poisson(0.7, k).tolist()
    return cols


def change_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date,
                days: int) -> list[dict[str, Any]]:
    """Routine releases (mostly fine, changing nothing) and a few reorganisations."""
    rows: list[dict[str, Any]] = []
    for s in org.services:
        t = float(rng.exponential(s.release_every * 7))
        quiet = fx.quiet.get(s.id, (-1, -1))
        while t < days:
            day = int(t)
            if not quiet[0] <= day < quiet[1]:
                rows.append({"id": f"CHG{len(rows):06d}", "service": s.id,
                             "date": (start + timedelta(days=day)).isoformat(),
                             "kind": "release" if rng.random() < 0.92 else "process",
                             "success": bool(rng.random() < 0.95),
                             "communicated": bool(rng.random() < 0.85)})
            t += float(rng.exponential(s.release_every * 7)) + 3
    return rows + fx.changes


def training_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date,
                  days: int) -> list[dict[str, Any]]:
    """Monthly completion per service and consuming internal group (where training exists)."""
    sizes = {g.id: g.size for g in org.groups if g.kind == "internal"}
    rows = []
    for s in org.services:
        groups = [g for g in s.consumers if g in sizes]
        if not groups or (s.id not in fx.completion and rng.random() < 0.35):
            continue
        base = rng.uniform(0.82, 0.97)
        for g in groups:
            need = sizes[g] * rng.uniform(0.1, 0.8)
            month = date(start.year, start.month, 1)
            while (month - start).days < days:
                i = max(0, (month - start).days)
                req = max(1, int(need * (1 + 0.1 * i / days)))
                c = fx.completion.get(s.id, np.full(days, np.nan))[min(i, days - 1)]
                rate = base if np.isnan(c) else float(c)
                rows.append({"date": month.isoformat(), "service": s.id, "group": g,
                             "completed": int(rng.binomial(req, rate)), "required": req})
                month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return rows


def survey_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date,
                days: int) -> dict[str, list[Any]]:
    dims = {g.id: g.dimensions for g in org.groups}
    cols: dict[str, list[Any]] = {k: [] for k in ("date", "service", "group", "dimension",
                                                   "score", "respondent")}
    r = 0
    for s in org.services:
        if not s.surveyed_every:
            continue
        base = rng.uniform(6.3, 8.6)
        shift = fx.service(s.id, "survey_shift")
        day = int(rng.integers(0, s.surveyed_every * 7))
        while day < days:
            for g in s.consumers:
                n = int(rng.integers(3, 16))
                for dim in dims[g]:
                    scores = np.clip(np.round(rng.normal(base + shift[day], 1.7, n)), 0, 10)
                    for k in range(n):
                        cols["date"].append(start + timedelta(days=day + int(rng.integers(0, 5))
                                                              if day + 5 < days else day))
                        cols["service"].append(s.id)
                        cols["group"].append(g)
                        cols["dimension"].append(dim)
                        cols["score"].append(int(scores[k]))
                        cols["respondent"].append(f"r{r + k}")
                r += n
            day += s.surveyed_every * 7 + int(rng.integers(-4, 5))
    return cols


def kpi_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date, days: int,
             noise: float) -> list[dict[str, Any]]:
    rows = []
    for o in org.outcomes:
        level = fx.kpi.get(o.id, np.full(days, o.level))
        every = 7 if rng.random() < 0.5 else 28
        sd = rng.uniform(0.015, 0.04) * noise
        for day in range(int(rng.integers(0, every)), days, every):
            rows.append({"date": (start + timedelta(days=day)).isoformat(), "outcome": o.id,
                         "value": round(o.target * level[day] * (1 + rng.normal(0, sd)), 2)})
    return rows


def touchpoint_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date,
                    days: int, noise: float) -> list[dict[str, Any]]:
    doy, _, summer, _ = calendar(start, days)
    peak = 1 + 0.4 * np.exp(-(((doy - 340) / 15.0) ** 2)) - 0.1 * summer
    rows = []
    for t in org.touchpoints:
        drop, sat = fx.touchpoint(t.id, "drop"), fx.touchpoint(t.id, "sat_shift")
        for day in range(0, days - 6, 7):
            v = int(rng.poisson(t.visitors * peak[day] * np.exp(rng.normal(0, 0.08 * noise))))
            p = float(np.clip(t.drop * drop[day] * np.exp(rng.normal(0, 0.05 * noise)), 0, 0.95))
            sd = (0.15 + 6 / np.sqrt(max(v, 1) * 0.05 + 1)) * noise * 0.5
            rows.append({"date": (start + timedelta(days=day)).isoformat(), "journey": t.journey,
                         "touchpoint": t.id, "visitors": v, "drop_offs": int(rng.binomial(v, p)),
                         "satisfaction": round(float(np.clip(
                             rng.normal(t.satisfaction + sat[day], sd), 0, 10)), 1)})
    return rows


def event_rows(rng: np.random.Generator, org: Org, fx: Effects, start: date,
               days: int) -> dict[str, list[Any]]:
    """A state log per stream: 'Awaiting X' (waiting) then 'X' (work), sometimes 'Returned X'
    and X again (rework), ending in 'Done'; events after the end of the data are not yet
    written."""
    cols: dict[str, list[Any]] = {k: [] for k in ("case_id", "activity", "timestamp",
                                                   "process", "service")}
    t0 = datetime.combine(start, datetime.min.time())
    end = t0 + timedelta(days=days)
    for stream in org.streams:
        n = rng.poisson(stream.cases_per_week / 7, days)
        for day in np.repeat(np.arange(days), n):
            case = f"{stream.id}-{len(cols['case_id'])}"
            t = t0 + timedelta(days=int(day), seconds=float(rng.uniform(8 * 3600, 17 * 3600)))
            d = int(day)
            evs: list[tuple[str, datetime, str]] = []
            for i, st in enumerate(stream.steps):
                fxs = fx.step.get((stream.id, i), {})
                wait = st.wait_hours * float(fxs["wait"][d] if "wait" in fxs else 1.0)
                evs.append((f"Awaiting {st.name}", t, st.service))
                t += timedelta(hours=float(wait * np.exp(rng.normal(0, 0.7))))
                evs.append((st.name, t, st.service))
                t += timedelta(minutes=float(st.work_minutes * np.exp(rng.normal(0, 0.5))))
                extra = float(fxs["rework_add"][d]) if "rework_add" in fxs else 0.0
                if rng.random() < st.rework + extra:
                    evs.append((f"Returned {st.name}", t, st.service))
                    t += timedelta(minutes=float(rng.uniform(20, 90)))
                    evs.append((st.name, t, st.service))
                    t += timedelta(minutes=float(st.work_minutes * np.exp(rng.normal(0, 0.5))))
            evs.append(("Done", t, stream.steps[-1].service))
            for act, ts, svc in evs:
                if ts >= end:
                    break
                cols["case_id"].append(case)
                cols["activity"].append(act)
                cols["timestamp"].append(ts.replace(microsecond=0))
                cols["process"].append(stream.id)
                cols["service"].append(svc)
    return cols


def cost_rows(rng: np.random.Generator, org: Org, start: date, days: int) -> list[dict[str, Any]]:
    rows = []
    for s in org.services:
        month = date(start.year, start.month, 1)
        level = s.monthly_cost * rng.uniform(0.85, 1.0)
        while (month - start).days < days:
            if month.month == 1:
                level *= rng.uniform(1.0, 1.06)   # yearly price rise
            rows.append({"month": month.isoformat()[:7], "service": s.id,
                         "amount": round(level * rng.uniform(0.97, 1.03), 2)})
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return rows
