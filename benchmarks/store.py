"""Benchmark: storing a check's run (``Store.save_run``) on the large demo, SQLite and
PostgreSQL, against a floor measured in the same run. Issue 16: storing ≤ 1 s more than the
check. Run:

    python benchmarks/store.py [--dir /tmp/dipstick-large] [--repeat 3]
                               [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
                               [--cache /tmp/store-bench.pkl]

1. Loads the package and checks it (or reads the check's result from ``--cache``, written by
   an earlier run: the check takes ~30 s), then builds the run's context for the pages
   (``dipstick.runs.context_of``), as ``dipstick check`` does when it stores.
2. Per backend (a fresh SQLite file; a fresh schema of its own on PostgreSQL), ``--repeat``
   times: ``save_run`` with the context (wall, this process's CPU and, on PostgreSQL, the
   server process's CPU), then the floor: the same rows, already made, written by one bare
   ``executemany`` (SQLite) or ``COPY`` (PostgreSQL) into copies of the tables without keys
   or indexes, plus the context pickled and compressed — what storing costs with no work
   beyond writing the same bytes.

With ``--whole``, instead: the whole extra of storing as ``dipstick check`` pays it, in a fresh
process each time (``--repeat`` per backend): importing the database layer, feeding the stored
pulse answers and self-assessments to the package, building the run's context, opening and
migrating the database (already at head) and ``save_run`` and ``settle`` — the CLI's own
functions (``dipstick.cli.commands._stored_answers`` and ``_store``), timed around them, the
package already loaded and the check's result read from ``--cache`` (not timed: a check with
``--no-store`` does the same). ``--base SRC`` runs the same with another ``src`` (e.g. a ``git
archive`` of the code before) on ``PYTHONPATH``, alternating with this one. Each step's CPU
is printed too (medians): the answers with the database layer's import, the context, the rest
(since session 16, helper P, the CLI builds the context inside ``_store``, on PostgreSQL while
the server writes the findings: one step, ``context+save``).
Before the clock the child also imports every module a ``--no-store`` check of the package
imports (listed once by running one, kept beside ``--cache`` as ``<cache>.modules.json``): a
real check has loaded e.g. narwhals' DuckDB backend before it stores, so its import is not
part of storing's extra (until session 16 the child counted ~0.05-0.2 s of such imports).

The machine may be shared: CPU seconds are printed beside wall times, and the load average.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dipstick.check import CheckResult, run_check
from dipstick.package import load_package
from dipstick.runs import RunContext, context_of
from dipstick.store import Store
from dipstick.store.rows import _FINDING_COLUMNS, _finding_row
from machine import cpu_of, postgres_or_none, timed

NOW = datetime(2026, 12, 1, tzinfo=UTC)   # pinned: the rows are the same in every run
SERVICE_COLUMNS = ("id", "run_id", "position", "service_id", "name", "owner", "lifecycle",
                   "status", "score", "leak_money", "leak_hours", "leak_cause", "leak_formula",
                   "leak_low", "leak_high", "episodes")


def checked(folder: Path, cache: Path | None) -> tuple[CheckResult, RunContext]:
    sys.setrecursionlimit(100_000)   # pickling the result walks deep
    package = load_package(folder)
    try:
        if cache and cache.exists():
            result = pickle.loads(cache.read_bytes())
            print(f"check: read from {cache}")
        else:
            result, wall, used = timed(lambda: run_check(package))
            print(f"check: {wall:.1f} s wall, {used:.1f} s CPU, {len(result.verdicts):,} "
                  "services")
            if cache:
                cache.write_bytes(pickle.dumps(result, protocol=5))
        ctx, wall, used = timed(lambda: context_of(package, result))
        print(f"the run's context for the pages (context_of): {wall:.2f} s wall, "
              f"{used:.2f} s CPU")
        CONTEXT.append((wall, used))
        return result, ctx
    finally:
        package.close()


CONTEXT: list[tuple[float, float]] = []


def rows_of(result: CheckResult) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The service and finding rows as ``save_run`` writes them (ids 1…n), made beforehand."""
    services, findings, covered = [], [], {}  # type: ignore[var-annotated]
    for i, v in enumerate(result.verdicts):
        leak = v.leak
        services.append((i + 1, 1, i, v.service.id, v.service.name, v.service.owner,
                         v.service.lifecycle, v.status.value, v.score, leak.money,
                         leak.hours, v.leak_cause, leak.formula, leak.low, leak.high,
                         json.dumps([e.to_json() for e in v.episodes])))
        findings += [_finding_row(i + 1, j, f, covered) for j, f in enumerate(v.findings)]
    return services, findings


def floor(store: Store, result: CheckResult, ctx: RunContext,
          rows: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> tuple[float, float]:
    """Wall and CPU seconds of writing the same rows and context bytes with nothing else:
    bare tables (no keys, no indexes), one executemany or COPY each, one transaction."""
    services, findings = rows
    tables = {"service_results": SERVICE_COLUMNS, "findings": _FINDING_COLUMNS}
    with store.engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"DROP TABLE IF EXISTS bare_{name}"))
            conn.execute(text(f"CREATE TABLE bare_{name} AS SELECT * FROM {name} WHERE 1 = 0"))
        conn.execute(text("DROP TABLE IF EXISTS bare_extras"))
        conn.execute(text("CREATE TABLE bare_extras AS SELECT body FROM run_extras WHERE 1 = 0"))
    since = _FINDING_COLUMNS.index("since")

    def write() -> None:
        with store.engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            for (name, columns), data in zip(tables.items(), (services, findings), strict=True):
                if sqlite:
                    if name == "findings":
                        data = [r if r[since] is None else
                                (*r[:since], r[since].isoformat(), *r[since + 1:]) for r in data]
                    conn.exec_driver_sql(f"INSERT INTO bare_{name} ({', '.join(columns)}) "
                                         f"VALUES ({', '.join('?' * len(columns))})", data)
                else:
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    with cursor, cursor.copy(f"COPY bare_{name} ({', '.join(columns)}) "
                                             "FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            body = zlib.compress(pickle.dumps(ctx, protocol=5), 1)
            conn.execute(text("INSERT INTO bare_extras (body) VALUES (:b)"), {"b": body})

    gc.disable()   # as save_run does
    try:
        _, wall, used = timed(write)
    finally:
        gc.enable()
    return wall, used


def server_pid(store: Store) -> int | None:
    if store.engine.dialect.name != "postgresql":
        return None
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def bench(url: str, label: str, result: CheckResult, ctx: RunContext, repeat: int) -> None:
    rows = rows_of(result)
    with Store.open(url) as store:
        store.migrate()
        store.engine.pool.dispose()
        saves, bare, server = [], [], []
        for _ in range(repeat):
            pid = server_pid(store)   # the pool keeps this one connection for save_run
            before = cpu_of(pid) if pid else 0.0
            _, wall, used = timed(lambda: store.save_run(
                result, started_at=NOW, finished_at=NOW, command="benchmark", extras=ctx))
            server.append(cpu_of(pid) - before if pid else 0.0)
            saves.append((wall, used))
            bare.append(floor(store, result, ctx, rows))
    med = statistics.median
    sw, sc = med(w for w, _ in saves), med(c for _, c in saves)
    bw, bc = med(w for w, _ in bare), med(c for _, c in bare)
    extra = f", server {med(server):.2f} s CPU" if label == "PostgreSQL" else ""
    print(f"{label}: save_run {sw:.2f} s wall, {sc:.2f} s CPU{extra} | floor (bare "
          f"executemany/COPY + pickle) {bw:.2f} s wall, {bc:.2f} s CPU | ratio {sw / bw:.2f}× "
          f"wall, {sc / bc:.2f}× CPU (median of {repeat})")
    cw, cc = CONTEXT[0]
    print(f"{label}: storing in all (context + save_run) {cw + sw:.2f} s wall, {cc + sc:.2f} s "
          f"CPU; target ≤ 1 s: {'met' if cw + sw <= 1 else 'NOT met'} (wall)")



# The child of ``--whole``: a fresh process that imports what a ``--no-store`` check imports
# anyway, loads the package and the cached result, then times the CLI's storing steps. It is
# code run by ``python -c``, not this file: this file imports SQLAlchemy and the store at its
# top, so a child started as ``python store.py`` had the database layer imported before the
# clock started (~0.2 s of the extra left out until session 13).
CHILD = """
import gc, inspect, json, os, pickle, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
import pandas  # a check imports it anyway: not part of the extra
import dipstick.cli.commands as commands
import dipstick.runs as runs
from dipstick.package import load_package

# what ``dipstick check`` builds to store (session 16: the stored form, without the verdicts)
context_if_any = getattr(runs, "stored_form_if_any", runs.context_if_any)

url, folder, cache, modules = sys.argv[1:5]
for name in json.loads(Path(modules).read_text()):   # what the check itself has imported
    try:
        __import__(name)
    except Exception:
        pass
assert "sqlalchemy" not in sys.modules, "the database layer is imported before the clock"
sys.setrecursionlimit(100_000)
result = pickle.loads(Path(cache).read_bytes())
package = load_package(Path(folder))
now = datetime(2026, 12, 1, tzinfo=UTC)

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

steps = {}
def step(name, work):
    c = cpu()
    got = work()
    steps[name] = cpu() - c
    return got

# the server's CPU (PostgreSQL): each backend's /proc CPU from its connection to its last
# return to the pool (no query of ours: psycopg knows the pid), summed over the connections
server = {}
def server_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
if url.startswith("postgresql"):
    from sqlalchemy import event
    from sqlalchemy.pool import Pool
    @event.listens_for(Pool, "connect")
    def _connected(dbapi, record):
        pid = dbapi.info.backend_pid
        server[pid] = [server_cpu(pid)] * 2
    @event.listens_for(Pool, "checkin")
    def _returned(dbapi, record):
        if dbapi is not None and dbapi.info.backend_pid in server:
            server[dbapi.info.backend_pid][1] = server_cpu(dbapi.info.backend_pid)

gc.collect()
t, c = time.perf_counter(), cpu()
try:
    step("answers", lambda: commands._stored_answers(url)(package))
    if "context" in inspect.signature(commands._store).parameters:   # session 16, helper P
        # the CLI's _store builds the context itself: on PostgreSQL while the server writes
        step("context+save", lambda: commands._store(
            result, url, now, "check benchmark", lambda: context_if_any(package, result)))
    else:
        ctx = step("context", lambda: context_if_any(package, result))
        step("save", lambda: commands._store(result, url, now, "check benchmark", ctx))
    wall, used = time.perf_counter() - t, cpu() - c
finally:
    package.close()
print(json.dumps({"wall": wall, "cpu": used, "steps": steps,
                  "server": sum(b - a for a, b in server.values())}))
"""


MIGRATE = "import sys; from dipstick.store import Store; Store.open(sys.argv[1]).migrate()"

# the modules a ``--no-store`` check has imported when it ends (not the database layer's)
CHECK_MODULES = """
import json, runpy, sys
out = sys.argv.pop(1)
try:
    runpy.run_module("dipstick", run_name="__main__")
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(m for m in sys.modules if m != "__main__"), f)
"""


def check_modules(args: argparse.Namespace) -> Path:
    """The modules a ``--no-store`` check of the package imports, listed once (one check)."""
    found = Path(f"{args.cache}.modules.json")
    if not found.exists():
        print(f"listing the modules a --no-store check imports into {found} (one check)")
        subprocess.run([sys.executable, "-c", CHECK_MODULES, str(found), "check",
                        str(args.dir), "--format", "json", "--no-store"], check=True,
                       stdout=subprocess.DEVNULL)
    return found


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def whole(url: str, label: str, args: argparse.Namespace) -> None:
    """``--repeat`` fresh processes per version (this src, and ``--base`` when given,
    alternating) storing into a database migrated beforehand: on SQLite one file per version,
    made and migrated by that version (a new file's page size is the code's, session 14)."""
    versions = {"now": None} if args.base is None else {"before": args.base, "now": None}
    urls = {name: url.replace(".db", f"-{name}.db") if url.startswith("sqlite") else url
            for name in versions}
    for name, src in versions.items():
        subprocess.run([sys.executable, "-c", MIGRATE, urls[name]], env=_env(src), check=True)
    seen: dict[str, list[tuple[float, float]]] = {k: [] for k in versions}
    servers: dict[str, list[float]] = {k: [] for k in versions}
    parts: dict[str, list[dict[str, float]]] = {k: [] for k in versions}
    for _ in range(args.repeat):
        for name, src in versions.items():
            out = subprocess.run(
                [sys.executable, "-c", CHILD, urls[name], str(args.dir), str(args.cache),
                 str(check_modules(args))],
                env=_env(src), check=True, capture_output=True, text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            seen[name].append((got["wall"], got["cpu"]))
            servers[name].append(got["server"])
            parts[name].append(got["steps"])
    med = statistics.median
    for name, runs in seen.items():
        cpus = " ".join(f"{c:.2f}" for _, c in runs)
        also = (f", the server {med(servers[name]):.2f} s CPU" if url.startswith("postgresql")
                else "")
        print(f"{label} {name}: the whole extra of storing {med(w for w, _ in runs):.2f} s "
              f"wall, {med(c for _, c in runs):.2f} s CPU{also} (median of {len(runs)}; CPU "
              f"each: {cpus}); target ≤ 1 s")
        each = ", ".join(f"{k} {med(p[k] for p in parts[name]):.2f}" for k in parts[name][0])
        print(f"  {label} {name}, CPU by step (medians): {each} (answers: with importing the "
              "database layer; save: open, migrate, save_run, settle)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres", default=os.environ.get(
        "DIPSTICK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--cache", type=Path, help="keep the check's result here between runs")
    ap.add_argument("--whole", action="store_true",
                    help="time the whole extra of storing as the CLI pays it (needs --cache)")
    ap.add_argument("--base", type=Path, help="with --whole: another src to compare, alternating")
    args = ap.parse_args()
    if args.whole:
        if not (args.cache and args.cache.exists()):
            ap.error("--whole needs --cache with a check's result (run once without --whole)")
        print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with tempfile.TemporaryDirectory() as tmp:
            whole(f"sqlite:///{tmp}/bench.db", "SQLite", args)
        with postgres_or_none(args.postgres) as pg:
            if pg:
                whole(pg, "PostgreSQL", args)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result, ctx = checked(args.dir, args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", "SQLite", result, ctx, args.repeat)
    with postgres_or_none(args.postgres) as pg:
        if pg:
            bench(pg, "PostgreSQL", result, ctx, args.repeat)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
