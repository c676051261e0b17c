"""Commands load on demand: ``dipstick X`` imports only the module that defines X.

Why: Typer builds every registered command (parameters, types, pydantic coercion) and Python
imports every ``dipstick.cli.*`` module before any command runs — ~65 ms of a ~0.3 s
``--help`` (issue 16: every ``--help`` ≤ 0.3 s). The root group lists the names and one-line
helps from ``COMMANDS`` below, so ``dipstick --help`` imports none of the command modules; a
command's own module is imported when it is asked for by name.

``COMMANDS`` repeats each command's first help paragraph; tests/test_startup.py compares it
with the real commands so the two cannot drift.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# name → (modules that register it, the first paragraph of its help), in the order
# `dipstick --help` lists them.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "audit": (("admin",),
        "The audit trail, newest first: who signed in (or failed to), uploaded a package, ran a\n"
        "check, changed an action or a user — when (UTC), from where, what."),
    "backup": (("admin",),
        "Back up the app database to FILE: a consistent SQLite copy while the app runs, or\n"
        "pg_dump's custom format for PostgreSQL (needs pg_dump)."),
    "restore": (("admin",),
        "Replace the app database with the backup FILE, then upgrade it to this dipstick's\n"
        "schema. Refused (exit 2) when the database holds data (without --force) or when a "
        "newer\n"
        "dipstick wrote the backup."),
    "validate": (("commands",),
        "Check a data package and list every problem (file, row, field, value). Exit 2 if any."),
    "check": (("commands",),
        "Run every leak indicator and show the lights. Exit 0 no leak, 1 leak, 2 bad input."),
    "report": (("commands",),
        "Write one self-contained HTML report (opens with no network), or with --summary the\n"
        "one-page summary as HTML or PDF. Exit codes as `check`."),
    "demo": (("commands",),
        "Write a synthetic demo organisation, check it and write its report; a demo admin user\n"
        "is (re)created for the web app with a fresh password. Exit 0 on success."),
    "runs": (("commands",),
        "List the stored check runs, newest first (the history behind trends)."),
    "alerts": (("commands",),
        "List sent and pending alerts (one row per event and target), newest first."),
    "indicators": (("commands",),
        "List the leak indicators, what each asks and the remedy it points to."),
    "import": (("connectors",),
        "Import an export (ServiceNow, Jira, CSV, Excel, Parquet) into a data package: every "
        "row\n"
        "checked, all-or-nothing, idempotent. Exit 0 done, 2 bad input (nothing written)."),
    "digest": (("digest",),
        "Mail the one-page summary (HTML, the PDF attached) to every user with the role leader,\n"
        "one message each, through the e-mail target of alerts:. Run it weekly from a "
        "scheduler.\n"
        "Exit 0 sent, 2 bad input, 3 the SMTP server (or the database) could not be reached."),
    "init": (("init",),
        "Write a starter dipstick.yaml from the package's tables (services, groups, outcomes\n"
        "they name; TODO placeholders for the rest), then list what to add next, what each "
        "addition\n"
        "unlocks, and the money already in sight. Exit 0 done, 2 bad input or a dipstick.yaml "
        "with\n"
        "your own content and no --force (nothing written)."),
    "journeys": (("journeys",),
        "Show the customer journey maps of a package: per touchpoint its satisfaction and\n"
        "drop-off rate now against the baseline, and its monthly satisfaction."),
    "streams": (("streams",),
        "Show value stream maps: lead time, process and wait time, activity ratio, rolled %C&A,\n"
        "the bottleneck — and, for event logs, the process map (directly-follows pairs with\n"
        "durations), variants, waiting states and rework. Exit 2 on a bad package or log."),
    "serve": (("web",),
        "Serve the web app: the portfolio's lights, each service's story, the JSON API. Set\n"
        "DIPSTICK_SECRET_KEY so sessions survive a restart; create the first user with\n"
        "`dipstick users create EMAIL --role admin`."),
    "actions": (("actions",),
        "Actions on leaks: owner, due date, expected saving, status; what a done action "
        "recovered; the portfolio ledger."),
    "pull": (("pull",),
        "Pull tickets live from ServiceNow or Jira into a data package (incremental: each pull "
        "starts where the last one ended)."),
    "pulse": (("pulse", "pulse_due"),
        "Pulse checks: ask stakeholder groups, in 60 seconds, whether they still see value; see "
        "who was not asked for too long."),
    "users": (("web",),
        "Web app users: create, list, disable and enable them, set their passwords and roles, "
        "give and revoke their API tokens."),
}


class Stub(TyperCommand):
    """A command's name and one-line help only, for listing; never run."""


class LazyGroup(TyperGroup):
    """The root group: names and short helps from ``COMMANDS``; a command's module imported
    only when that command is resolved."""

    listing = False     # True while the root's own help is drawn: stubs, no imports

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self.listing:
            return Stub(name=cmd_name, help=COMMANDS[cmd_name][1])
        if self.commands.get(cmd_name) is None or isinstance(self.commands[cmd_name], Stub):
            self.commands[cmd_name] = plain_coercion(load(cmd_name), ctx, cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False

    def parse_args(self, ctx: Any, args: list[str]) -> Any:
        plain_coercion(self, ctx, deep=False)   # the root's options (a command's: get_command)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer suggests near names ("Did you mean 'check'?") from ``self.commands``: a name
        that is no command gets every name there, as stubs."""
        if args and args[0] not in COMMANDS:
            for name, (_, short) in COMMANDS.items():
                self.commands.setdefault(name, Stub(name=name, help=short))
        return super().resolve_command(ctx, args)


_ROOT: list[typer.Typer] = []   # the root app, handed over by dipstick.cli.app (no cycle)


def attach(app: typer.Typer) -> None:
    """Name the root app the commands register on (``dipstick.cli.app`` calls this once)."""
    _ROOT[:] = [app]


def load(name: str) -> Any:
    """The real click command ``name``: its modules imported (they register on the root app),
    then built the way Typer builds the root."""
    for module in COMMANDS[name][0]:
        importlib.import_module(f"dipstick.cli.{module}")
    return typer.main.get_group(_ROOT[0]).commands[name]


def plain_coercion(command: Any, parent: Any, name: str | None = None,
                   deep: bool = True) -> Any:
    """Give the command's parameters, its help option (made in its context under ``parent``
    as Click makes it) and, ``deep``, its sub-commands' a coercion that needs no pydantic for
    plain values; return the command.

    Why: Typer coerces every parameter — defaults and unset flags included — through a
    pydantic ``TypeAdapter`` built on first use, so any command imports pydantic and builds an
    adapter per parameter before it runs: ~0.09 s CPU of a 0.5 s ``dipstick streams LOG``
    (docs/benchmarks.md, session 14). A text value is already the ``str`` the adapter returns,
    a flag's value already the ``bool``, and a path is Typer's own path check on a ``Path``
    made from the text (the adapter's ``Path(value)``); repeated text, the list of it.
    Anything else — another type, a parser, empty text — gets Typer's own coercion, built on
    first use as before; a file parameter, and every parameter of a Typer whose internals
    differ (no ``_runtime_param``), keep Typer's throughout."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:   # another Typer: its own coercion, unchanged
        return command

    class Plain(RuntimeParam):   # Typer's frozen dataclass, subclassed: no fields of its own
        """Plain text, paths and flags without pydantic; anything else Typer's way."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind, info = self.annotation, self.parameter_info
            if info.parser is None:
                if type(value) is bool and kind is bool:
                    return value
                if (type(value) is int and kind is int and info.min is None
                        and info.max is None):   # an int option's default (``--limit 0``)
                    return value
                if type(value) is str and value:
                    if kind is str:
                        return value
                    if (isinstance(kind, type) and issubclass(kind, Path)
                            and info.path_type is None):
                        return coerce_cli_path(kind(value), info, path_type=kind, param=param,
                                               ctx=ctx)
                if kind == list[str] and type(value) in (list, tuple) and all(
                        type(v) is str and v for v in value):
                    return list(value)
            typer_own = build_runtime_param(param.type_descriptor)
            param._runtime_param = typer_own
            return typer_own._coerce_value(value, param, ctx)

    ctx = parent if name is None else typer.Context(command, parent=parent, info_name=name)
    for param in command.get_params(ctx):
        desc = getattr(param, "type_descriptor", None)
        if (desc is not None and desc.file_annotation is None
                and getattr(param, "_runtime_param", True) is None):
            param._runtime_param = Plain(desc.parameter_info, desc.annotation)
    for sub_name, sub in getattr(command, "commands", {}).items() if deep else ():
        plain_coercion(sub, ctx, sub_name)
    return command
