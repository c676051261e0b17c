"""Where a large log's `streams` time goes, phase by phase, each run in a fresh process (as the
command runs): imports, the read, then the discovery by NumPy or by SQL, the JSON. Run:

    python benchmarks/discovery_phases.py LOG.csv [--repeat 3] [--order seq]

Prints wall and CPU seconds (``time.process_time``: every thread of the process) per phase,
the median of ``--repeat`` fresh processes for each path, alternating the two paths. Only the
public functions are called (the NumPy path's inner steps, reached into before session 17,
broke with each change of them): for those, profile (``py-spy``) instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

CHILD = r"""
import json, sys, time
marks = []
t0, c0 = time.perf_counter(), time.process_time()
def lap(name):
    global t0, c0
    t, c = time.perf_counter(), time.process_time()
    marks.append((name, t - t0, c - c0))
    t0, c0 = t, c
path, order, arrays = sys.argv[1], sys.argv[2] or None, sys.argv[3] == "1"
from dipstick import numpy_cpu
numpy_cpu.steer()   # as the console entry does: NumPy's sorts off AVX-512 on Zen 4
import duckdb
lap("import duckdb")
from pathlib import Path
from dipstick.cli.app import one_shot
from dipstick.engine.sql import connect
from dipstick.streams.logs import LogMapping, load_event_log
from dipstick.streams.on_duckdb import discover_relation
lap("import dipstick")
one_shot()
con = connect()
con.execute("SET disabled_optimizers = 'join_order'").fetchall()
lap("connect")
load_event_log(con, Path(path), LogMapping(seq=order), table="events", ordered=False,
               canonical=False)
lap("read (load_event_log)")
found = discover_relation(con.table("events"), arrays=None if arrays else False)
lap("discover, NumPy (shape, columns, order, aggregates)" if arrays
    else "discover, SQL (shape, visits, aggregates)")
text = json.dumps(found.to_json())
lap("to_json")
con.close()
lap("close")
print(json.dumps(marks))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--order", default="seq", help="the order column ('' for none)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, list[list[Any]]] = {"1": [], "0": []}
    for _ in range(args.repeat):
        for arrays in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, args.log, args.order, arrays],
                                 capture_output=True, text=True, check=True)
            runs[arrays].append(json.loads(out.stdout))
    for arrays, label in (("1", "NumPy path"), ("0", "SQL path")):
        print(f"\n## {label} (median of {args.repeat} fresh processes)")
        print("| phase | wall s | CPU s |")
        print("|---|---:|---:|")
        marks = runs[arrays]
        for i, (name, _, _) in enumerate(marks[0]):
            print(f"| {name} | {statistics.median(m[i][1] for m in marks):.3f} | "
                  f"{statistics.median(m[i][2] for m in marks):.3f} |")
        print(f"| **total** | {statistics.median(sum(x[1] for x in m) for m in marks):.3f} | "
              f"{statistics.median(sum(x[2] for x in m) for m in marks):.3f} |")


if __name__ == "__main__":
    main()
