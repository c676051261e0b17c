"""Every error dipstick raises on purpose, and the exit codes the CLI maps them to.

Hierarchy::

    DipstickError
    ├── PackageError      the data package is bad: carries every Problem found (exit 2)
    ├── UsageError        a bad option or argument, e.g. an unknown service id (exit 2)
    └── StoreError        the app database cannot be reached or migrated (exit 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0          # no leak
    LEAK = 1        # at least one service leaks
    BAD_INPUT = 2   # the package or the command line is wrong; nothing was stored
    FAILURE = 3     # dipstick could not do its job (database unreachable, bug)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, precise enough to fix without guessing."""

    file: str
    message: str
    row: int | None = None       # 1-based data row (CSV: the header is line 1, row 1 is line 2)
    field: str | None = None
    value: object = None
    line: int | None = None      # line in the file, where known

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.line is not None:
            where += f" (line {self.line})"
        if self.field:
            where += f", field {self.field}"
        value = "" if self.value is None else f" (value: {self.value!r})"
        return f"{where}: {self.message}{value}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "line": self.line, "field": self.field,
                "value": None if self.value is None else str(self.value), "message": self.message}


class DipstickError(Exception):
    exit_code = ExitCode.FAILURE


class PackageError(DipstickError):
    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in {where(problems)}:\n"
                         + "\n".join(f"  - {p}" for p in problems))


def where(problems: list[Problem]) -> str:
    """The files the problems are in, by name: an import's problems are in the export, not
    in a data package that may not exist yet."""
    names = list(dict.fromkeys(p.file.replace("\\", "/").rsplit("/", 1)[-1]
                               for p in problems))
    if not names:
        return "the data package"
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more files" if len(names) > 3 else "")


class UsageError(DipstickError):
    exit_code = ExitCode.BAD_INPUT


class StoreError(DipstickError):
    exit_code = ExitCode.FAILURE
