"""Shift detection on the real ServiceNow incident log (../shared/data), as documented in
docs/real-log-shifts.md.

    .venv/bin/python examples/real_log_shifts.py [--log PATH] [--out docs/img]

Collapses the audit trail (one row per update) into one incident per `number` (last state
wins), builds weekly series of incidents opened, median resolution hours, reopen share and mean
reassignments — for the whole log and per top category and assignment group — runs dipstick's
detector on each, prints every shift, and writes a chart per series with a shift (HTML; PNG too
when Debian's chromium is installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np
from _png import write_png  # the examples' shared PNG writer (examples/_png.py)

from dipstick.figures.trend import trend_figure
from dipstick.shifts import Params, Series, SeriesKey, detect
from dipstick.shifts.findings import Trend

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT.parent / "shared" / "data" / "servicenow-incidents" / "incident_event_log.csv.gz"
# The log spans 11 weeks of opened incidents: new levels are allowed to last 3 weeks (the
# default, 6, needs a 12-week series to find anything at all).
PARAMS = Params(min_size=3)

INCIDENTS = """
CREATE TABLE incidents AS
SELECT number,
       strptime(any_value(opened_at), '%d/%m/%Y %H:%M') AS opened_at,
       max(try_strptime(nullif(resolved_at, '?'), '%d/%m/%Y %H:%M')) AS resolved_at,
       max(reopen_count::INT) AS reopens,
       max(reassignment_count::INT) AS reassignments,
       arg_max(category, sys_mod_count::INT) AS category,
       arg_max(assignment_group, sys_mod_count::INT) AS assignment_group
FROM read_csv(?, all_varchar = true)
GROUP BY number
"""

WEEKLY = """
SELECT (datediff('day', DATE '1970-01-05', opened_at::DATE) // 7) AS week,
       count(*) AS opened,
       median(epoch(resolved_at - opened_at) / 3600) AS resolution_hours,
       avg((reopens > 0)::INT) AS reopen_share,
       avg(reassignments) AS reassignments
FROM incidents WHERE {where}
GROUP BY week HAVING count(*) >= 20 ORDER BY week
"""

# The charts docs/real-log-shifts.md shows; --all writes one per series with a shift.
FEATURED = {("all incidents", "resolution_hours"), ("all incidents", "reassignments"),
            ("Group 70", "opened"), ("all incidents", "opened")}
METRICS = {"opened": True, "resolution_hours": True, "reopen_share": True,
           "reassignments": True}


def series_of(con: duckdb.DuckDBPyConnection, subject: str, where: str) -> list[Series]:
    rows = con.execute(WEEKLY.format(where=where)).fetchall()
    weeks = np.array([r[0] for r in rows], dtype=np.int64)
    out = []
    for i, (metric, worse_up) in enumerate(METRICS.items(), start=1):
        values = np.array([float(r[i]) for r in rows], dtype=np.float64)
        out.append(Series(SeriesKey("service", subject, metric), weeks, values, worse_up))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=LOG)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--all", action="store_true", help="a chart for every shift found")
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(INCIDENTS, [str(args.log)]).fetchall()
    total, first, last = con.execute(
        "SELECT count(*), min(opened_at), max(opened_at) FROM incidents").fetchall()[0]
    print(f"{total:,} incidents opened {first:%Y-%m-%d} .. {last:%Y-%m-%d}")
    subjects = [("all incidents", "true")]
    for column in ("category", "assignment_group"):
        top = con.execute(f"SELECT {column}, count(*) FROM incidents WHERE {column} <> '?' "
                          f"GROUP BY 1 ORDER BY 2 DESC LIMIT 3").fetchall()
        subjects += [(name, f"{column} = '{name}'") for name, _ in top]
    args.out.mkdir(parents=True, exist_ok=True)
    charts = []
    for subject, where in subjects:
        for s in series_of(con, subject, where):
            shifts = detect(s, PARAMS)
            if (subject, s.key.metric) in FEATURED and not shifts:
                print(f"{subject:16} {s.key.metric:17} no shift")
            for shift in shifts:
                print(f"{subject:16} {s.key.metric:17} week of {shift.date}: "
                      f"{shift.before:8.2f} -> {shift.after:8.2f} "
                      f"({shift.relative_change:+.0%}, confidence {shift.confidence:.0%})")
                if not args.all and (subject, s.key.metric) not in FEATURED:
                    continue
                trend = Trend(f"{s.key.metric} ({subject})", s.weeks,
                              tuple(float(v) for v in s.values), shift.date, shift.before,
                              shift.after, s.higher_is_worse)
                name = f"real-log-{subject}-{s.key.metric}".replace(" ", "-").lower()
                fig = trend_figure(trend, f"ServiceNow log — {subject}: {s.key.metric}")
                charts.append(write_png(fig, args.out / name, 860, 260))
    print("charts:", *[str(c) for c in charts], sep="\n  ")


if __name__ == "__main__":
    main()
