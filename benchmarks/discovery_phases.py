"""Where a large log's `streams` time goes, phase by phase, each run in a fresh process (as the
command runs): imports, the read, then the discovery by NumPy (its steps) or by SQL. Run:

    python benchmarks/discovery_phases.py LOG.csv [--repeat 3] [--order seq]

Prints wall and CPU seconds (``time.process_time``: every thread of the process) per phase,
the median of ``--repeat`` fresh processes for each path, alternating the two paths.
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
import duckdb
lap("import duckdb")
from pathlib import Path
from dipstick.cli.streams import _one_shot
from dipstick.engine import discovery_sql as q
from dipstick.engine.sql import connect
from dipstick.streams.logs import LogMapping, load_event_log
from dipstick.streams.on_duckdb import discover_relation
from dipstick.waiting import WAITING_PREFIXES, is_waiting
lap("import dipstick")
_one_shot()
con = connect()
con.execute("SET disabled_optimizers = 'join_order'").fetchall()
load_event_log(con, Path(path), LogMapping(seq=order), table="events", ordered=False)
lap("read (load_event_log)")
rel = con.table("events")
if not arrays:
    discover_relation(rel, arrays=False)
    lap("discover, SQL (shape, visits, aggregates)")
else:
    import numpy as np
    from dipstick.streams import on_numpy as on
    lap("import numpy")
    log = q.shape(rel)
    lap("shape (one grouped scan)")
    cols = on._columns(rel, log)
    lap("fetch the typed columns")
    text, hashes = on._cases(rel)
    lap("distinct cases in text order")
    by = np.argsort(hashes)
    o = on._case_order(cols["h"], cols["t"], cols["s"], cols.get("r"), hashes[by])
    lap("order (stable sort by case, else lexsort and ties)")
    h, t, code = cols["h"][o], cols["t"][o], cols["code"][o]
    new = np.empty(len(h), bool)
    new[0] = True
    np.not_equal(h[1:], h[:-1], out=new[1:])
    rank = by[np.searchsorted(hashes[by], h[new])]
    lap("gather")
    waits = [a for a in log.activities if is_waiting(a, WAITING_PREFIXES)]
    on._aggregate(rank, t, code, new, text, log, waits, 10)
    lap("aggregates")
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
