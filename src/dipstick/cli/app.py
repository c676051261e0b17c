"""The ``dipstick`` command's shared parts: the Typer app, consoles, options, errors and output.

Commands live in modules by concept (``commands``, ``streams``, ``journeys``) and register on
``app`` when their module is imported, which ``cli/lazy.py`` does only for the command asked
for; they are thin edges over the same core functions the web uses.

Exit codes (``dipstick.errors.ExitCode``): 0 no leak, 1 at least one leak, 2 bad input (nothing
stored), 3 dipstick could not do its job (e.g. the database is unreachable).
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from dipstick import numpy_cpu
from dipstick.cli.lazy import LazyGroup, attach
from dipstick.errors import DipstickError, ExitCode, PackageError

if TYPE_CHECKING:
    from rich.console import Console

    from dipstick.check import CheckResult

app = typer.Typer(
    name="dipstick",
    cls=LazyGroup,      # commands import their module when asked for, not at start-up
    help="The value leakage indicator for IT services: which services leak value, why, how "
    "much per month, and since when.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
attach(app)


def _console(stderr: bool = False) -> Console:
    """Piped or captured output gets a wide page instead of Rich's 80 columns: the lights
    table and the problems table must not be squeezed into unreadable wraps. (A terminal keeps
    its own width: 80 columns get the compact lights table, render/lights.py.)"""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        width = max(160, int(os.environ.get("COLUMNS", "0") or 0))
        console = Console(stderr=stderr, highlight=False, width=width)
    return console


class _Lazy:
    """A console made on first use: Rich's import (~0.03 s CPU) is not paid by a command that
    prints only JSON (``streams --format json``, ``check --format json`` off a terminal)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._made: Console | None = None

    def made(self) -> Console:
        if self._made is None:
            self._made = _console(self._stderr)
        return self._made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


def real(console: Console) -> Console:
    """The console behind ``out`` or ``err``, for Rich's own machinery (a live display enters
    its console as a context, which no stand-in answers)."""
    return console.made() if isinstance(console, _Lazy) else console


out = cast("Console", _Lazy(stderr=False))
err = cast("Console", _Lazy(stderr=True))


def stderr_is_terminal() -> bool:
    """``err.is_terminal`` without making the console when the answer is plainly no: stderr
    is no terminal and neither variable Rich (15) reads to call it one anyway is set."""
    if not sys.stderr.isatty() and not {"TTY_COMPATIBLE", "FORCE_COLOR"} & os.environ.keys():
        return False
    return err.is_terminal


PackageArg = Annotated[Path, typer.Argument(help="The data package folder (with dipstick.yaml).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


def sane_day(value: datetime | None) -> datetime | None:
    """A date option (``--as-of``, ``--due``, ``--since`` …) within dipstick.bounds's range:
    year 1 or 9999 parses, but every window computed from it overflows (a traceback and exit 1
    before issue 17; now exit 2 naming the option)."""
    from dipstick.bounds import date_problem

    why = date_problem(value) if value is not None else None
    if why:
        raise typer.BadParameter(why)
    return value


def _database_url(value: str | None) -> str | None:
    """``--database`` that is no URL at all is a usage error naming the option (exit 2), found
    before any work (was exit 3 after the check, or a traceback)."""
    from dipstick.database import url_problem

    why = url_problem(value) if value is not None else None
    if why:
        raise typer.BadParameter(why)
    return value


AsOfOpt = Annotated[datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d"], callback=sane_day,
    help="Check as of this date (default: organisation.as_of or the latest signal date).")]
ServiceOpt = Annotated[list[str] | None, typer.Option(
    "--service", "-s", help="Only this service id (repeatable).")]
DatabaseOpt = Annotated[str | None, typer.Option(
    "--database", callback=_database_url,   # unset: DIPSTICK_DATABASE_URL (dipstick.settings)
    help="App database URL (default: SQLite file dipstick.db here; env DIPSTICK_DATABASE_URL).")]
StoreOpt = Annotated[bool, typer.Option("--store/--no-store", help="Keep the run in the history.")]
EngineOpt = Annotated[str, typer.Option(
    # \[ : Rich markup would take "[spark]" for a style and drop it from the help
    "--engine", help="duckdb (embedded, default) or spark (needs dipstick\\[spark]; "
    "DIPSTICK_SPARK_MASTER names a cluster, default local; SPARK_REMOTE a Spark Connect "
    "server; Parquet tables are read by Spark: docs/spark.md).")]


def main() -> None:
    """The console entry point. An exception no command turned into an exit code — a bug, or
    the engine out of memory or disk — is exit 3 with its traceback, not Python's exit 1,
    which a scheduler or a benchmark would read as "a service leaks"."""
    numpy_cpu.steer()   # before anything imports NumPy (dipstick/numpy_cpu.py)
    try:
        app()
    except DipstickError as e:      # one a command forgot to turn into its exit code
        err.print(str(e), markup=False)
        raise SystemExit(e.exit_code) from None
    except Exception:
        import traceback

        traceback.print_exc()
        err.print("dipstick could not finish (exit 3): the error above is not about your data; "
                  "if it says memory or disk, see DIPSTICK_MEMORY_LIMIT and "
                  "DIPSTICK_TEMP_DIRECTORY (docs/web.md)", markup=False)
        raise SystemExit(ExitCode.FAILURE) from None
    finally:      # every command ends here, by click's sys.exit or an error
        _leaving()


def _leaving() -> None:
    """The process is about to end: take what it holds out of the collector's sight. Else the
    interpreter's last collections walk every object still alive — what a command holds (a
    check of the large demo: 1.2 s of CPU at exit) and the imported modules (~45,000 objects,
    ~0.06 s after a 1.27 M-event ``streams``) — for a process that frees its memory anyway.
    Objects left in a cycle then get no ``__del__`` at exit, which Python never promised."""
    gc.freeze()


def one_shot() -> None:
    """Tune this process for one large piece of NumPy work, then exit: ``streams`` on a large
    log (streams/on_numpy.py) and ``check`` (their arrays: the weekly series, the ticket
    facts, the shift screen). OpenBLAS, loaded with NumPy but never used here, would start a
    thread per core that spins (~0.15 s CPU); and glibc would hand each large array back to
    the kernel when freed, so every next one comes as fresh pages the kernel zeroes — a
    check of the large demo: ~0.4 s of system CPU (docs/benchmarks.md, session 19), a
    1.27 M-event discovery ~0.15 s (session 13). Kept in the heap instead (up to 256 MiB a
    block), reused, and freed at exit. Only commands that end with their work call this
    (never the web server). The caller's own settings win."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if sys.platform != "linux" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)   # glibc's; absent in musl
    if mallopt is not None:
        mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
        mallopt(-3, 1 << 28)   # M_MMAP_THRESHOLD


def _version(show: bool) -> None:
    if show:
        from dipstick import __version__

        out.print(f"dipstick {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """The value leakage indicator for IT services: which services leak value, why, how much
    per month, and since when."""


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=real(err), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def step(what: str) -> None:
            bar.update(task, description=f"{label}: {what}", advance=1)

        yield step


def _fail(e: DipstickError, fmt: str) -> typer.Exit:
    """Report an error the way the chosen format expects; nothing has been stored."""
    problems = e.problems if isinstance(e, PackageError) else []
    if fmt == "json":
        _print_json({"error": type(e).__name__, "message": str(e).splitlines()[0],
                             "problems": [p.as_dict() for p in problems]})
    elif problems:
        from dipstick.render.tables import problems_table

        err.print(problems_table(problems))
    else:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(e))}")      # data in it is not markup
    return typer.Exit(int(e.exit_code))


@contextmanager
def open_store(database: str | None, fmt: str) -> Iterator[Any]:
    """The app database, migrated, for a command that reads or writes it; its errors reported
    the way ``fmt`` expects. Imported here, not at start-up: most commands never open it."""
    from dipstick.store import Store

    try:
        with Store.open(database) as store:
            store.migrate()
            yield store
    except DipstickError as e:
        raise _fail(e, fmt) from None


def _print_json(data: Any) -> None:
    """Plain JSON on stdout: Rich's highlighter takes seconds on a 2,000-service result, and
    so does indenting (it forces json's pure-Python encoder), so only a terminal gets indents.
    ``allow_nan=False``: ``Infinity`` and ``NaN`` are not JSON, so a non-finite number that
    got past the loader's bounds is an error (exit 3), never output a JSON reader rejects."""
    indent = 2 if sys.stdout.isatty() else None
    try:
        text = json.dumps(data, indent=indent, default=str, ensure_ascii=False,
                          allow_nan=False)
    except ValueError as e:
        raise _not_finite(e) from None
    sys.stdout.write(text + "\n")


def _print_check_json(result: CheckResult) -> None:
    """A check's JSON, the same bytes as ``_print_json(result.to_json())``, encoded service by
    service (``check.json_chunks``: half the CPU of one big dict and string) and written
    piece by piece once all are made, so a non-finite number still prints nothing. A terminal
    gets the indented whole."""
    if sys.stdout.isatty():
        _print_json(result.to_json())
        return
    from dipstick.check import json_chunks

    try:
        chunks = json_chunks(result)
    except ValueError as e:
        raise _not_finite(e) from None
    for chunk in chunks:
        sys.stdout.write(chunk)
    sys.stdout.write("\n")


def _not_finite(e: ValueError) -> typer.Exit:
    err.print(f"[red]error:[/red] the result holds a number that is not finite ({e}); "
              "nothing was printed. Please report it with the package that gave it.")
    return typer.Exit(int(ExitCode.FAILURE))


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        err.print(f"[red]error:[/red] --format must be table or json, not {fmt!r}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
