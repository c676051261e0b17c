"""Paging again when records moved under the pager, and merging the passes.

Offset paging over an update-ordered query (both APIs) skips a record whenever a record it
already read is updated mid-pull: the updated one moves to the end, everything after its old
place shifts back one, and the record at the next page boundary is never served. Its update
time is older than the new watermark, so no later pull would read it either. The moved record
is read twice, which is how a pass notices; the next pass starts at its old update time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dipstick.connectors.pull.http import Fetcher
from dipstick.connectors.pull.staging import StagingCsv
from dipstick.engine.sql import ident, run

Sink = Callable[[Iterable[dict[str, str]]], None]

MAX_PASSES = 3


@dataclass(frozen=True)
class Source:
    """What the generic pull loop needs to know of one API."""

    fetch: Callable[[Fetcher, datetime | None, Sink], tuple[int, str | None]]
    columns: tuple[str, ...]          # the staging header up front, or () for the first page's
    key: str                          # the staging column identifying a record
    updated: str                      # its update time, ``yyyy-mm-dd HH:MM:SS``
    newest: Callable[[str], Any]      # orders watermarks


def moved_during(part: Path, key: str, updated: str) -> tuple[int, datetime] | None:
    """Records read twice in one pass, and the earliest update time they had: offset paging
    over an update-ordered query shifts every later record back one place each time a record
    already read is updated again and moves to the end, so one record at a page boundary is
    skipped. It was ordered after the moved record's old place, so a pass from that time
    finds it. ``None`` when no record was read twice."""
    with part.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    if key not in header or updated not in header:
        return None
    con = duckdb.connect()
    try:
        count, earliest = con.execute(
            f"SELECT count(*), min(first) FROM (SELECT min({ident(updated)}) AS first FROM "
            "read_csv(?, header=true, all_varchar=true, delim=',', quote='\"', "
            f"escape='\"') WHERE {ident(key)} IS NOT NULL GROUP BY {ident(key)} "
            "HAVING count(*) > 1)", [str(part)]).fetchone() or (0, None)
    finally:
        con.close()
    if not count or not earliest:
        return None
    try:
        return int(count), datetime.strptime(str(earliest)[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _concat(parts: list[Path], path: Path, key: str) -> None:
    """The passes' CSVs as one, each record once: its last reading (a later pass, or later in
    a pass) wins, in file order. Done on disk in DuckDB (a row's ``rowid`` is its place in
    the file, as in ``engine.sql``), only when there was more than one pass."""
    if len(parts) == 1:
        parts[0].replace(path)
        return
    con = duckdb.connect(str(path.with_suffix(".duckdb")))
    try:
        for i, part in enumerate(parts):
            read = ("read_csv(?, header=true, all_varchar=true, delim=',', "
                    "quote='\"', escape='\"')")
            run(con, f"CREATE TABLE s AS SELECT * FROM {read}" if i == 0
                else f"INSERT INTO s BY NAME SELECT * FROM {read}", [str(part)])
        run(con, f"COPY (SELECT * FROM s QUALIFY row_number() OVER (PARTITION BY {ident(key)} "
                 "ORDER BY rowid DESC) = 1 ORDER BY rowid) TO ? "
                 "(HEADER true, DELIMITER ',')", [str(path)])
    finally:
        con.close()
    path.with_suffix(".duckdb").unlink(missing_ok=True)
    for part in parts:
        part.unlink()


def pull_passes(fetcher: Fetcher, source: Source, start: datetime | None,
            path: Path) -> tuple[int, str | None, tuple[str, ...]]:
    """Page through the source, again from an earlier time when records moved under the
    pager (at most ``MAX_PASSES``). Returns records, watermark and notes for the user."""
    parts: list[Path] = []
    columns, records, marks, notes = source.columns, 0, [], []
    for n in range(1, MAX_PASSES + 1):
        part = path.with_name(f"{path.stem}.pass{n}.csv")
        with StagingCsv(part, columns) as sink:
            got, mark = source.fetch(fetcher, start, sink.write)
        columns = tuple(sink.columns)
        parts.append(part)
        records += got
        marks += [mark] if mark else []
        moved = moved_during(part, source.key, source.updated) if got else None
        if moved is None:
            break
        count, earliest = moved
        if n == MAX_PASSES:
            notes.append(f"{count} record(s) were still being updated while paged after "
                         f"{n} passes: the watermark stays where it was, so the next pull "
                         "reads them again")
            marks = []
            break
        notes.append(f"{count} record(s) were updated while being paged, which can make "
                     f"offset paging skip others: pass {n + 1} re-read from "
                     f"{earliest:%Y-%m-%d %H:%M:%S}")
        start = earliest
    _concat(parts, path, source.key)
    return records, max(marks, key=source.newest, default=None), tuple(notes)
