"""The staging CSV a pull streams its records into, page by page, before the import reads it.

Why a file and not a table in memory: a pull of a large instance is millions of records; the
import already streams CSV through DuckDB, so the pull only ever holds one page.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any


class StagingCsv:
    """A CSV whose header is fixed by the first page (or given up front). A later record that
    lacks a column gets an empty cell; columns only a later record has are not added (the APIs
    return the same fields for every record of one query)."""

    def __init__(self, path: Path, columns: Sequence[str] = ()) -> None:
        self.path = path
        self.columns: list[str] = list(columns)
        self.rows = 0
        self._file: IO[str] | None = None
        self._writer: Any = None                # a csv.writer (its type is private)

    def __enter__(self) -> StagingCsv:
        self._file = self.path.open("w", encoding="utf-8", newline="")
        if self.columns:
            self._start()
        return self

    def _start(self) -> None:
        assert self._file is not None
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, records: Iterable[Mapping[str, str]]) -> None:
        for record in records:
            if self._writer is None:
                self.columns = list(record)
                self._start()
            assert self._writer is not None
            self._writer.writerow([record.get(c, "") for c in self.columns])
            self.rows += 1

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._file is not None:
            if self._writer is None and self.columns:
                self._start()
            self._file.close()
            self._file = None
