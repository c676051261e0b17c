"""The demo's event log: access requests raised at the service desk, as a ticketing tool exports
its audit trail — one row per change of state, the way dipstick discovers a value stream.

Six months of requests: submitted, often awaiting a manager's approval, worked on, sometimes
awaiting the requester, fulfilled; a few are reopened. Healthy by design (about half the lead
time is work, few reopens): it shows discovery and the process map without adding a leak the
ground truth does not list.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from dipstick.demo.timeline import OFFICE_WEEK, Timeline

PROCESS = "access_request"
SERVICE = "service_desk"
STREAM = {"id": "access_request", "name": "Grant access to a system",
          "event_log": {"process": PROCESS, "waiting": ["Awaiting"]}}
DAYS = 182
PER_WORKDAY = 14


def events_table(tl: Timeline, rng: np.random.Generator) -> pa.Table:
    """Rows of (case_id, activity, timestamp, process, resource, service), a case's rows in
    time order, timestamps to the minute."""
    start = datetime.combine(tl.as_of, datetime.min.time()) - timedelta(days=DAYS - 1)
    day_of = np.repeat(np.arange(DAYS), rng.poisson(
        PER_WORKDAY * OFFICE_WEEK[[(start + timedelta(days=int(d))).weekday()
                                   for d in range(DAYS)]]))
    n = len(day_of)
    opened = day_of * 1440.0 + rng.uniform(8 * 60, 17 * 60, n)   # minutes since start
    hours = {  # lognormal durations (median hours, spread) of each state
        "Submitted": (0.4, 0.8), "Awaiting Approval": (2.5, 0.9), "In Progress": (3.0, 0.7),
        "Awaiting Requester": (6.0, 1.0), "Reopened work": (1.5, 0.6)}

    def draw(state: str) -> np.ndarray:
        median, sigma = hours[state]
        return 60 * median * rng.lognormal(0.0, sigma, n)

    approval = rng.random(n) < 0.7
    requester = rng.random(n) < 0.22
    reopened = rng.random(n) < 0.04
    teams = rng.choice(["IAM team", "Service desk", "App owners"], n, p=[0.6, 0.3, 0.1])
    second = np.where(rng.random(n) < 0.3, "IAM team", teams)
    rows: list[tuple[np.ndarray, str, np.ndarray, np.ndarray]] = []   # (mask, state, t, team)
    t = opened.copy()
    everyone = np.ones(n, dtype=bool)
    rows.append((everyone, "Submitted", t.copy(), teams))
    t += draw("Submitted")
    rows.append((approval, "Awaiting Approval", t.copy(), teams))
    t += np.where(approval, draw("Awaiting Approval"), 0.0)
    rows.append((everyone, "In Progress", t.copy(), teams))
    t += draw("In Progress")
    rows.append((requester, "Awaiting Requester", t.copy(), teams))
    t += np.where(requester, draw("Awaiting Requester"), 0.0)
    rows.append((requester, "In Progress", t.copy(), second))
    t += np.where(requester, draw("In Progress") / 3, 0.0)
    rows.append((everyone, "Fulfilled", t.copy(), second))
    t += np.where(reopened, 60 * rng.uniform(2, 48, n), 0.0)
    rows.append((reopened, "In Progress", t.copy(), second))
    t += np.where(reopened, draw("Reopened work"), 0.0)
    rows.append((reopened, "Fulfilled", t.copy(), second))
    ids = np.array([f"REQ{i + 1:06d}" for i in range(n)])
    keep = rows
    case = np.concatenate([ids[m] for m, _, _, _ in keep])
    step = np.concatenate([np.full(m.sum(), k) for k, (m, _, _, _) in enumerate(keep)])
    minutes = np.concatenate([tt[m] for m, _, tt, _ in keep])
    order = np.lexsort((step, case))
    ts = np.datetime64(start, "m") + np.floor(minutes[order]).astype("timedelta64[m]")
    cutoff = np.datetime64(datetime.combine(tl.as_of, datetime.min.time()) + timedelta(days=1),
                           "m")
    inside = ts < cutoff   # the export is taken on the as-of date: later events do not exist
    return pa.table({
        "case_id": case[order][inside],
        "activity": np.concatenate([np.full(m.sum(), s, dtype=object)
                                    for m, s, _, _ in keep])[order][inside],
        "timestamp": pa.array(ts[inside].astype("datetime64[s]")),
        "process": np.full(int(inside.sum()), PROCESS),
        "resource": np.concatenate([team[m] for m, _, _, team in keep])[order][inside],
        "service": np.full(int(inside.sum()), SERVICE),
    })
