"""Benchmark: one log in the shapes other tools export, each read by ``dipstick streams LOG
--format json`` with only the options its shape needs, against pandas + pm4py reading the same
file. Run:

    python benchmarks/log_shapes.py [--cases 7700] [--repeat 3]

Why: issue 16 times held-out real logs as it times the generated one (≥ 3× pm4py), and real
exports differ from the generator's CSV in headers, delimiter, time form, encoding and format.
Every shape holds the same events (``benchmarks/discovery.py``'s generator, seed 1, in its file
order, times in whole seconds), so each must give the map the plain CSV gives and agree with
pm4py (edges with counts, mean and median durations; variants; start and end activities):
the benchmark prints AGREE or DISAGREE per shape and exits 1 on a disagreement. The shapes:

- ``plain.csv``: the generator's CSV (``case_id,activity,timestamp``, ISO times);
- ``helpdesk.csv``: the Helpdesk log's and Disco's headers (``Case ID``, ``Activity``,
  ``Resource``, ``Complete Timestamp``), times ``2012/10/09 14:50:17.000``; no options;
- ``pm4py.csv``: pm4py's CSV export (``case:concept:name``, ``concept:name``,
  ``time:timestamp`` with ``+00:00``, ``org:resource``, ``lifecycle:transition``); no options;
- ``bpi2013.csv``: BPI Challenge 2013's shape (``;``, ``SR Number``, ``Status``, ``Change
  Date+Time`` with ``+01:00``); the three columns named;
- ``excel-de.csv``: a German Excel export (``;``, Latin-1 header ``Aktivität``, CRLF,
  ``29.02.2016 01:16:00``); the columns named and ``--dayfirst``;
- ``excel-de-eur.csv``: the same in Windows-1252 with a cost column in € and a team with an
  en dash and typographic quotes (bytes 0x80–0x9F: DuckDB's Latin-1 reader refuses them, so
  dipstick reads a UTF-8 copy); the same options;
- ``excel-us.csv``: Excel's US form (``Case``, ``Activity``, ``Timestamp``,
  ``2/29/2016 1:16:05 PM``); no options: the values tell month-first (session 28);
- ``servicenow-uk.csv``: ServiceNow's day-first ``29/02/2016 01:16:00`` (the shared real
  log's form); the columns named, no time option: the values tell day-first;
- ``oracle.csv``: Oracle's ``01-MAR-2016 09:30:05`` (a month name); no options: the first
  time's form is the log's (session 29);
- ``plain.csv.gz`` and ``log.xes`` (state log, ``Z`` times): no options;
- ``disco.csv``: one row per activity instance with ``Start Timestamp`` and ``Complete
  Timestamp`` (Disco's export; each state visit from its time to the case's next event), read
  with ``--start-timestamp`` as a start and a complete event per row, and by pm4py with
  ``start_timestamp_key``: a lifecycle reading, so its map is its own (the pairs' times run
  from one completion to the next start), compared with pm4py's only.

Contenders, a fresh process per run, alternated: dipstick's console script, and pandas +
pm4py (``read_csv`` with the shape's separator, encoding and time parse, or ``read_xes``; a
stable sort by case and time; ``format_dataframe``; ``discover_dfg``,
``discover_performance_dfg``, ``get_variants``). Wall and CPU (user + system) are medians.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery_e2e import DIPSTICK, disagreements, generated_csv, measure, print_map


@dataclass(frozen=True)
class Shape:
    name: str
    options: list[str]               # dipstick's
    peer: dict[str, Any]             # pm4py's read: columns, sep, encoding, time parse
    rows: Callable[[list[dict[str, str]]], bytes] = field(repr=False)
    own_map: bool = False            # a lifecycle reading: its own map, not the plain CSV's


def _t(r: dict[str, str]) -> datetime:
    return datetime.fromisoformat(r["timestamp"])


def _us(t: datetime) -> str:
    """Excel's US form: month first, no zero padding, a 12-hour clock (2/29/2016 1:16:05 PM)."""
    return f"{t.month}/{t.day}/{t.year} {(t.hour + 11) % 12 + 1}:{t:%M:%S %p}"


def _csv(header: list[str], row: Callable[[dict[str, str]], list[str]], sep: str = ",",
         encoding: str = "utf-8", eol: str = "\n") -> Callable[[list[dict[str, str]]], bytes]:
    def write(rows: list[dict[str, str]]) -> bytes:
        lines = [sep.join(header)] + [sep.join(row(r)) for r in rows]
        return (eol.join(lines) + eol).encode(encoding)
    return write


def _instances(rows: list[dict[str, str]]) -> bytes:
    """One row per activity instance with its start and completion, as Disco exports it: each
    state visit from its time to the case's next event (the last: zero length)."""
    nxt: dict[int, datetime] = {}
    last: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r["case_id"] in last:
            nxt[last[r["case_id"]]] = _t(r)
        last[r["case_id"]] = i
    out = ["Case ID,Activity,Start Timestamp,Complete Timestamp"]
    out += [f"{r['case_id']},{r['activity']},{_t(r)},{nxt.get(i, _t(r))}"
            for i, r in enumerate(rows)]
    return ("\n".join(out) + "\n").encode()


def _xes(rows: list[dict[str, str]]) -> bytes:
    """One trace per case (the CSV's cases are not contiguous), its events in time order, ties
    in file order: pm4py's ``read_xes`` keeps a trace's order, dipstick orders by time."""
    traces: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        traces.setdefault(r["case_id"], []).append(r)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">']
    for case, events in traces.items():
        out.append(f'<trace><string key="concept:name" value="{case}"/>')
        out += [f'<event><string key="concept:name" value="{r["activity"]}"/>'
                f'<date key="time:timestamp" value="{_t(r).isoformat()}Z"/></event>'
                for r in sorted(events, key=_t)]
        out.append("</trace>")
    out.append("</log>")
    return ("\n".join(out) + "\n").encode()


_ISO = {"case": "case_id", "activity": "activity", "timestamp": "timestamp"}
SHAPES = [
    Shape("plain.csv", [], {**_ISO, "format": "ISO8601"},
          _csv(["case_id", "activity", "timestamp"],
               lambda r: [r["case_id"], r["activity"], r["timestamp"]])),
    Shape("helpdesk.csv", [], {"case": "Case ID", "activity": "Activity",
                               "timestamp": "Complete Timestamp", "format": "%Y/%m/%d %H:%M:%S.%f"},
          _csv(["Case ID", "Activity", "Resource", "Complete Timestamp", "Variant"],
               lambda r: [r["case_id"], r["activity"], "Value 1",
                          _t(r).strftime("%Y/%m/%d %H:%M:%S.000"), "Variant 1"])),
    Shape("pm4py.csv", [], {"case": "case:concept:name", "activity": "concept:name",
                            "timestamp": "time:timestamp", "format": "ISO8601"},
          _csv(["case:concept:name", "concept:name", "time:timestamp", "org:resource",
                "lifecycle:transition"],
               lambda r: [r["case_id"], r["activity"], _t(r).isoformat(" ") + "+00:00",
                          "Value 1", "complete"])),
    Shape("bpi2013.csv", ["--case", "SR Number", "--activity", "Status", "--timestamp",
                          "Change Date+Time"],
          {"case": "SR Number", "activity": "Status", "timestamp": "Change Date+Time",
           "sep": ";", "format": "ISO8601"},
          _csv(["SR Number", "Change Date+Time", "Status", "Sub Status", "Involved ST"],
               lambda r: [r["case_id"], (_t(r) + timedelta(hours=1)).isoformat() + "+01:00",
                          r["activity"], "In Progress", "V5 3rd"], sep=";")),
    Shape("excel-de.csv", ["--case", "Fall", "--activity", "Aktivität", "--timestamp",
                           "Zeitpunkt", "--dayfirst"],
          {"case": "Fall", "activity": "Aktivität", "timestamp": "Zeitpunkt", "sep": ";",
           "encoding": "latin-1", "format": "%d.%m.%Y %H:%M:%S"},
          _csv(["Fall", "Aktivität", "Zeitpunkt"],
               lambda r: [r["case_id"], r["activity"], _t(r).strftime("%d.%m.%Y %H:%M:%S")],
               sep=";", encoding="latin-1", eol="\r\n")),
    Shape("excel-de-eur.csv", ["--case", "Fall", "--activity", "Aktivität", "--timestamp",
                               "Zeitpunkt", "--dayfirst"],
          {"case": "Fall", "activity": "Aktivität", "timestamp": "Zeitpunkt", "sep": ";",
           "encoding": "cp1252", "format": "%d.%m.%Y %H:%M:%S"},
          _csv(["Fall", "Aktivität", "Zeitpunkt", "Kosten (€)", "Bearbeiter – Team"],
               lambda r: [r["case_id"], r["activity"], _t(r).strftime("%d.%m.%Y %H:%M:%S"),
                          "12,50 €", "Müller – „Service Desk“"],
               sep=";", encoding="cp1252", eol="\r\n")),
    Shape("excel-us.csv", [], {"case": "Case", "activity": "Activity", "timestamp": "Timestamp",
                               "format": "%m/%d/%Y %I:%M:%S %p"},
          _csv(["Case", "Activity", "Timestamp"],
               lambda r: [r["case_id"], r["activity"], _us(_t(r))])),
    Shape("servicenow-uk.csv", ["--case", "number", "--activity", "incident_state",
                                "--timestamp", "sys_updated_at"],
          {"case": "number", "activity": "incident_state", "timestamp": "sys_updated_at",
           "format": "%d/%m/%Y %H:%M:%S"},
          _csv(["number", "incident_state", "sys_updated_at"],
               lambda r: [r["case_id"], r["activity"], _t(r).strftime("%d/%m/%Y %H:%M:%S")])),
    Shape("oracle.csv", [], {**_ISO, "format": "%d-%b-%Y %H:%M:%S"},
          _csv(["case_id", "activity", "timestamp"],
               lambda r: [r["case_id"], r["activity"],
                          _t(r).strftime("%d-%b-%Y %H:%M:%S").upper()])),
    Shape("plain.csv.gz", [], {**_ISO, "format": "ISO8601"},
          lambda rows: gzip.compress(SHAPES[0].rows(rows), mtime=0)),
    Shape("log.xes", [], {"xes": True}, _xes),
    Shape("disco.csv", ["--start-timestamp", "Start Timestamp"],
          {"case": "Case ID", "activity": "Activity", "start": "Start Timestamp",
           "timestamp": "Complete Timestamp", "format": "ISO8601"}, _instances, own_map=True),
]


def peer_child(spec: dict[str, Any]) -> None:
    """pandas + pm4py, whole: read, type, order, format, discover, print (``print_map``)."""
    sys._pm4py_welcome_shown = True  # type: ignore[attr-defined]  # no licence banner
    import pandas as pd
    import pm4py

    if spec.get("xes"):
        f = pm4py.read_xes(spec["path"])
    else:
        case, act, ts, start = spec["case"], spec["activity"], spec["timestamp"], spec.get("start")
        times = [ts, start] if start else [ts]
        df = pd.read_csv(spec["path"], usecols=[case, act, *times], sep=spec.get("sep", ","),
                         encoding=spec.get("encoding", "utf-8"), dtype=str)
        for t in times:
            df[t] = pd.to_datetime(df[t], format=spec["format"], utc=True)
        df = df.sort_values([case, *times[::-1]], kind="stable")
        f = pm4py.format_dataframe(df, case_id=case, activity_key=act, timestamp_key=ts,
                                   **({"start_timestamp_key": start} if start else {}))
    print_map(f)


def _map(out: Path) -> dict[str, Any]:
    """What must not depend on the shape: the map, not the file's name or the clock's zone."""
    d = json.loads(out.read_text())[0]["discovery"]
    return {k: d[k] for k in ("edges", "variants", "variant_count", "start_activities",
                              "end_activities", "events", "cases")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=7_700)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_child(json.loads(args.peer))
        return
    ok = True
    with tempfile.TemporaryDirectory(prefix="dipstick-shapes-") as tmp:
        work = Path(tmp)
        plain = generated_csv(work / "generated.csv", args.cases, 1)
        with plain.open(newline="") as f:
            rows = list(csv.DictReader(f))
        print(f"{len(rows):,} events, {args.cases:,} cases; medians of {args.repeat} runs")
        print("| shape | dipstick options | dipstick wall s | CPU s | pm4py wall s | CPU s "
              "| pm4py / dipstick (wall) | same map as plain.csv | agrees with pm4py |")
        print("|---|---|---:|---:|---:|---:|---:|---|---|")
        reference = None
        for shape in SHAPES:
            log = work / shape.name
            log.write_bytes(shape.rows(rows))
            ours = [str(DIPSTICK), "streams", str(log), "--format", "json", *shape.options]
            peer = [sys.executable, __file__, "--peer",
                    json.dumps({**shape.peer, "path": str(log)})]
            runs: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
            for _ in range(args.repeat):
                runs["ours"].append(measure(ours, work / "ours.json"))
                runs["peer"].append(measure(peer, work / "peer.json"))
            med = {k: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
                   for k, r in runs.items()}
            got = _map(work / "ours.json")
            reference = reference or got
            problems = disagreements(json.loads((work / "ours.json").read_text()),
                                     json.loads((work / "peer.json").read_text()))
            same = shape.own_map or got == reference
            ok &= same and not problems
            (dw, dc), (pw, pc) = med["ours"], med["peer"]
            shown = " ".join(o if o.startswith("--") else repr(o) for o in shape.options)
            print(f"| {shape.name} | {shown or '(none)'} | {dw:.3f} | {dc:.3f} | {pw:.3f} | "
                  f"{pc:.3f} | **{pw / dw:.1f}×** | "
                  f"{'n/a (lifecycle)' if shape.own_map else 'yes' if same else 'NO'} | "
                  f"{'AGREE' if not problems else 'DISAGREE'} |")
            for p in problems[:10]:
                print(f"  {shape.name}: {p}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
