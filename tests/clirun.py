"""The `dipstick` command run in-process, the way the tests call it.

A subprocess pays ~1.5 s of imports per call; Typer's ``CliRunner`` runs the same Typer app
(argument parsing, exit codes, stdout/stderr) in this process. Only the tests of the process
boundary itself (the entry point, one exit code each, kills) keep a real subprocess: see
``dipstick_process``.

Why in-process is also what lets ``time-machine`` move the clock for the CLI (docs/testing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from dipstick.cli import app

# Rich reads the width when the module-level consoles are made; the subprocess default (a
# pipe, no COLUMNS) is 160 columns, so the in-process run is pinned to the same page.
WIDTH = "160"


@dataclass(frozen=True)
class Ran:
    """What a command run left: the same three names as ``subprocess.CompletedProcess``."""

    returncode: int
    stdout: str
    stderr: str


def dipstick(*args: str | Path, env: Mapping[str, str | None] | None = None,
             unset: tuple[str, ...] = (), stdin: str | None = None) -> Ran:
    """Run ``dipstick ARGS`` in-process. ``env`` is set (``None`` unsets) and ``unset`` names
    prefixes of variables removed, for the call only. An exception the CLI does not turn into
    an exit code is raised here (a subprocess would only show a traceback and exit 1)."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k.startswith(unset)} \
        if unset else {}
    changes |= {"COLUMNS": WIDTH, **(env or {})}
    result = CliRunner().invoke(app, [str(a) for a in args], env=changes, input=stdin,
                                catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def dipstick_process(*args: str | Path, env: Mapping[str, str] | None = None,
                     timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m dipstick ARGS`` as a real process: only for tests of the process boundary
    (entry point, exit codes as the shell sees them)."""
    return subprocess.run([sys.executable, "-m", "dipstick", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
