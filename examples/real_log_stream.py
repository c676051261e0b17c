"""The value stream of the real ServiceNow incident log (../shared/data), as documented in
docs/real-log-stream.md.

    .venv/bin/python examples/real_log_stream.py [--log PATH] [--out docs/img]

Reads the audit trail with dipstick's event log reader (`number` as case, `incident_state` as
activity, `sys_updated_at` as timestamp, `sys_mod_count` as tie-break, `assignment_group` as
resource), discovers the process twice — with the default waiting states (`Awaiting …`) and with
`New` and `Resolved` counted as waiting too — prints every number the document quotes, checks
rework and handovers against the export's own `reopen_count` and `reassignment_count`, and
writes the pictures: the process map, the value stream timeline of both readings and the
lead-time distribution (HTML; PNG too when Debian's chromium is installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import narwhals as nw
import plotly.graph_objects as go
from _png import write_png  # the examples' shared PNG writer (examples/_png.py)

from dipstick.engine.sql import connect
from dipstick.figures.process_map import process_map_figure
from dipstick.figures.vsm import vsm_figure
from dipstick.model import WAITING_PREFIXES
from dipstick.streams.discover import Discovery, discover
from dipstick.streams.logs import LogMapping, read_event_log

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT.parent / "shared" / "data" / "servicenow-incidents" / "incident_event_log.csv.gz"
MAPPING = LogMapping(case_id="number", activity="incident_state", timestamp="sys_updated_at",
                     seq="sys_mod_count", resource="assignment_group", dayfirst=True)
# The two readings: what the default prefixes call waiting, and the honest one — an incident
# queued as New (nobody has picked it up) or Resolved (fixed, waiting for the caller to confirm
# or for the automatic close) is not being worked on either.
READINGS = {
    "default": WAITING_PREFIXES,
    "honest": ("Awaiting", "New", "Resolved"),
}
PREFIX = "real-log-stream-"

# One row per case: first event, the start of its last Resolved visit (the final resolution:
# runs of one state are one visit, as --collapse reads them) and the start of its last visit
# (entering Closed: later updates of a closed incident are not lead time), and its last event.
LEAD = """
CREATE TEMP TABLE lead AS
WITH ordered AS (
    SELECT case_id, activity, timestamp,
           lag(activity) OVER (PARTITION BY case_id ORDER BY timestamp, seq) AS prev
    FROM events
)
SELECT case_id,
       min(timestamp) AS first,
       max(timestamp) FILTER (WHERE activity = 'Resolved'
                              AND (prev IS NULL OR prev <> 'Resolved')) AS resolved,
       max(timestamp) FILTER (WHERE prev IS NULL OR prev <> activity) AS closed,
       max(timestamp) AS last,
       count(*) FILTER (WHERE activity = 'Resolved'
                        AND (prev IS NULL OR prev <> 'Resolved')) AS resolved_visits
FROM ordered GROUP BY case_id
"""

LEAD_STATS = """
SELECT count({x}) AS n,
       quantile_cont({x}, 0.5) AS median, quantile_cont({x}, 0.9) AS p90, avg({x}) AS mean
FROM (SELECT epoch({end} - first) / 86400 AS x FROM lead)
"""

# The export's own counters, from each incident's last row (by sys_mod_count), and every row
# where reassignment_count goes up, classified by what the visible columns did on that row.
ROWS = """
CREATE TEMP TABLE rows_ AS
WITH raw AS (
    SELECT number, sys_mod_count::INT AS mc,
           strptime(sys_updated_at, '%d/%m/%Y %H:%M') AS ts,
           nullif(assignment_group, '?') AS grp, nullif(assigned_to, '?') AS who,
           reopen_count::INT AS reopens, reassignment_count::INT AS reassignments
    FROM read_csv(?, all_varchar = true)
)
SELECT number, mc, reopens, reassignments, grp, who,
       reassignments - lag(reassignments) OVER w AS up,
       mc - lag(mc) OVER w - 1 AS unseen,             -- updates missing from the export
       lag(grp) OVER w AS prev_grp,
       lag(grp IGNORE NULLS) OVER w AS known_grp,      -- the last group before, across '?'
       who <> lag(who IGNORE NULLS) OVER w AS who_changed
FROM raw WINDOW w AS (PARTITION BY number ORDER BY ts, mc)
"""
EXPORT = """
CREATE TEMP TABLE export AS
SELECT number,
       arg_max(reopens, mc) AS reopens, arg_max(reassignments, mc) AS reassignments,
       count(*) FILTER (WHERE grp <> prev_grp) AS grp_adjacent,
       count(*) FILTER (WHERE grp <> known_grp) AS grp_known
FROM rows_ GROUP BY number
"""

# What happened on a row where reassignment_count went up (first matching line wins).
INCREMENTS = """
SELECT CASE
         WHEN grp <> prev_grp THEN '1 group A -> group B on adjacent rows (dipstick counts it)'
         WHEN grp <> known_grp THEN '2 group A -> ? -> group B (a change across an unknown group)'
         WHEN grp IS NULL AND prev_grp IS NOT NULL THEN '3 group A -> ? (the group cleared)'
         WHEN prev_grp IS NULL AND grp = known_grp THEN '4 group A -> ? -> A (set back)'
         WHEN grp IS NOT NULL AND known_grp IS NULL THEN '5 first group after ? rows'
         WHEN unseen > 0 THEN '6 no visible group change; updates missing before the row'
         ELSE '7 no visible group change' END AS what,
       count(*) AS n, count(*) FILTER (WHERE who_changed) AS with_assignee_change
FROM rows_ WHERE up > 0 GROUP BY what ORDER BY what
"""

def days(seconds: float) -> str:
    return f"{seconds / 86_400:.1f} d"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h"


def show_discovery(name: str, d: Discovery) -> None:
    t = d.throughput
    assert t is not None and d.first is not None and d.last is not None
    m = d.stream(PREFIX + name, "ServiceNow incidents")
    print(f"\n== reading '{name}': waiting = {', '.join(d.waiting_prefixes)}")
    print(f"lead time (first -> last event): median {days(t.quantile(0.5))}, "
          f"p90 {days(t.quantile(0.9))}, mean {days(t.mean)}, max {days(t.max)}")
    ratio = m.activity_ratio
    print(f"VSM: lead {m.lead_minutes / 1440:.2f} d, process {m.process_minutes / 1440:.2f} d, "
          f"wait {(m.lead_minutes - m.process_minutes) / 1440:.2f} d, activity ratio "
          f"{'-' if ratio is None else f'{ratio:.1%}'}, rolled %C&A "
          f"{m.rolled_complete_accurate:.1%}, bottleneck "
          f"{m.bottleneck.name if m.bottleneck else '-'}")
    print(f"{'activity':20} {'wait?':5} {'visits':>7} {'cases':>7} {'median in state':>15} "
          f"{'mean in state':>13} {'work h/case':>11} {'wait h/case':>11} {'rework':>6} "
          f"{'%C&A':>6}")
    n = d.cases
    for a in d.activities:
        print(f"{a.name:20} {'yes' if a.waiting else '':5} {a.visits:7,} {a.cases:7,} "
              f"{hours(a.to_next_seconds_median or 0):>15} "
              f"{hours(a.to_next_seconds_mean or 0):>13} "
              f"{a.work_seconds / 3600 / n:11.1f} {a.wait_seconds / 3600 / n:11.1f} "
              f"{a.rework_visits:6,} {a.complete_accurate:6.1%}")
    total_wait = sum(a.wait_seconds for a in d.activities)
    print("share of all wait:", ", ".join(
        f"{a.name} {a.wait_seconds / total_wait:.0%} ({a.cases / n:.0%} of incidents)"
        for a in sorted(d.activities, key=lambda a: -a.wait_seconds) if a.wait_seconds))
    print("rework hours per incident:", f"{d.rework_hours_per_case:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=LOG)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    con = connect()
    info = read_event_log(con, args.log, MAPPING, table="events")
    events = nw.from_native(con.table("events"))
    found = {name: discover(events, waiting=waiting, collapse=True)
             for name, waiting in READINGS.items()}
    d = found["default"]
    assert d.first is not None and d.last is not None and d.cases_per_month is not None
    opened = con.execute("SELECT min(first), max(first) FROM (SELECT min(timestamp) AS first "
                         "FROM events GROUP BY case_id)").fetchall()[0]
    print(f"{info.rows:,} events, {d.cases:,} incidents; first events {opened[0]:%Y-%m-%d} .. "
          f"{opened[1]:%Y-%m-%d}; log spans {d.first:%Y-%m-%d} .. {d.last:%Y-%m-%d}; "
          f"{d.cases_per_month:,.0f} incidents a month over the span")
    weeks = (opened[1] - opened[0]).total_seconds() / 86_400 / 7
    print(f"arrivals: {d.cases / weeks:,.0f} incidents a week over the {weeks:.1f} weeks in which "
          f"they were opened")
    gap = con.execute(
        "SELECT quantile_cont(x, [0.5, 0.9]), max(x) FROM (SELECT epoch(min(strptime("
        "sys_updated_at, '%d/%m/%Y %H:%M')) - min(strptime(opened_at, '%d/%m/%Y %H:%M'))) / 60 "
        "AS x FROM read_csv(?, all_varchar = true) GROUP BY number)", [str(args.log)]
    ).fetchall()[0]
    print(f"opened_at -> first logged update: median {gap[0][0]:.0f} min, p90 {gap[0][1]:.0f} "
          f"min, max {gap[1] / 60:.1f} h")

    for name, found_d in found.items():
        show_discovery(name, found_d)

    print("\n== lead time per incident (SQL on the events table), days")
    con.execute(LEAD).fetchall()
    for label, end in (("to final Resolved", "resolved"), ("to Closed", "closed"),
                       ("to the last event", "last")):
        n, med, p90, mean = con.execute(LEAD_STATS.format(x="x", end=end)).fetchall()[0]
        print(f"{label:23} n={n:,} median {med:.2f} p90 {p90:.2f} mean {mean:.2f}")
    n, med, p90, mean = con.execute(
        "SELECT count(*), quantile_cont(x, 0.5), quantile_cont(x, 0.9), avg(x) FROM "
        "(SELECT epoch(closed - resolved) / 86400 AS x FROM lead WHERE resolved IS NOT NULL)"
    ).fetchall()[0]
    print(f"{'final Resolved -> Closed':23} n={n:,} median {med:.2f} p90 {p90:.2f} "
          f"mean {mean:.2f}")
    within = con.execute("SELECT avg((epoch(closed - first) <= 5.1 * 86400)::INT), "
                         "avg((epoch(closed - first) < 5 * 86400)::INT) FROM lead").fetchall()[0]
    print(f"closed within 5 days: {within[1]:.1%}; within 5.1 days: {within[0]:.1%}")
    honest_d = found["honest"]
    honest = honest_d.stream("h", "h")
    mean_resolved = con.execute(
        "SELECT avg(epoch(coalesce(resolved, closed) - first)) / 60 FROM lead").fetchall()[0][0]
    print(f"honest reading: work {honest.process_minutes / 1440:.2f} d per incident = "
          f"{honest.process_minutes / honest.lead_minutes:.1%} of the lead time to Closed, "
          f"{honest.process_minutes / mean_resolved:.1%} of the lead time to final Resolved "
          f"({mean_resolved / 1440:.2f} d)")

    before = sorted((a for a in honest_d.activities if a.name not in ("Resolved", "Closed")),
                    key=lambda a: -(a.work_seconds + a.wait_seconds))
    print("before the fix (per incident, hours):", ", ".join(
        f"{a.name} {(a.work_seconds + a.wait_seconds) / 3600 / honest_d.cases:.1f}"
        for a in before))

    print("\n== main path and variants (collapsed states)")
    print(f"{d.variant_count} variants; top 3 cover "
          f"{sum(v.share for v in d.variants[:3]):.1%}, top 10 "
          f"{sum(v.share for v in d.variants[:10]):.1%}")
    for v in d.variants[:10]:
        print(f"  {v.share:6.1%} {v.cases:6,}  mean lead {days(v.mean_throughput_seconds):>7}  "
              f"{' -> '.join(v.activities)}")
    print("start states:", ", ".join(f"{k} {v:,}" for k, v in d.start_activities.items()))
    print("end states:  ", ", ".join(f"{k} {v:,}" for k, v in d.end_activities.items()))
    print("directly-follows pairs (top 14):")
    for e in d.edges[:14]:
        print(f"  {e.source:19} -> {e.target:19} {e.count:7,}  median {hours(e.median_seconds):>9}"
              f"  mean {hours(e.mean_seconds):>9}")
    back = [e for e in d.edges if e.source in ("Resolved", "Closed") and e.target != "Closed"]
    print("back out of Resolved/Closed:",
          ", ".join(f"{e.source} -> {e.target} {e.count:,}" for e in back),
          f"(total {sum(e.count for e in back):,})")

    print("\n== rework and handovers vs the export's own counters")
    cross_check(con, d, args.log)

    args.out.mkdir(parents=True, exist_ok=True)
    pictures = [
        write_png(process_map_figure(found["honest"], "ServiceNow incidents, states as activities "
                                  "(New and Resolved read as waiting)"),
               args.out / f"{PREFIX}map", 1500, 600),
        write_png(vsm_figure(found["default"].stream("default", "Default reading (only Awaiting … "
                                                  "is waiting)")),
               args.out / f"{PREFIX}vsm-default", 1000, 380),
        write_png(vsm_figure(found["honest"].stream("honest", "Honest reading (New and Resolved "
                                                 "are waiting too)")),
               args.out / f"{PREFIX}vsm-honest", 1000, 380),
        write_png(lead_figure(con), args.out / f"{PREFIX}lead-time", 1000, 480),
    ]
    print("\npictures:", *[str(p) for p in pictures], sep="\n  ")


def cross_check(con: duckdb.DuckDBPyConnection, d: Discovery, log: Path) -> None:
    con.execute(ROWS, [str(log)]).fetchall()
    con.execute(EXPORT).fetchall()
    con.execute("CREATE TEMP TABLE both_ AS SELECT e.*, l.resolved_visits FROM export e "
                "JOIN lead l ON l.case_id = e.number").fetchall()
    resolved = next(a for a in d.activities if a.name == "Resolved")
    r = con.execute("""
        SELECT sum(reopens), count(*) FILTER (WHERE reopens > 0),
               sum(greatest(resolved_visits - 1, 0)),
               count(*) FILTER (WHERE resolved_visits > 1),
               count(*) FILTER (WHERE reopens = greatest(resolved_visits - 1, 0)),
               count(*) FILTER (WHERE reopens > greatest(resolved_visits - 1, 0)),
               count(*) FILTER (WHERE reopens < greatest(resolved_visits - 1, 0)),
               count(*)
        FROM both_""").fetchall()[0]
    print(f"reopen_count (last row): {r[0]:,} reopens in {r[1]:,} incidents")
    print(f"dipstick: Resolved visits - cases = {resolved.visits - resolved.cases:,} repeat "
          f"visits; rework rule counts {resolved.rework_visits:,} visits in "
          f"{resolved.rework_cases:,} incidents (returns via a waiting state excluded); "
          f"%C&A {resolved.complete_accurate:.1%}")
    print(f"SQL repeat Resolved visits: {r[2]:,} in {r[3]:,} incidents; per incident equal to "
          f"reopen_count in {r[4]:,} of {r[7]:,}, fewer in {r[5]:,}, more in {r[6]:,}")
    h = con.execute("""
        SELECT sum(reassignments), count(*) FILTER (WHERE reassignments > 0),
               sum(grp_adjacent), count(*) FILTER (WHERE grp_adjacent > 0),
               sum(grp_known), count(*) FILTER (WHERE grp_known > 0),
               count(*) FILTER (WHERE reassignments = grp_known),
               count(*) FILTER (WHERE reassignments > grp_known),
               count(*) FILTER (WHERE reassignments < grp_known),
               count(*)
        FROM export""").fetchall()[0]
    assert d.handovers_per_case is not None and d.cases_with_handover is not None
    print(f"reassignment_count (last row): {h[0]:,} in {h[1]:,} incidents "
          f"({h[0] / h[9]:.2f} per incident)")
    print(f"dipstick handovers: {d.handovers_per_case:.3f} per case = "
          f"{d.handovers_per_case * d.cases:,.0f}, {d.cases_with_handover:,} incidents with any")
    print(f"SQL group changes, adjacent rows both known: {h[2]:,} in {h[3]:,} incidents")
    print(f"SQL group changes, across unknown '?' rows: {h[4]:,} in {h[5]:,} incidents "
          f"({h[5] / h[9]:.1%}); "
          f"equal to reassignment_count in {h[6]:,}, fewer in {h[7]:,}, more in {h[8]:,}")
    steps = con.execute("SELECT up, count(*) FROM rows_ WHERE up <> 0 GROUP BY up").fetchall()
    print("reassignment_count steps between rows:",
          ", ".join(f"{u:+d}: {n:,} rows" for u, n in steps))
    print("rows where reassignment_count goes up, by what the row shows:")
    for what, n, who in con.execute(INCREMENTS).fetchall():
        print(f"  {n:6,}  {what[2:]} (assignee changed too: {who:,})")
    who = con.execute("SELECT count(*), count(*) FILTER (WHERE up > 0) FROM rows_ "
                      "WHERE who_changed AND grp IS NOT DISTINCT FROM prev_grp").fetchall()[0]
    print(f"assignee changes with the group unchanged: {who[0]:,} rows, of which "
          f"{who[1]:,} raise reassignment_count")
    unseen = con.execute("SELECT sum(unseen) FROM rows_ WHERE unseen > 0").fetchall()[0][0]
    print(f"updates missing from the export (sys_mod_count gaps): {unseen:,}")
    rows = con.execute("""
        SELECT least(reassignments, 5) AS r, least(grp_known, 5) AS g, count(*)
        FROM export GROUP BY ALL ORDER BY ALL""").fetchall()
    table: dict[int, dict[int, int]] = {}
    for ra, g, c in rows:
        table.setdefault(ra, {})[g] = c
    print("incidents by reassignment_count (rows) x group changes across '?' (columns), 5 = 5+")
    print("      " + "".join(f"{g:>7}" for g in range(6)))
    for ra in sorted(table):
        print(f"  {ra:>2}  " + "".join(f"{table[ra].get(g, 0):7,}" for g in range(6)))


def lead_figure(con: duckdb.DuckDBPyConnection) -> go.Figure:
    """The share of incidents done within N days: to the final Resolved and to Closed."""
    cap = 45
    fig = go.Figure()
    for label, end, colour in (("to final Resolved (the caller has the fix)", "resolved",
                                "#4a6fa5"),
                               ("to Closed (the ticket is shut)", "closed", "#d64545")):
        rows = con.execute(f"""
            WITH d AS (SELECT floor(epoch({end} - first) / 8640) / 10 AS day, count(*) AS n
                       FROM lead WHERE {end} IS NOT NULL GROUP BY day)
            SELECT day + 0.1, sum(n) OVER (ORDER BY day) / sum(n) OVER () FROM d
            WHERE day <= {cap} ORDER BY day""").fetchall()
        med, p90 = con.execute(
            f"SELECT quantile_cont(epoch({end} - first) / 86400, [0.5, 0.9]) FROM lead"
        ).fetchall()[0][0]
        fig.add_scatter(x=[0.0] + [r[0] for r in rows], y=[0.0] + [r[1] for r in rows],
                        mode="lines", line={"color": colour, "width": 2.5, "shape": "hv"},
                        name=f"{label}: median {med:.1f} d, p90 {p90:.1f} d")
        fig.add_scatter(x=[med, p90], y=[0.5, 0.9], mode="markers+text", showlegend=False,
                        marker={"color": colour, "size": 9},
                        text=[f"median {med:.1f} d", f"p90 {p90:.1f} d"],
                        textposition="middle right", textfont={"color": colour})
    fig.update_layout(
        template="plotly_white",
        title={"text": "Lead time per incident, from its first logged update: the share of "
                       f"incidents done within N days (0–{cap} days shown)",
               "font": {"size": 13}},
        xaxis={"title": "days since the first logged update", "range": [0, cap],
               "dtick": 5},
        yaxis={"title": "share of incidents", "tickformat": ".0%", "range": [0, 1.02],
               "dtick": 0.1},
        legend={"orientation": "h", "y": -0.22, "x": 0},
        margin={"l": 60, "r": 20, "t": 50, "b": 90})
    return fig


if __name__ == "__main__":
    main()
