"""Benchmark: how fast `dipstick --help` and every command's `--help` answer, whole process.

Issue 16, item 1: each ≤ 0.3 s. The floors, measured in the same run: the bare interpreter
(`python -c pass`) and `python -c "import duckdb"` (the issue's reference). Run:

    python benchmarks/startup.py [--repeat 7] [--against OLD/src]

Each figure is the median wall time of fresh processes (`python -m dipstick ...`, the same
code path as the `dipstick` script); the worst command is named.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any


def seconds(args: list[str], repeat: int) -> float:
    """Median wall time; the CPU time (user + system, the steadier figure on a busy machine)
    is kept in CPU beside it."""
    runs, cpu = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        runs.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(args)} failed")
    CPU[" ".join(args)] = statistics.median(cpu)
    return statistics.median(runs)


CPU: dict[str, float] = {}

# The least a Typer (0.29) command's help costs: Typer coerces the option with pydantic and
# renders with Rich, whatever the app does.
TINY = """import typer
app = typer.Typer(rich_markup_mode="rich")
@app.command()
def hello(name: str = "x") -> None:
    pass
@app.command()
def bye() -> None:
    pass
app()
"""


def commands() -> list[list[str]]:
    """Every command and sub-command, from the app itself (the root lists its commands lazily:
    ``list_commands``/``get_command``, not ``.commands``)."""
    import typer

    from dipstick.cli import app

    found: list[list[str]] = []

    def walk(group: Any, prefix: list[str]) -> None:
        ctx = typer.Context(group)
        for name in group.list_commands(ctx):
            found.append([*prefix, name])
            cmd = group.get_command(ctx, name)
            if hasattr(cmd, "list_commands"):
                walk(cmd, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--against", metavar="SRC", help="also time each help against the code "
                    "in SRC (a src/ folder put first on PYTHONPATH), interleaved")
    args = ap.parse_args()
    py = [sys.executable]
    bare = seconds([*py, "-c", "pass"], args.repeat)
    duck = seconds([*py, "-c", "import duckdb"], args.repeat)
    tiny = seconds([*py, "-c", TINY, "hello", "--help"], args.repeat)
    root = seconds([*py, "-m", "dipstick", "--help"], args.repeat)
    each = {" ".join(c): seconds([*py, "-m", "dipstick", *c, "--help"], args.repeat)
            for c in commands()}
    worst = max(each, key=each.__getitem__)

    def cpu(*tail: str) -> str:
        return f"CPU {CPU[' '.join([*py, *tail])]:.3f} s"

    print(f"python -c pass:            {bare:.3f} s  {cpu('-c', 'pass')}")
    print(f"python -c 'import duckdb': {duck:.3f} s  {cpu('-c', 'import duckdb')}  (the floor "
          "named by issue 16)")
    print(f"a two-command Typer app, `hello --help`: {tiny:.3f} s  "
          f"{cpu('-c', TINY, 'hello', '--help')}  (what any Typer command's help pays)")
    print(f"dipstick --help:           {root:.3f} s  {cpu('-m', 'dipstick', '--help')}  "
          f"({root / duck:.1f}× the duckdb import)")
    each_cpu = [CPU[" ".join([*py, "-m", "dipstick", *c.split(), "--help"])] for c in each]
    worst_cpu = CPU[" ".join([*py, "-m", "dipstick", *worst.split(), "--help"])]
    tiny_cpu = CPU[" ".join([*py, "-c", TINY, "hello", "--help"])]
    print(f"every command's --help ({len(each)}): median {statistics.median(each.values()):.3f} s"
          f" (CPU {statistics.median(each_cpu):.3f} s), worst {each[worst]:.3f} s "
          f"(CPU {worst_cpu:.3f} s; dipstick {worst} --help)")
    print(f"ratios to the Typer app, same run: root {root / tiny:.2f}× wall; commands' median "
          f"{statistics.median(each.values()) / tiny:.2f}× wall, "
          f"{statistics.median(each_cpu) / tiny_cpu:.2f}× CPU; worst {each[worst] / tiny:.2f}× "
          f"wall, {worst_cpu / tiny_cpu:.2f}× CPU")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    met = max(root, *each.values()) <= 0.3
    print(f"target ≤ 0.3 s for all: {'met' if met else 'NOT met'}")
    if args.against:
        against(args.against, [["--help"], *([*c.split(), "--help"] for c in each)],
                args.repeat)


def against(src: str, runs: list[list[str]], repeat: int) -> None:
    """Each help by this code and by the code in ``src`` (``PYTHONPATH``, e.g. a ``git
    archive`` of an older commit), one after the other, ``repeat`` rounds: on a shared machine
    the load drifts alike for both, so their ratio holds where the wall times do not."""
    py = [sys.executable, "-m", "dipstick"]
    mine: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for _ in range(repeat):
        for args in runs:
            key = " ".join(args)
            for found, env in ((mine, None), (theirs, {**os.environ, "PYTHONPATH": src})):
                proc = subprocess.Popen([*py, *args], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=env)
                _, _, usage = os.wait4(proc.pid, 0)
                found.setdefault(key, []).append(usage.ru_utime + usage.ru_stime)
    ratios = {k: statistics.median(mine[k]) / statistics.median(theirs[k]) for k in mine}
    all_mine = statistics.median(statistics.median(v) for v in mine.values())
    all_theirs = statistics.median(statistics.median(v) for v in theirs.values())
    worst = max(ratios, key=ratios.__getitem__)
    print(f"against {src}, interleaved, CPU medians: root {statistics.median(mine['--help']):.3f}"
          f" vs {statistics.median(theirs['--help']):.3f} s ({ratios['--help']:.2f}×); "
          f"commands' median ratio {statistics.median(ratios.values()):.2f}×, best "
          f"{min(ratios.values()):.2f}×, worst {ratios[worst]:.2f}× ({worst}); this code's "
          f"CPU median over all {all_mine:.3f} s vs {all_theirs:.3f} s")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
