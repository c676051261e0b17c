"""Reading an export (CSV, gzip CSV, Excel .xlsx, Parquet) into a DuckDB table of raw text.

Every source becomes the same thing: a table whose columns are the file's columns as text and
whose ``rowid + 1`` is the data row (row 1 is the first row under the header), so every later
step reads one shape and every message can name the row. DuckDB streams the file into a
database on disk, so memory stays bounded whatever the file's size. Excel is streamed row by row
(openpyxl read-only mode) into a CSV first; DuckDB has no built-in Excel reader here.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb

from dipstick.engine.sql import ident, literal, run
from dipstick.errors import PackageError, Problem
from dipstick.textfile import SAMPLE, detect_encoding, named_encoding, open_bytes, readable

FORMATS = ("csv", "csv.gz", "tsv", "txt", "xlsx", "parquet")


@dataclass(frozen=True)
class Source:
    """A source file as found: its format, encoding and columns (before anything is staged)."""

    path: Path
    display: str
    format: str
    columns: tuple[str, ...]
    encoding: str
    csv_file: Path          # what DuckDB reads (the file itself, or the CSV an Excel became)
    delimiter: str | None
    header_lines: int = 1   # lines above data row 1 (messages give row and line)


def source_format(path: Path) -> str | None:
    name = path.name.lower()
    return next((f for f in sorted(FORMATS, key=len, reverse=True) if name.endswith("." + f)),
                None)


def open_source(con: duckdb.DuckDBPyConnection, path: Path, workdir: Path,
                encoding: str | None = None, delimiter: str | None = None,
                sheet: str | None = None) -> Source:
    """Find the format, encoding and columns of ``path``; raise PackageError when it cannot be
    read as a table at all."""
    display = str(path)
    fmt = source_format(path)
    if fmt is None:
        raise PackageError([Problem(display, "is not a file dipstick imports (use .csv, .csv.gz, "
                                    ".tsv, .xlsx or .parquet)")])
    if not path.is_file():
        raise PackageError([Problem(display, "file not found")])
    if path.stat().st_size == 0:
        raise PackageError([Problem(display, "is empty (0 bytes): expected a header row and "
                                    "data rows")])
    enc = named_encoding(encoding)
    if fmt == "xlsx":
        csv_file = workdir / "source.csv"
        _excel_to_csv(path, display, csv_file, sheet)
        fmt, enc, delimiter, path = "xlsx", "utf-8", ",", csv_file
    elif fmt == "parquet":
        enc = "binary"
    else:
        enc = enc or detect_encoding(path)
        path, enc = readable(path, enc, lambda: workdir / "source.csv", display)
    if fmt == "tsv" and delimiter is None:
        delimiter = "\t"
    if delimiter is None and fmt != "parquet":
        delimiter = detect_delimiter(path, enc)
    columns = _describe(con, path, display, fmt, enc, delimiter)
    return Source(Path(display), display, fmt, columns, enc, path, delimiter)


def stage(con: duckdb.DuckDBPyConnection, src: Source, relation: str,
          columns: list[str]) -> None:
    """Create the view ``relation``: ``columns`` of the source as text. Nothing is read yet;
    the one pass that reads it reports errors through :func:`read_error`."""
    cols = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in dict.fromkeys(columns))
    run(con, f"CREATE OR REPLACE VIEW {relation} AS SELECT {cols or '1 AS _none'} FROM "
             f"{_scan(src.csv_file, src.format, src.encoding, src.delimiter)}")


def read_error(src: Source, e: duckdb.Error) -> PackageError:
    """DuckDB's error while reading the source, as a problem naming the file (and line)."""
    return PackageError([_read_problem(src.display, src.format, e)])


def detect_delimiter(path: Path, encoding: str) -> str:
    """The most frequent of , ; tab | in the header line (DuckDB's sniffer alone may take a
    ragged data row for the header)."""
    with open_bytes(path) as f:
        head = f.readline(SAMPLE).decode(encoding, errors="replace")
    counts = {d: head.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _scan(path: Path, fmt: str, encoding: str, delimiter: str | None) -> str:
    """The source as a table function, its options literals: :func:`stage` makes it a view,
    where DuckDB cannot bind parameters."""
    if fmt == "parquet":
        return f"read_parquet({literal(path)})"
    opts = f", delim = {literal(delimiter)}, skip = 0" if delimiter else ""
    return (f"read_csv({literal(path)}, header = true, all_varchar = true, "
            f"encoding = {literal(encoding)}{opts})")


def _describe(con: duckdb.DuckDBPyConnection, path: Path, display: str, fmt: str,
              enc: str, delimiter: str | None) -> tuple[str, ...]:
    try:
        rows = run(con, f"DESCRIBE SELECT * FROM {_scan(path, fmt, enc, delimiter)}")
    except duckdb.Error as e:
        raise PackageError([_read_problem(display, fmt, e)]) from None
    columns = tuple(str(r[0]) for r in rows)
    if fmt != "parquet" and columns == ("column0",):
        raise PackageError([Problem(display, "has no header row (the file is empty or holds "
                                    "no columns)")])
    return columns


def _read_problem(display: str, fmt: str, e: duckdb.Error) -> Problem:
    text = str(e)
    kind = {"parquet": "Parquet", "xlsx": "Excel"}.get(fmt, "CSV")
    first = text.splitlines()[0]
    if "invalid unicode" in text.lower():
        return Problem(display, f"cannot be read as UTF-8 text: {first} — give the encoding "
                       "with --encoding latin-1 (or utf-8)")
    line = next((ln for ln in text.splitlines() if ln.startswith("CSV Error on Line")), None)
    lineno = int(line.rsplit(":", 1)[1]) if line and line.rsplit(":", 1)[1].strip().isdigit() \
        else None
    hint = ""
    if ("expected" in text.lower() and "columns" in text.lower()) or "sniffing" in text:
        hint = " — a row has more or fewer fields than the header (check the delimiter and quoting)"
    return Problem(display, f"cannot be read as {kind}: {first}{hint}", line=lineno)


# ---- Excel -----------------------------------------------------------------------------------

def _excel_to_csv(path: Path, display: str, out: Path, sheet: str | None) -> None:
    """Stream the sheet into a UTF-8 CSV: dates as ISO 8601, whole floats without ``.0``."""
    import openpyxl  # type: ignore[import-untyped]

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise PackageError([Problem(display, f"is not an Excel workbook (.xlsx): {e}")]) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise PackageError([Problem(display, f"has no sheet {sheet!r} (sheets: "
                                        f"{', '.join(book.sheetnames)})")])
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            header = False
            for row in ws.iter_rows(values_only=True):
                if not header:
                    if all(v is None for v in row):
                        continue
                    header = True
                    row = tuple(str(v).strip() if v is not None else "" for v in row)
                    while row and row[-1] == "":
                        row = row[:-1]
                    width = len(row)
                    writer.writerow(row)
                    continue
                writer.writerow([_cell(v) for v in row[:width]])
        if not header:
            raise PackageError([Problem(display, "the sheet is empty: expected a header row and "
                                        "data rows")])
    finally:
        book.close()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (date, time)):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
