"""Benchmark: every query one ``run_check`` runs — who asked, the SQL's head, rows, wall and CPU.

    PYTHONPATH=src python benchmarks/check_queries.py [--dir /tmp/dipstick-large] [--top 40]
                                                      [--json out.json] [--sql 160]

Why: the check's cost is its scans; to cut whole scans one must first see them all. Loads the
package (not counted), then runs ``run_check`` under a ``sys.setprofile`` hook, with no change
to the code under test. In this DuckDB (2.x) every statement runs through the Python function
``duckdb._seam.submit(con, sql, …)`` and its rows come through a ``RelationResult``'s C
methods (``fetchnumpy``, ``fetchall`` …): the hook times each ``submit`` and each later fetch
of its result, wherever it is made. For each query: the reader (the nearest dipstick frame
outside the query helpers ``dipstick/engine`` and ``shifts/groups.py``), the SQL, wall
(``perf_counter``) and CPU (``process_time``: DuckDB's threads included) of the submit plus its
fetches, the rows (the length of what a relation's ``fetchall``/``fetchnumpy`` returned; ``?``
otherwise), and the big tables its SQL names (``tickets`` or ``_coded_tickets`` …). Binds
(``_seam.bind``: a relation's schema asked; each Narwhals step binds its input again, ~1–3 ms,
~5 ms over the 2,040-value service ENUM) are summed per reader too.

The hook costs every Python call of the check a little: the run's total is inflated (``--plain``
prints a run without it first); a query's own wall and CPU are not (DuckDB runs in C with the
hook idle). Depends on DuckDB 2.x's ``_seam`` module (the relation layer in Python).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# what a DuckDB result gives its rows through (``_duckdb.RelationResult``'s C methods)
FETCHING = frozenset({"fetchall", "fetchnumpy", "fetchmany", "arrow_table", "arrow_reader", "df",
                      "drain", "tf", "torch", "to_box"})
BIG = ("tickets", "usage", "surveys", "costs", "training", "changes", "kpis", "touchpoints")


@dataclass
class Query:
    reader: str
    sql: str
    wall: float = 0.0
    cpu: float = 0.0
    rows: int | None = None
    tables: list[str] = field(default_factory=list)


# the query layer's own helpers: the reader is whoever called them
HELPERS = ("/dipstick/engine/", "/dipstick/shifts/groups.py")


def _reader(frame: Any) -> str:
    f = frame
    while f is not None:
        name = f.f_code.co_filename
        if "/dipstick/" in name and not any(h in name for h in HELPERS):
            mod = name.split("/dipstick/", 1)[1].removesuffix(".py")
            return f"{mod}.{f.f_code.co_name}:{f.f_lineno}"
        f = f.f_back
    return "?"


def _tables(sql: str) -> list[str]:
    return [t for t in BIG if re.search(rf'\b(_coded_)?{t}\b', sql)]


def profile(package: Any, run_check: Any) -> tuple[list[Query], dict[str, list[float]],
                                                     float, float]:
    """``run_check(package)`` under the hook: its queries, the binds' (count, wall, CPU) per
    reader, and the run's wall and CPU."""
    from duckdb import _relation, _seam

    submit, bind = _seam.submit.__code__, _seam.bind.__code__
    # a relation's fetching methods: their return value is the rows
    fetch_codes = {getattr(_relation.DuckDBPyRelation, m).__code__ for m in
                   ("fetchall", "fetchnumpy", "fetchone", "fetchmany", "df", "to_arrow_table")
                   if hasattr(_relation.DuckDBPyRelation, m)}
    queries: list[Query] = []
    binds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    started: dict[int, tuple[float, float, Any]] = {}   # a frame's id → its start
    by_result: dict[int, tuple[Query, Any]] = {}   # an open result's id → its query (held)
    fetching: list[tuple[Any, float, float, Query | None]] = []
    asked: list[list[Query]] = []                   # queries under a relation's fetch

    def hook(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call":
            if code is submit or code is bind:
                started[id(frame)] = (time.perf_counter(), time.process_time(), frame)
            elif code in fetch_codes:
                asked.append([])
        elif event == "return":
            if code is submit or code is bind:
                s = started.pop(id(frame), None)
                if s is None:
                    return
                wall, cpu = time.perf_counter() - s[0], time.process_time() - s[1]
                if code is bind:
                    b = binds[_reader(frame)]
                    b[0] += 1
                    b[1] += wall
                    b[2] += cpu
                    return
                text = str(frame.f_locals.get("sql", ""))
                q = Query(_reader(frame), " ".join(text.split()), wall, cpu)
                q.tables = _tables(text)
                queries.append(q)
                if asked:
                    asked[-1].append(q)
                if arg is not None:
                    by_result[id(arg)] = (q, arg)
            elif code in fetch_codes and asked:
                n = _length(arg)
                for q in asked.pop():
                    q.rows = n
        elif event == "c_call":
            got = by_result.get(id(getattr(arg, "__self__", None)))
            if got is not None and arg.__name__ in FETCHING:
                fetching.append((arg, time.perf_counter(), time.process_time(), got[0]))
        elif event in ("c_return", "c_exception") and fetching and fetching[-1][0] is arg:
            _, w0, c0, q = fetching.pop()
            assert q is not None
            q.wall += time.perf_counter() - w0
            q.cpu += time.process_time() - c0

    w0, c0 = time.perf_counter(), time.process_time()
    sys.setprofile(hook)
    try:
        run_check(package)
    finally:
        sys.setprofile(None)
    return queries, binds, time.perf_counter() - w0, time.process_time() - c0


def _length(value: Any) -> int | None:
    if isinstance(value, tuple) and value and isinstance(value[0], dict):
        value = value[0]        # coded_arrays: (arrays, labels)
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        for v in value.values():
            return len(v)
        return 0
    return None


def _table(title: str, pairs: Any) -> None:
    agg: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for key, q in pairs:
        a = agg[key]
        a[0] += 1
        a[1] += q.wall
        a[2] += q.cpu
    print(f"\n{title}:")
    for key, (n, w, c) in sorted(agg.items(), key=lambda kv: -kv[1][2]):
        print(f"  {key:58} {int(n):4d} {w:7.3f} s wall {c:7.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--top", type=int, default=40, help="queries listed, slowest first")
    parser.add_argument("--sql", type=int, default=140, help="characters of SQL shown")
    parser.add_argument("--json", type=Path, help="every query, as JSON")
    parser.add_argument("--plain", action="store_true", help="also time a run without the hook")
    args = parser.parse_args()
    try:
        from dipstick import numpy_cpu
        numpy_cpu.steer()
    except ImportError:
        pass
    from dipstick.check import run_check
    from dipstick.package import load_package

    package = load_package(args.dir)
    if args.plain:
        c0, w0 = time.process_time(), time.perf_counter()
        run_check(package)
        print(f"run_check without the hook: {time.perf_counter() - w0:.2f} s wall, "
              f"{time.process_time() - c0:.2f} s CPU")
    queries, binds, wall, cpu = profile(package, run_check)
    qw, qc = sum(q.wall for q in queries), sum(q.cpu for q in queries)
    bn, bw, bc = (sum(b[i] for b in binds.values()) for i in range(3))
    print(f"run_check under the hook: {wall:.2f} s wall, {cpu:.2f} s CPU\n"
          f"  {len(queries)} queries run and fetched: {qw:.2f} s wall, {qc:.2f} s CPU\n"
          f"  {int(bn)} binds (a relation's schema asked): {bw:.2f} s wall, {bc:.2f} s CPU")
    _table("per table read (a query reading two counts for both)",
           ((t, q) for q in queries for t in (q.tables or ["(none)"])))
    _table("per reader (the nearest dipstick frame outside the query helpers)",
           ((q.reader.rsplit(":", 1)[0], q) for q in queries))
    print("\nbinds per reader:")
    for r, (n, w, c) in sorted(binds.items(), key=lambda kv: -kv[1][2])[:15]:
        print(f"  {r:58} {int(n):4d} {w:7.3f} s wall {c:7.3f} s CPU")
    print(f"\nthe {min(args.top, len(queries))} costliest queries (CPU):")
    print(f"  {'cpu':>6} {'wall':>6} {'rows':>9}  reader [tables] / SQL")
    for q in sorted(queries, key=lambda q: -q.cpu)[:args.top]:
        rows = "?" if q.rows is None else str(q.rows)
        print(f"  {q.cpu:6.3f} {q.wall:6.3f} {rows:>9}  {q.reader} [{','.join(q.tables)}]\n"
              f"{'':28}{q.sql[:args.sql]}")
    if args.json:
        args.json.write_text(json.dumps({"wall": wall, "cpu": cpu, "binds": binds,
                                         "queries": [asdict(q) for q in queries]}, indent=1))


if __name__ == "__main__":
    main()
