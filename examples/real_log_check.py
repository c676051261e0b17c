"""The real ServiceNow log from raw export to lights, as documented in docs/real-log-check.md.

    .venv/bin/python examples/real_log_check.py [--log PATH] [--pkg DIR] [--out docs/img]

Runs the recipe's import through the core (``import_file``, the same options as the
documented command), checks the package, prints the figures the doc quotes, and draws the
portfolio heatmap (the first 25 services, worst first) and the reassignments per ticket of
every group against the watch and leak lines (HTML; PNG too when Debian's chromium is
installed).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import plotly.graph_objects as go
from _png import write_png  # the examples' shared PNG writer (examples/_png.py)

from dipstick.check import run_check
from dipstick.connectors.imports import ImportOptions, import_file
from dipstick.figures.heatmap import status_heatmap
from dipstick.package import load_package

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT.parent / "shared" / "data" / "servicenow-incidents" / "incident_event_log.csv.gz"
PREFIX = "real-log-check-"


def reassignment_figure(rows: list[tuple[str, float, int, str]], watch: float,
                        leak: float) -> go.Figure:
    colour = {"leak": "#d62728", "watch": "#ff9f1c", "ok": "#2ca02c", "unknown": "#b0b0b0"}
    fig = go.Figure(go.Bar(
        x=[r[0] for r in rows], y=[r[1] for r in rows],
        marker_color=[colour[r[3]] for r in rows],
        customdata=[r[2] for r in rows],
        hovertemplate="%{x}: %{y:.2f} reassignments per ticket (%{customdata} tickets)"
                      "<extra></extra>"))
    for y, name in ((watch, "watch"), (leak, "leak")):
        fig.add_hline(y=y, line_dash="dash", line_color=colour[name],
                      annotation_text=f"{name} ≥ {y:g}", annotation_position="top right")
    fig.update_layout(title="Reassignments per ticket by assignment group (grey: fewer than 10 "
                            "tickets, not judged)", template="plotly_white",
                      xaxis={"tickangle": -60, "tickfont": {"size": 9}},
                      yaxis={"title": "reassignments per ticket"}, margin={"b": 90})
    return fig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", type=Path, default=LOG)
    ap.add_argument("--pkg", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    a = ap.parse_args()
    tmp = None
    if a.pkg is None:
        tmp = Path(tempfile.mkdtemp(prefix="real-log-check-"))
        a.pkg = tmp / "real-log-pkg"
    try:
        summary = import_file("tickets", a.log, a.pkg, ImportOptions(
            preset="servicenow", service_from="assignment_group", starter_services=True))
        print({k: v for k, v in summary.to_json().items()
               if k not in ("unmapped", "services_added")})
        print(f"services added: {len(summary.services_added)}")
        package = load_package(a.pkg)
        result = run_check(package)
        package.close()
        data = result.to_json()
        print(data["summary"])
        statuses = Counter((c, s["causes"][c]["status"]) for s in data["services"]
                           for c in s["causes"])
        print(sorted(statuses.items()))
        rows = []
        for s in data["services"]:
            emx = s["causes"]["employee_experience"]
            ev = {e["metric"]: e for e in emx["evidence"]}
            value = ev["reassignments"]["value"]
            rows.append((s["name"], value or 0.0, s["id"], emx["status"]))
        con = duckdb.connect()
        counts = dict(con.execute(f"SELECT service, count(*) FROM read_parquet("
                                  f"'{a.pkg / 'tickets.parquet'}') GROUP BY 1").fetchall())
        rows = sorted(((n, v, counts.get(i, 0), st) for n, v, i, st in rows),
                      key=lambda r: -r[1])
        for r in rows[:15]:
            print(f"  {r[0]:<12} {r[1]:.2f} reassignments/ticket, {r[2]:>5} tickets, {r[3]}")
        a.out.mkdir(parents=True, exist_ok=True)
        print(write_png(status_heatmap(result, limit=25), a.out / f"{PREFIX}heatmap", 900, 760))
        print(write_png(reassignment_figure(rows, 1.5, 2.5), a.out / f"{PREFIX}reassignments",
                        1100, 460))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
