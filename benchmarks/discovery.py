"""Benchmark: process discovery, dipstick vs pm4py, on a generated log of >= 1 M events and on the
real ServiceNow log. Run:

    python benchmarks/discovery.py [--cases 150000] [--seed 1] [--repeat 3] [--real PATH]

The generated log is a ticket-like state log (16 states, updates in place, waits of minutes to
weeks, loops back from waiting states, reopenings, a tenth of the gaps zero so timestamps tie
and ``seq`` orders them), rows in time order as an export writes them, saved once as Parquet.
The real log is turned into the same four columns (case_id, activity, timestamp, seq) and saved
as Parquet too, so both contenders read the same file.

Each contender runs in its own fresh process, so peak memory is comparable:

- **pm4py**: ``pandas.read_parquet``, sorted by (case, timestamp, seq) so equal timestamps keep
  the export's order, ``format_dataframe`` (loading); then ``discover_dfg`` +
  ``discover_performance_dfg`` (timed);
- **dipstick dfg**: ``read_event_log`` of the Parquet (loading: checked, typed, stored in case
  order, as the product reads any log); ``discover_dfg`` (timed) — the like-for-like
  comparison;
- **dipstick discover**: the same table; the full ``discover`` (timed): the graph plus
  variants, start/end activities, per-activity work, wait and rework, lead time — more than
  pm4py computes.

Only the discovery calls are timed (median of ``--repeat`` runs in the process); loading is
reported apart; CPU time (all the process's threads) is reported next to wall time, as it
suffers less when other work shares the machine. Memory: the process's resident set after its
imports, and its peak (VmHWM) over the whole run. The results must agree (equal edges and counts;
mean and median durations within a second): the benchmark prints AGREE or DISAGREE and exits 1
on disagreement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REAL_LOG = (Path(__file__).resolve().parents[2] / "shared" / "data" / "servicenow-incidents"
            / "incident_event_log.csv.gz")
KINDS = ("pm4py", "dipstick dfg", "dipstick discover")

STATES = ["New", "Assigned", "Triage", "In Progress", "Awaiting User Info", "Awaiting Vendor",
          "Awaiting Change", "Awaiting Problem", "Pending Approval", "Review", "Testing",
          "Resolved", "Reopened", "Closed", "Cancelled", "Escalated"]
# from each state: (target, weight) — weights are normalised per row
_MOVES = {
    "New": {"Assigned": 6, "Triage": 3, "In Progress": 1, "Cancelled": 0.3, "New": 0.5},
    "Assigned": {"In Progress": 6, "Triage": 1, "Assigned": 1, "Awaiting User Info": 1},
    "Triage": {"Assigned": 3, "In Progress": 4, "Escalated": 0.5, "Triage": 0.5,
               "Cancelled": 0.2},
    "In Progress": {"In Progress": 4, "Awaiting User Info": 2, "Awaiting Vendor": 0.4,
                    "Awaiting Change": 0.3, "Awaiting Problem": 0.2, "Pending Approval": 0.4,
                    "Review": 1, "Resolved": 4, "Escalated": 0.3, "Assigned": 0.5},
    "Awaiting User Info": {"In Progress": 6, "Awaiting User Info": 1, "Resolved": 1.5,
                           "Cancelled": 0.2},
    "Awaiting Vendor": {"In Progress": 5, "Awaiting Vendor": 1.5},
    "Awaiting Change": {"In Progress": 3, "Testing": 2, "Awaiting Change": 0.5},
    "Awaiting Problem": {"In Progress": 4, "Awaiting Problem": 1},
    "Pending Approval": {"In Progress": 5, "Cancelled": 0.5, "Pending Approval": 0.5},
    "Review": {"Testing": 2, "Resolved": 3, "In Progress": 1.5},
    "Testing": {"Resolved": 4, "In Progress": 1.5, "Testing": 0.5},
    "Resolved": {"Closed": 8, "Reopened": 1, "Resolved": 0.5},
    "Reopened": {"In Progress": 4, "Assigned": 1},
    "Escalated": {"Assigned": 3, "In Progress": 2},
}
FINAL = ("Closed", "Cancelled")
# mean seconds spent before moving into each state (the gap to the event that enters it)
_MEAN_GAP = {"New": 300, "Assigned": 1800, "Triage": 900, "In Progress": 5400,
             "Awaiting User Info": 7200, "Awaiting Vendor": 14_400, "Awaiting Change": 10_800,
             "Awaiting Problem": 7200, "Pending Approval": 3600, "Review": 28_800,
             "Testing": 14_400, "Resolved": 21_600, "Reopened": 345_600, "Closed": 259_200,
             "Cancelled": 3600, "Escalated": 1800}


# --- the generated log ------------------------------------------------------------------------

def generate(path: Path, cases: int, seed: int) -> int:
    """Write a seeded ticket-like state log to ``path`` (Parquet); return the number of events."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    k = len(STATES)
    moves = np.zeros((k, k))
    for src, targets in _MOVES.items():
        for dst, w in targets.items():
            moves[STATES.index(src), STATES.index(dst)] = w
    for f in FINAL:
        moves[STATES.index(f), STATES.index(f)] = 1
    cum = np.cumsum(moves / moves.sum(axis=1, keepdims=True), axis=1)
    gap = np.array([_MEAN_GAP[s] for s in STATES], dtype=float)
    final = np.isin(np.arange(k), [STATES.index(f) for f in FINAL])

    case = np.arange(cases)
    state = rng.choice(3, size=cases, p=[0.75, 0.15, 0.10])        # New, Assigned, Triage
    t = rng.integers(0, 365 * 86_400, size=cases)                   # opened over a year
    parts: list[tuple[Any, Any, Any, int]] = []
    step = 0
    while len(case) and step < 80:
        parts.append((case, state, t, step))
        done = final[state]
        case, state, t = case[~done], state[~done], t[~done]
        nxt = (rng.random(len(case))[:, None] > cum[state]).sum(axis=1)
        nxt = np.minimum(nxt, k - 1)
        wait = rng.exponential(gap[nxt]).astype(np.int64) + 1
        wait[rng.random(len(case)) < 0.1] = 0                      # same-second updates
        state, t = nxt, t + wait
        step += 1
    cases_col = np.concatenate([p[0] for p in parts])
    acts = np.concatenate([p[1] for p in parts])
    secs = np.concatenate([p[2] for p in parts])
    seq = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    order = np.lexsort((seq, cases_col, secs))                      # the export: time order
    base = np.datetime64("2024-01-01T00:00:00", "us")
    ids = np.char.add("INC", np.char.zfill(cases_col[order].astype(str), 7))
    table = pa.table({
        "case_id": pa.array(ids.astype(object), pa.string()),
        "activity": pa.array(np.array(STATES, dtype=object)[acts[order]], pa.string()),
        "timestamp": pa.array(base + secs[order].astype("timedelta64[s]"), pa.timestamp("us")),
        "seq": pa.array(seq[order], pa.int64()),
    })
    pq.write_table(table, path)
    return table.num_rows


def real_log(src: Path, path: Path) -> int:
    """The real ServiceNow log in the canonical four columns, as Parquet."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "COPY (SELECT number AS case_id, incident_state AS activity, "
        "strptime(sys_updated_at, '%d/%m/%Y %H:%M') AS timestamp, "
        f"sys_mod_count::BIGINT AS seq FROM read_csv('{src}', all_varchar = true, "
        f"nullstr = '?')) TO '{path}' (FORMAT parquet)")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()
    con.close()
    return int(n[0]) if n else 0


# --- one contender in its own process ---------------------------------------------------------

def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(kind: str, log: Path, repeat: int) -> dict[str, Any]:
    """Load the log, time the discovery ``repeat`` times; edges as {source\\ttarget: [count,
    mean, median]}."""
    if kind == "pm4py":
        sys._pm4py_welcome_shown = True  # type: ignore[attr-defined]  # no licence banner
        import pandas as pd
        import pm4py
    else:
        import narwhals as nw

        from dipstick.engine.sql import connect
        from dipstick.streams.discover import discover, discover_dfg
        from dipstick.streams.logs import read_event_log
    imported = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    if kind == "pm4py":
        df = pd.read_parquet(log).sort_values(["case_id", "timestamp", "seq"], kind="stable")
        f = pm4py.format_dataframe(df, case_id="case_id", activity_key="activity",
                                   timestamp_key="timestamp")
        del df
    else:
        con = connect()
        read_event_log(con, log)
        events = nw.from_native(con.table("events"))
    load = time.perf_counter() - t0
    loaded = _rss_mb("VmRSS")
    times: list[float] = []
    cpu: list[float] = []
    edges: dict[str, list[float]] = {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "pm4py":
            freq, _, _ = pm4py.discover_dfg(f)
            perf, _, _ = pm4py.discover_performance_dfg(f)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            edges = {f"{a}\t{b}": [int(n), float(perf[a, b]["mean"]),
                                   float(perf[a, b]["median"])] for (a, b), n in freq.items()}
        else:
            found = (discover_dfg(events) if kind.startswith("dipstick dfg")
                     else discover(events).edges)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            edges = {f"{e.source}\t{e.target}": [e.count, e.mean_seconds, e.median_seconds]
                     for e in found}
    return {"kind": kind, "load": load, "times": times, "cpu": cpu, "imported_mb": imported,
            "loaded_mb": loaded, "peak_mb": _rss_mb("VmHWM"), "edges": edges}


def run_child(kind: str, log: Path, repeat: int, out: Path) -> dict[str, Any]:
    r = subprocess.run([sys.executable, __file__, "--child", kind, "--log", str(log),
                        "--repeat", str(repeat), "--out", str(out)],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{kind} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# --- the comparison ---------------------------------------------------------------------------

def disagreements(a: dict[str, list[float]], b: dict[str, list[float]]) -> list[str]:
    out = []
    if set(a) != set(b):
        out.append(f"edges only in dipstick: {sorted(set(a) - set(b))}; "
                   f"only in pm4py: {sorted(set(b) - set(a))}")
    for key in sorted(set(a) & set(b)):
        (n1, mean1, med1), (n2, mean2, med2) = a[key], b[key]
        pair = key.replace("\t", " → ")
        if n1 != n2:
            out.append(f"{pair}: count {n1:.0f} vs {n2:.0f}")
        if not abs(mean1 - mean2) < 1.0:
            out.append(f"{pair}: mean {mean1:.3f} s vs {mean2:.3f} s")
        if not abs(med1 - med2) < 1.0:
            out.append(f"{pair}: median {med1:.3f} s vs {med2:.3f} s")
    return out


def bench(name: str, log: Path, repeat: int, work: Path) -> bool:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(log)
    cases = pq.read_table(log, columns=["case_id"]).column(0).unique()
    print(f"\n## {name}: {meta.num_rows:,} events, {len(cases):,} cases "
          f"({log.stat().st_size / 1e6:.0f} MB Parquet)")
    res = {k: run_child(k, log, repeat, work / f"{k.replace(' ', '-')}.json") for k in KINDS}
    print("| contender | load s | discovery s (median) | runs | CPU s (median) | "
          "RSS after imports MB | RSS loaded MB | peak RSS MB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for k, r in res.items():
        print(f"| {k} | {r['load']:.2f} | {statistics.median(r['times']):.3f} | "
              f"{', '.join(f'{x:.3f}' for x in r['times'])} | "
              f"{statistics.median(r['cpu']):.3f} | {r['imported_mb']:.0f} | "
              f"{r['loaded_mb']:.0f} | {r['peak_mb']:.0f} |")
    pm = res["pm4py"]
    t_pm, c_pm = statistics.median(pm["times"]), statistics.median(pm["cpu"])
    for k in KINDS[1:]:
        r = res[k]
        above = (pm["peak_mb"] - pm["imported_mb"]) / (r["peak_mb"] - r["imported_mb"])
        print(f"pm4py / {k}: time {t_pm / statistics.median(r['times']):.1f}×, "
              f"CPU {c_pm / statistics.median(r['cpu']):.1f}×, "
              f"peak RSS {pm['peak_mb'] / r['peak_mb']:.2f}×, peak above imports {above:.2f}×")
    problems = [f"{k} vs pm4py: {p}" for k in KINDS[1:]
                for p in disagreements(res[k]["edges"], pm["edges"])]
    print(f"{len(pm['edges'])} edges, {sum(int(v[0]) for v in pm['edges'].values()):,} "
          f"directly-follows pairs: {'AGREE' if not problems else 'DISAGREE'}")
    for p in problems[:30]:
        print("  " + p)
    return not problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--real", type=Path, default=REAL_LOG, help="the ServiceNow log ('' skips)")
    ap.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.out.write_text(json.dumps(child(args.child, args.log, args.repeat)))
        return
    ok = True
    with tempfile.TemporaryDirectory(prefix="dipstick-discovery-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        n = generate(work / "generated.parquet", args.cases, args.seed)
        print(f"generated {n:,} events ({args.cases:,} cases, seed {args.seed}) in "
              f"{time.perf_counter() - t:.1f} s")
        ok &= bench("generated log", work / "generated.parquet", args.repeat, work)
        if str(args.real) and args.real.is_file():
            real_log(args.real, work / "real.parquet")
            ok &= bench(f"real log ({args.real.name})", work / "real.parquet", args.repeat, work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
