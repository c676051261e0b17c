"""Benchmark: discovery end to end, from the log file to the printed result, each in a fresh
process — ``dipstick streams LOG --format json`` vs pandas + pm4py. Run:

    python benchmarks/discovery_e2e.py [--repeat 5] [--sizes 1800 7700 150000] [--real PATH]
                                       [--base SRC]

First, ``discover()``'s fixed cost in process on a 5-case log (vs the portable formulation).

Logs (CSV, the form exports come in; both contenders read the same file):

- the real ServiceNow log as shared (``incident_event_log.csv.gz``: 120 k events, 36 columns,
  gzip, day-first dates, ``?`` for missing), state reading, ``sys_mod_count`` orders ties;
- generated ticket-like state logs of ~15 k, ~65 k and ~1.27 M events (``benchmarks/discovery.py``'s
  generator, seed 1: 1,800, 7,700 and 150,000 cases), ISO timestamps, ``seq`` orders ties.

Contenders, each a fresh process per run (Python start-up and imports included):

- **dipstick**: the console script ``dipstick streams LOG --format json`` with the mapping
  (until session 22 also "its imports only": the command module imported by hand and the app
  run, from before the CLI loaded commands lazily; since then it cost more than the command
  itself — the module's eager registration builds its options through Typer's pydantic
  adapters, ~0.1–0.15 s, and it skipped the entry's NumPy steering — so it measured a path
  no one runs, and was dropped);
- **pm4py**: ``pandas.read_csv`` (the four columns), ``to_datetime``, a stable sort by (case,
  timestamp, order), ``pm4py.format_dataframe``, ``discover_dfg``, ``discover_performance_dfg``,
  ``get_variants``, the result printed as JSON;
- **floors**: ``python -c "import duckdb"`` (start-up only), and a fresh process that imports
  DuckDB and parses the same file's four columns as text, nothing more (``READ_FLOOR``:
  the least any DuckDB-based reader of the file costs).

With ``--base SRC`` (another checkout's ``src``, e.g. a ``git worktree`` of the session's
start), the same ``dipstick streams`` command runs with that source first on the path too,
in turn with the others: before and after from one run.

Wall and CPU time (user + system of the child, from ``os.wait4``) are the median of
``--repeat`` runs, run alternately. The results must agree (edges, counts, mean and median
durations within a second, the number of variants and each listed variant's cases): the
benchmark prints AGREE or DISAGREE and exits 1 on disagreement. dipstick's sources are
byte-compiled first, as an install leaves them and as pandas' and pm4py's are
(``machine.byte_compiled``; before session 17 every run compiled them from source here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery import REAL_LOG, generate

DIPSTICK = Path(sys.executable).with_name("dipstick")
# The file's four mapped columns parsed by DuckDB as text and counted: its columns named from
# the header, nothing sniffed (the cheapest DuckDB read of the file; dipstick's own read also
# types the values and keeps the file order).
READ_FLOOR = """import csv, gzip, sys, duckdb
path, *cols = sys.argv[1:]
with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
    names = next(csv.reader([f.readline().strip()]))
spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
counts = ", ".join(f'count("{c}")' for c in cols)
print(duckdb.sql(f"SELECT {counts} FROM read_csv('{path}', header = true, auto_detect = false, "
                 f"columns = {spec})").fetchall())
"""


@dataclass(frozen=True)
class Log:
    name: str
    path: Path
    case: str
    activity: str
    timestamp: str
    order: str
    time_format: str | None = None

    def dipstick(self) -> list[str]:
        fmt = ["--time-format", self.time_format] if self.time_format else []
        return [str(DIPSTICK), "streams", str(self.path), "--format", "json",
                "--case", self.case, "--activity", self.activity, "--timestamp",
                self.timestamp, "--order", self.order, *fmt]

    def read_floor(self) -> list[str]:
        return [sys.executable, "-c", READ_FLOOR, str(self.path), self.case, self.activity,
                self.timestamp, self.order]

    def pm4py(self) -> list[str]:
        return [sys.executable, __file__, "--pm4py", json.dumps(self.__dict__, default=str)]


def pm4py_child(spec: dict[str, Any]) -> None:
    """The peer, whole: read, type, order, format, discover, print."""
    sys._pm4py_welcome_shown = True  # type: ignore[attr-defined]  # no licence banner
    import pandas as pd
    import pm4py

    case, act, ts, order = spec["case"], spec["activity"], spec["timestamp"], spec["order"]
    df = pd.read_csv(spec["path"], usecols=[case, act, ts, order], na_values=["?"],
                     keep_default_na=False, dtype={case: str, act: str, ts: str})
    df[ts] = pd.to_datetime(df[ts], format=spec["time_format"] or "ISO8601")
    df = df.sort_values([case, ts, order], kind="stable")
    print_map(pm4py.format_dataframe(df, case_id=case, activity_key=act, timestamp_key=ts))


def print_map(f: Any) -> None:
    """pm4py's directly-follows graph, its performance and the variants of the formatted log
    ``f``, printed as JSON (what ``disagreements`` compares with dipstick's)."""
    import pm4py

    dfg, start, end = pm4py.discover_dfg(f)
    perf, _, _ = pm4py.discover_performance_dfg(f)
    variants = pm4py.get_variants(f)
    print(json.dumps({
        "edges": [{"source": a, "target": b, "count": n, "mean_seconds": perf[a, b]["mean"],
                   "median_seconds": perf[a, b]["median"]} for (a, b), n in dfg.items()],
        "start": start, "end": end,
        "variants": [{"activities": list(k), "cases": int(v)} for k, v in variants.items()]}))


def measure(args: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one fresh process, stdout kept."""
    with out.open("wb") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.PIPE,
                                env=None if env is None else {**os.environ, **env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if status:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({status}): {' '.join(args)}\n{err[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def disagreements(ours: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    d = ours[0]["discovery"]
    a = {(e["source"], e["target"]): e for e in d["edges"]}
    b = {(e["source"], e["target"]): e for e in peer["edges"]}
    out = []
    if set(a) != set(b):
        out.append(f"edges only in dipstick: {sorted(set(a) - set(b))}; "
                   f"only in pm4py: {sorted(set(b) - set(a))}")
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x["count"] != y["count"]:
            out.append(f"{k}: count {x['count']} vs {y['count']}")
        for m in ("mean_seconds", "median_seconds"):
            if not abs(x[m] - y[m]) < 1.0:
                out.append(f"{k}: {m} {x[m]:.3f} vs {y[m]:.3f}")
    variants = {tuple(v["activities"]): v["cases"] for v in peer["variants"]}
    if d["variant_count"] != len(variants):
        out.append(f"variants: {d['variant_count']} vs {len(variants)}")
    for v in d["variants"]:
        if variants.get(tuple(v["activities"])) != v["cases"]:
            out.append(f"variant {v['activities']}: {v['cases']} cases vs "
                       f"{variants.get(tuple(v['activities']))}")
    if d["start_activities"] != peer["start"] or d["end_activities"] != peer["end"]:
        out.append("start or end activities differ")
    return out


BASE = "dipstick streams, --base src"


def bench(log: Log, repeat: int, work: Path, base: Path | None = None) -> bool:
    contenders = {"dipstick streams": log.dipstick(),
                  "pandas + pm4py": log.pm4py(),
                  "floor: python -c 'import duckdb'": [sys.executable, "-c", "import duckdb"],
                  "floor: import duckdb + read_csv of the 4 columns": log.read_floor()}
    envs = {}
    if base is not None:
        contenders[BASE] = log.dipstick()
        envs[BASE] = {"PYTHONPATH": str(base)}
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
    outs = {k: work / f"out-{i}.json" for i, k in enumerate(contenders)}
    for _ in range(repeat):
        for k, args in contenders.items():
            runs[k].append(measure(args, outs[k], envs.get(k)))
    ours = json.loads(outs["dipstick streams"].read_text())
    same = base is None or outs[BASE].read_bytes() == outs["dipstick streams"].read_bytes()
    if not same:
        print("DIFFERENT: the --base src printed other bytes")
    print(f"\n## {log.name} — {ours[0]['discovery']['events']:,} events, "
          f"{ours[0]['discovery']['cases']:,} cases, {log.path.stat().st_size / 1e6:.1f} MB")
    print("| contender | wall s (median) | runs | CPU s (median) |")
    print("|---|---:|---|---:|")
    for k, r in runs.items():
        print(f"| {k} | {statistics.median(w for w, _ in r):.3f} | "
              f"{', '.join(f'{w:.2f}' for w, _ in r)} | "
              f"{statistics.median(c for _, c in r):.3f} |")
    med = {k: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
           for k, r in runs.items()}
    pw, pc = med["pandas + pm4py"]
    for k in ("dipstick streams", *([BASE] if base is not None else [])):
        dw, dc = med[k]
        print(f"pm4py / {k}: wall **{pw / dw:.1f}×**, CPU {pc / dc:.1f}×")
    fw, fc = med["floor: import duckdb + read_csv of the 4 columns"]
    dw, dc = med["dipstick streams"]
    print(f"dipstick streams / the read floor: wall {dw / fw:.1f}×, CPU {dc / fc:.1f}×; "
          f"pm4py / the read floor: wall {pw / fw:.1f}×, CPU {pc / fc:.1f}× (the most any "
          "DuckDB reader of this file could be ahead of pm4py)")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    problems = disagreements(ours, json.loads(outs["pandas + pm4py"].read_text()))
    print(f"{len(ours[0]['discovery']['edges'])} edges, "
          f"{ours[0]['discovery']['variant_count']:,} variants: "
          f"{'AGREE' if not problems else 'DISAGREE'}")
    for p in problems[:20]:
        print("  " + p)
    return not problems and same


def fixed_cost(repeat: int) -> None:
    """``discover()`` in process on a 5-case log: its fixed cost, against the portable Narwhals
    formulation (the eighteen-query path it replaced on DuckDB) in the same process."""
    import narwhals as nw

    from dipstick.engine.sql import connect
    from dipstick.streams.discover import discover, discover_portable

    con = connect()
    con.execute("CREATE TABLE events AS SELECT 'c' || (i % 5) AS case_id, "
                "['New', 'Active', 'Awaiting User', 'Active', 'Closed'][i // 5 + 1] AS activity, "
                "TIMESTAMP '2026-03-02 09:00' + INTERVAL (i * 97) MINUTE AS timestamp, "
                "i AS seq, i + 1 AS _row FROM range(25) t(i)").fetchall()
    events = nw.from_native(con.table("events"))
    print(f"\n## discover() in process on a 5-case log (median of {repeat})")
    print("| formulation | wall s | CPU s |")
    print("|---|---:|---:|")
    for name, f in (("discover() (DuckDB SQL)", discover),
                    ("discover_portable() (Narwhals, the former path)", discover_portable)):
        f(events)   # warm: first-call imports and plans
        runs = []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            f(events)
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        print(f"| {name} | {statistics.median(w for w, _ in runs):.3f} | "
              f"{statistics.median(c for _, c in runs):.3f} |")


def generated_csv(path: Path, cases: int, seed: int) -> Path:
    import duckdb

    pq = path.with_suffix(".parquet")
    generate(pq, cases, seed)
    duckdb.connect().execute(f"COPY (SELECT * FROM read_parquet('{pq}')) TO '{path}' "
                             "(HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')").fetchall()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_800, 7_700, 150_000],
                    help="cases of the generated logs (~8.5 events a case)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real", type=Path, default=REAL_LOG, help="the ServiceNow log ('' skips)")
    ap.add_argument("--base", type=Path, help="another src to run `dipstick streams` from too")
    ap.add_argument("--pm4py", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pm4py:
        pm4py_child(json.loads(args.pm4py))
        return
    from machine import byte_compiled  # here: the pm4py child above must not import it

    print(byte_compiled(None, *([args.base] if args.base is not None else [])))
    fixed_cost(max(args.repeat, 5))
    ok = True
    with tempfile.TemporaryDirectory(prefix="dipstick-e2e-") as tmp:
        work = Path(tmp)
        logs = []
        if str(args.real) and args.real.is_file():
            logs.append(Log("real ServiceNow log", args.real, "number", "incident_state",
                            "sys_updated_at", "sys_mod_count", "%d/%m/%Y %H:%M"))
        for cases in args.sizes:
            path = generated_csv(work / f"generated-{cases}.csv", cases, args.seed)
            logs.append(Log(f"generated log, {cases:,} cases", path, "case_id", "activity",
                            "timestamp", "seq"))
        for log in logs:
            ok &= bench(log, args.repeat, work, args.base)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
