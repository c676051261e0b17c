"""Start-up stays light: each command imports only what it uses (issue 16, item 1).

What is guarded is the import list, not the time (the time is measured by
``benchmarks/startup.py``, never asserted here). Each case runs in a fresh interpreter, since
what a process has imported is exactly what is under test; inside it the command runs through
Typer's runner as the other CLI tests do.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from sqlalchemy import make_url
from typer.testing import CliRunner

from dipstick.database import sqlite_file_missing

# Libraries that cost tenths of a second each to import, and the parts of dipstick that pull
# them in. `--help` needs none of them. (pydantic is not listed: some commands' modules use it;
# a stream from a log must not, tested below.)
HEAVY = ("duckdb", "numpy", "narwhals", "pyarrow", "pandas", "scipy", "sqlalchemy", "alembic",
         "fastapi", "starlette", "uvicorn", "plotly", "matplotlib", "fpdf", "jinja2",
         "pydantic_settings", "yaml", "httpx", "psycopg", "pyspark", "openpyxl", "pm4py")
# What a check that stores nothing, or a stream discovered from a log, must never load: the app
# database and the web (issue 16: "no Alembic, SQLAlchemy, FastAPI or Plotly").
SERVER_SIDE = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "plotly", "jinja2",
               "matplotlib", "fpdf", "httpx", "psycopg", "argon2", "itsdangerous")

PROBE = """
import json, sys
from typer.testing import CliRunner
from dipstick.cli import app
runs = json.loads(sys.argv[1])
codes = [CliRunner().invoke(app, args).exit_code for args in runs]
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def imported_by(runs: list[list[str]], cwd: Path) -> tuple[list[int], set[str]]:
    """Run the commands one after another in one fresh interpreter: their exit codes and every
    module the interpreter holds afterwards."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(runs)], cwd=cwd,
                          capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["codes"], set(answer["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(names))


def every_help() -> list[list[str]]:
    """``--help`` of the root and of every command and sub-command, read from the app itself,
    so a command added later is guarded too."""
    import typer

    from dipstick.cli import app

    runs: list[list[str]] = [["--help"]]

    def walk(group: Any, prefix: list[str]) -> None:
        ctx = typer.Context(group)
        for name in group.list_commands(ctx):    # the root lists lazily (cli/lazy.py)
            runs.append([*prefix, name, "--help"])
            cmd = group.get_command(ctx, name)
            if hasattr(cmd, "list_commands"):     # a group of sub-commands
                walk(cmd, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return runs


# The modules that define commands; `dipstick --help` needs none of them (cli/lazy.py).
COMMAND_MODULES = {f"dipstick.cli.{m}" for m in (
    "actions", "admin", "commands", "connectors", "digest", "init", "journeys", "pull",
    "pulse", "pulse_due", "streams", "web")}


def test_the_root_help_imports_no_command_module(tmp_path: Path) -> None:
    codes, modules = imported_by([["--help"]], tmp_path)
    assert codes == [0]
    assert sorted(modules & COMMAND_MODULES) == []


@pytest.mark.parametrize(("args", "wanted"), [
    (["pull", "jira", "--help"], {"dipstick.cli.pull"}),
    (["check", "--help"], {"dipstick.cli.commands"}),
    (["pulse", "due", "--help"], {"dipstick.cli.pulse", "dipstick.cli.pulse_due"}),
    (["users", "list", "--help"], {"dipstick.cli.web"}),
    (["streams", "--help"], {"dipstick.cli.streams"}),
])
def test_a_command_imports_only_its_own_module(args: list[str], wanted: set[str],
                                               tmp_path: Path) -> None:
    codes, modules = imported_by([args], tmp_path)
    assert codes == [0]
    assert modules & COMMAND_MODULES == wanted


def test_the_lazy_table_matches_the_real_commands() -> None:
    """``COMMANDS`` repeats each command's one-line help for the root's listing: it must say
    what the command itself says, and name every command there is (a command added to a
    module but not to the table would be unreachable)."""
    import importlib
    import inspect

    import typer

    from dipstick.cli import app
    from dipstick.cli.lazy import COMMANDS

    for module in sorted(COMMAND_MODULES):
        importlib.import_module(module)
    real = typer.main.get_group(app).commands
    assert sorted(real) == sorted(COMMANDS)
    for name, (modules, short) in COMMANDS.items():
        cmd = real[name]
        assert short == inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0]
        defined_in = {c.__module__ for c in callbacks(cmd)}
        assert defined_in == {f"dipstick.cli.{m}" for m in modules}, name


def callbacks(cmd: Any) -> list[Any]:
    """The Python functions behind a command or every sub-command of a group."""
    if hasattr(cmd, "commands"):
        return [f for sub in cmd.commands.values() for f in callbacks(sub)]
    return [cmd.callback.__wrapped__ if hasattr(cmd.callback, "__wrapped__") else cmd.callback]


def test_the_root_help_lists_every_command_and_a_typo_still_gets_a_suggestion() -> None:
    from typer.testing import CliRunner

    from dipstick.cli import app
    from dipstick.cli.lazy import COMMANDS

    r = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert r.exit_code == 0
    listed = [line.split()[1] for line in r.stdout.splitlines()
              if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in COMMANDS]
    assert listed == list(COMMANDS)
    assert "Run every leak indicator and show the lights." in r.stdout
    typo = CliRunner().invoke(app, ["chek"])
    assert typo.exit_code == 2 and "Did you mean 'check'?" in typo.output


def test_every_help_imports_nothing_heavy(tmp_path: Path) -> None:
    runs = every_help()
    assert len(runs) > 25     # the root, ~20 commands, the pulse/actions/users sub-commands
    codes, modules = imported_by(runs, tmp_path)
    assert codes == [0] * len(runs)
    assert loaded(modules, HEAVY) == []
    ours = sorted(m for m in modules if m.startswith("dipstick"))
    allowed = ("dipstick", "dipstick.cli", "dipstick.defaults", "dipstick.errors",
               "dipstick.numpy_cpu", "dipstick.waiting")   # numpy_cpu: os, sys, pathlib
    assert [m for m in ours if m not in allowed and not m.startswith("dipstick.cli.")] == []


def test_a_check_that_stores_nothing_loads_neither_database_nor_web(demo_org: Path,
                                                                       tmp_path: Path) -> None:
    nowhere = f"sqlite:///{tmp_path / 'none.db'}"
    codes, modules = imported_by(
        [["check", str(demo_org), "--no-store", "--format", "json", "--database", nowhere],
         ["check", str(demo_org), "--no-store", "--database", nowhere, "--limit", "5"],
         ["validate", str(demo_org)]], tmp_path)
    assert codes == [1, 1, 0]             # the demo leaks; the package is valid
    assert "duckdb" in loaded(modules, HEAVY)   # it did check
    assert loaded(modules, SERVER_SIDE) == []
    assert not (tmp_path / "none.db").exists()


def test_a_stored_check_imports_neither_the_orm_nor_alembic(demo_org: Path, demo_db: str,
                                                           tmp_path: Path) -> None:
    """Storing a run (the pulse answers and self-assessments read, the run, its rows, context
    and audit entry written, the actions settled) is Core only: importing SQLAlchemy's ORM and
    declaring the mapped classes cost ~0.2 s of CPU of every stored check (issue 16). The
    database is already migrated (Alembic only runs when it is not)."""
    from dipstick.store import Store

    with Store.open(demo_db) as store:
        stored = len(store.runs())
    codes, modules = imported_by(
        [["check", str(demo_org), "--format", "json", "--database", demo_db]], tmp_path)
    assert codes == [1]                                      # the demo leaks
    with Store.open(demo_db) as store:
        assert len(store.runs()) == stored + 1               # and the run was stored
    assert {"sqlalchemy", "duckdb"} <= set(loaded(modules, HEAVY))
    assert sorted(m for m in modules if m.startswith(("sqlalchemy.orm", "alembic"))) == []


def test_a_check_does_not_import_pandas(demo_org: Path, tmp_path: Path) -> None:
    """pyarrow imports pandas on its first conversion to NumPy (0.17 s); the check's series
    come from DuckDB's own NumPy arrays (``engine.arrays``)."""
    codes, modules = imported_by(
        [["check", str(demo_org), "--no-store", "--format", "json"]], tmp_path)
    assert codes == [1]
    assert "numpy" in loaded(modules, HEAVY) and "pandas" not in loaded(modules, HEAVY)


def test_a_stream_from_a_log_loads_neither_database_nor_web(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    rows = ["case_id,activity,timestamp"] + [
        f"c{c},{a},2026-01-0{1 + c % 5} {h:02d}:00:00"
        for c in range(20) for h, a in enumerate(("Open", "Awaiting User", "Work", "Close"))]
    log.write_text("\n".join(rows) + "\n")
    codes, modules = imported_by([["streams", str(log), "--format", "json"],
                                  ["streams", str(log)]], tmp_path)
    assert codes == [0, 0]
    assert loaded(modules, SERVER_SIDE) == []


def test_a_stream_from_a_log_as_json_imports_no_rich(tmp_path: Path, monkeypatch: Any
                                                     ) -> None:
    """Rich's consoles are made on first use (cli/app.py ``_Lazy``): JSON of a log, piped,
    prints without them (~0.035 s CPU of imports); a table still gets them."""
    log = tmp_path / "log.csv"
    log.write_text("case_id,activity,timestamp\nc1,Open,2026-01-01 09:00:00\n"
                   "c1,Close,2026-01-02 09:00:00\n")
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    codes, modules = imported_by([["streams", str(log), "--format", "json"]], tmp_path)
    assert codes == [0]
    assert loaded(modules, ("rich",)) == []
    codes, modules = imported_by([["streams", str(log)]], tmp_path)
    assert codes == [0] and loaded(modules, ("rich",)) == ["rich"]


def test_a_forced_terminal_still_gets_the_progress(monkeypatch: Any) -> None:
    """``stderr_is_terminal`` answers no without Rich only when Rich would say no too."""
    cli_app = importlib.import_module("dipstick.cli.app")   # the package exports the Typer app
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli_app.stderr_is_terminal() is False
    for name, value in (("TTY_COMPATIBLE", "1"), ("FORCE_COLOR", "1")):
        monkeypatch.setenv(name, value)
        fresh = cli_app._Lazy(stderr=True)
        monkeypatch.setattr(cli_app, "err", fresh)
        assert cli_app.stderr_is_terminal() is True, name
        monkeypatch.delenv(name)
    assert cli_app.real(fresh) is fresh.made() and type(fresh.made()).__name__ == "Console"


@pytest.mark.parametrize("url", [
    "sqlite:///{d}/there.db", "sqlite:///{d}/missing.db", "sqlite:////{d}/there.db",
    "sqlite+pysqlite:///{d}/there.db?timeout=5", "sqlite:///{d}/sp%20ace.db", "sqlite://",
    "sqlite:///:memory:", "postgresql+psycopg://u:p@127.0.0.1:5432/test", "notaurl",
    "SQLITE:///{d}/there.db", "sqlite://localhost/{d}/there.db",
])
def test_the_light_url_reading_names_the_file_sqlalchemy_opens(url: str, tmp_path: Path
                                                                ) -> None:
    (tmp_path / "there.db").write_bytes(b"")
    (tmp_path / "sp ace.db").write_bytes(b"")
    url = url.format(d=str(tmp_path).lstrip("/"))
    try:
        parsed = make_url(url)
    except Exception:
        expected = False     # opening reports the problem
    else:
        expected = (parsed.get_backend_name() == "sqlite"
                    and not Path(parsed.database or "").is_file())
    assert sqlite_file_missing(url) is expected


def test_a_stream_from_a_log_needs_no_pydantic(tmp_path: Path) -> None:
    """Typer would coerce every parameter through a pydantic adapter (~0.09 s CPU of a whole
    `dipstick streams LOG`); text, paths, flags and repeated text are coerced plainly
    (cli/lazy.py, ``plain_coercion``)."""
    log = tmp_path / "log.csv"
    log.write_text("case_id,activity,timestamp\nc1,Open,2026-01-01 09:00:00\n"
                   "c1,Awaiting User,2026-01-01 10:00:00\nc1,Close,2026-01-02 09:00:00\n")
    codes, modules = imported_by([["streams", str(log), "--format", "json", "--waiting",
                                   "Awaiting", "--waiting", "Pending", "--collapse"]], tmp_path)
    assert codes == [0]
    assert "duckdb" in loaded(modules, HEAVY)   # it did read the log
    assert loaded(modules, ("pydantic",)) == []


def test_a_memory_bound_stream_is_discovered_in_sql_and_answers_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DIPSTICK_MEMORY_LIMIT`` bounds ``streams`` too: DuckDB spills, and a log whose NumPy
    arrays (``NUMPY_BYTES_PER_EVENT``, which DuckDB's bound does not cover) would take more
    than half the bound is discovered in SQL — NumPy's path is not even imported — with the
    same map. Unbound, the same log takes the NumPy path. A bound DuckDB cannot read is exit 2
    naming the variable."""
    from dipstick.streams.on_duckdb import ARRAYS_FROM, NUMPY_BYTES_PER_EVENT, numpy_fits

    cases = 30_000
    steps = ("New", "Assigned", "Awaiting User", "Active", "Resolved", "Active", "Resolved",
             "Closed")
    events = cases * len(steps)
    limit = 64 * 2**20
    assert events >= ARRAYS_FROM and events * NUMPY_BYTES_PER_EVENT > limit // 2
    assert not numpy_fits(events, limit) and numpy_fits(events, None)
    assert numpy_fits(events, 2 * events * NUMPY_BYTES_PER_EVENT)
    log = tmp_path / "log.csv"
    with log.open("w") as f:
        f.write("case_id,activity,timestamp\n")
        for c in range(cases):
            day = f"2026-01-{1 + c % 28:02d}"
            f.writelines(f"INC{c:06d},{a},{day} {i + c % 7:02d}:{c % 60:02d}:00\n"
                         for i, a in enumerate(steps))
    args = [["streams", str(log), "--format", "json"]]
    monkeypatch.delenv("DIPSTICK_MEMORY_LIMIT", raising=False)
    codes, free = imported_by(args, tmp_path)
    assert codes == [0] and "dipstick.streams.on_numpy" in free
    monkeypatch.setenv("DIPSTICK_MEMORY_LIMIT", "64MB")
    codes, bound = imported_by(args, tmp_path)
    assert codes == [0] and "dipstick.streams.on_numpy" not in bound
    runner = CliRunner()
    from dipstick.cli import app

    in_sql = runner.invoke(app, args[0])
    monkeypatch.delenv("DIPSTICK_MEMORY_LIMIT")
    in_numpy = runner.invoke(app, args[0])
    assert in_sql.exit_code == in_numpy.exit_code == 0
    assert json.loads(in_sql.stdout) == json.loads(in_numpy.stdout)
    monkeypatch.setenv("DIPSTICK_MEMORY_LIMIT", "lots")
    bad = runner.invoke(app, args[0])
    assert bad.exit_code == 2 and "DIPSTICK_MEMORY_LIMIT='lots'" in bad.output


def test_plain_coercion_gives_what_typer_gives(tmp_path: Path) -> None:
    """The same values — and the same refusals — with Typer's own coercion and the plain one,
    for every kind of parameter (the plain ones and those handed back to Typer): an int's
    default is kept as it is, a ranged one's (``low``, clamped to 5) is Typer's."""
    from dipstick.cli.lazy import plain_coercion

    app = typer.Typer()

    @app.command()
    def cmd(path: Path,
            there: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
            name: str = "x", maybe: str | None = None,
            many: Annotated[list[str] | None, typer.Option()] = None,
            n: int = 3, flag: bool = False, when: str = "",
            low: Annotated[int, typer.Option(min=5, clamp=True)] = 1) -> tuple[Any, ...]:
        return path, there, name, maybe, many, n, flag, when, low

    (tmp_path / "f.txt").write_text("x")
    cases = [["a/b.csv"], [str(tmp_path), "--there", str(tmp_path / "f.txt"), "--name", "Ünï",
                           "--maybe", "m", "--many", "p", "--many", "q r", "--n", "7", "--flag"],
             ["p", "--there", str(tmp_path / "missing")], ["p", "--there", str(tmp_path)],
             ["p", "--n", "seven"], ["p", "--many", ""], ["p", "--when", ""], ["p", "--name", ""]]

    def run(args: list[str], plain: bool) -> Any:
        command = typer.main.get_command(app)
        if plain:
            plain_coercion(command, None, "cmd")
        try:
            return command.main(args, prog_name="cmd", standalone_mode=False)
        except Exception as e:   # Typer's refusal: its message
            return type(e).__name__, str(e)

    results = [(run(args, False), run(args, True)) for args in cases]
    for own, plain in results:
        assert plain == own
    assert sum(isinstance(own[0], str) for own, _ in results) == 3   # three refused


FROZEN_AT_EXIT = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))
sys.argv = ["dipstick", *sys.argv[1:]]
from dipstick.cli import main
main()
"""


@pytest.mark.parametrize("args", [["--version"], ["streams", "no-such-log.csv", "--format",
                                                   "json"]])
def test_the_console_entry_freezes_the_heap_before_exit(args: list[str], tmp_path: Path) -> None:
    """The console entry point ends with ``gc.freeze()`` — after a success or an error — so
    Python's shutdown does not walk every live object (a cost with no effect: the process is
    ending). Seen from an exit handler, which runs after the command, before shutdown."""
    done = subprocess.run([sys.executable, "-c", FROZEN_AT_EXIT, *args], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == (0 if args == ["--version"] else 2), done.stderr
    assert done.stdout.strip().splitlines()[-1] == "frozen True"
