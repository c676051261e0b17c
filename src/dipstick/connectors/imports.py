"""``import_file``: one export (CSV, Excel, Parquet) into one table of a data package, safely.

The shell (CLI, live pulls) calls only this. An import is all-or-nothing: the new table is
written to a temporary file in the package folder, validated with the package's own table
checks, and only then renamed over the old one; a bad row stops it (or, with
``skip_bad_rows``, is listed in a rejects file). See docs/connectors.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImportOptions:
    """How to read one export. Every field has the default a plain canonical CSV needs."""

    preset: str | None = None                 # servicenow | jira (tickets, services)
    mapping: Mapping[str, str] = field(default_factory=dict)  # dipstick field -> source column
    service_from: str | None = None           # the source column naming the service
    service_map: Path | None = None           # CSV value,service: source values -> service ids
    starter_services: bool = False            # one new service per distinct unmapped value
    dayfirst: bool = False                    # 3/4/2026 is 3 April
    date_format: str | None = None            # a strptime format, e.g. %m/%d/%Y
    encoding: str | None = None               # utf-8 | utf-8-sig | latin-1 (None: detected)
    skip_bad_rows: bool = False               # bad rows go to a rejects file instead of failing
    replace: bool = False                     # replace the table instead of merging by key
    delimiter: str | None = None              # CSV delimiter (None: sniffed)
    sheet: str | None = None                  # Excel sheet (None: the first)


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; the same object feeds the summary table and ``--format json``."""

    table: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    rejects_file: Path | None
    first_date: date | None
    last_date: date | None
    unmapped: tuple[str, ...]
    source: Path | None = None
    target: Path | None = None
    rows_in_table: int = 0                    # rows of the table after the merge
    rows_replaced: int = 0                    # existing rows whose key the import carried
    services_added: tuple[str, ...] = ()
    service_map_file: Path | None = None      # the starter mapping written, if any
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "source": _s(self.source), "target": _s(self.target),
            "rows_read": self.rows_read, "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected, "rejects_file": _s(self.rejects_file),
            "rows_in_table": self.rows_in_table, "rows_replaced": self.rows_replaced,
            "first_date": _s(self.first_date), "last_date": _s(self.last_date),
            "unmapped": list(self.unmapped), "services_added": list(self.services_added),
            "service_map_file": _s(self.service_map_file), "notes": list(self.notes),
        }


def _s(v: object) -> str | None:
    return None if v is None else str(v)


Progress = Callable[[int], None]


def import_file(kind: str, source: Path, into: Path, options: ImportOptions = ImportOptions(),
                progress: Progress | None = None) -> ImportSummary:
    """Import ``source`` as table ``kind`` (or the ``services`` of dipstick.yaml) into the
    package folder ``into`` (created when missing). ``progress`` receives bytes read.

    Raises PackageError (file, row, field, value of every problem; nothing written) or
    UsageError (a bad option).
    """
    raise NotImplementedError("being built")
