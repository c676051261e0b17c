"""Exported text files as they come: plain or gzip, in UTF-8 or a Windows export's Latin-1.
The importer (connectors/sources.py) and the event-log reader (streams/logs.py) detect and
name encodings alike, and a file DuckDB cannot decode is said to be one, with its line."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, cast

from dipstick.errors import UsageError

# Names people give (``--encoding``) and DuckDB's ``read_csv`` encoding for each: DuckDB reads
# UTF-8, UTF-16 and Latin-1 without an extension (none can be downloaded); Windows-1252 is
# read as Latin-1, which differs only in 0x80–0x9F (€, typographic quotes)
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "utf-8-bom": "utf-8",
             "utf-16": "utf-16", "utf16": "utf-16",
             "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
             "cp1252": "latin-1", "windows-1252": "latin-1"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")   # Excel's "Unicode text" starts with one
SAMPLE = 1 << 20


def open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def named_encoding(given: str | None) -> str | None:
    """DuckDB's name of the encoding given (None: detect it); a UsageError for one it cannot
    read."""
    if given is None:
        return None
    enc = ENCODINGS.get(given.strip().lower())
    if enc is None:
        raise UsageError(f"--encoding {given!r} is not supported: use utf-8, utf-8-sig, "
                         "utf-16 or latin-1")
    return enc


def head(path: Path) -> bytes:
    """The file's first MiB (decompressed): what the encoding is told from, and where a
    reader finds the header and first row without opening the file again."""
    with open_bytes(path) as f:
        return f.read(SAMPLE)


def detect_encoding(path: Path) -> str:
    """:func:`encoding_of` the file's :func:`head`."""
    return encoding_of(head(path))


def encoding_of(sample: bytes) -> str:
    """UTF-16 when the sample starts with its byte-order mark, UTF-8 (with or without BOM)
    when the sample (a file's first MiB) decodes as UTF-8, else Latin-1."""
    if sample.startswith(_UTF16_BOMS):
        return "utf-16"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 3:   # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def first_undecodable(path: Path) -> tuple[int, int] | None:
    """The first line (1-based) that is not UTF-8 and its first bad byte, or None: for the
    message when a file detected as UTF-8 from its first MiB is not UTF-8 further on."""
    with open_bytes(path) as f:
        for n, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return n, line[e.start]
    return None
