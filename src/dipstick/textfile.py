"""Exported text files as they come: plain or gzip, in UTF-8, UTF-16 or a Windows export's
Windows-1252. The importer (connectors/sources.py) and the event-log reader (streams/logs.py)
detect and name encodings alike, hand DuckDB a UTF-8 copy of a file it cannot decode exactly
(:func:`readable`), and say which line of a file that is not UTF-8 further on is not."""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

from dipstick.errors import PackageError, Problem, UsageError

# Names people give (``--encoding``) and the encoding each means here. DuckDB reads UTF-8,
# little-endian UTF-16 and Latin-1 without an extension (none can be downloaded); the rest is
# copied to UTF-8 first (:func:`readable`). "latin-1" means Windows-1252, as the web's encoding
# standard (WHATWG) reads every Latin-1 label: the two differ only in 0x80–0x9F, where Latin-1
# has control characters no export means and Windows-1252 has €, dashes and typographic quotes,
# which DuckDB's Latin-1 reader refuses ("File is not latin-1 encoded")
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "utf-8-bom": "utf-8",
             "utf-16": "utf-16", "utf16": "utf-16", "utf-16-le": "utf-16", "utf-16le": "utf-16",
             "utf-16-be": "utf-16-be", "utf-16be": "utf-16-be",
             "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
             "cp1252": "latin-1", "windows-1252": "latin-1"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")   # Excel's "Unicode text" starts with one
SAMPLE = 1 << 20
# Windows-1252's bytes 0x80–0x9F (its five unassigned ones as the code point of the same
# number, as Windows and WHATWG decode them): where it is not Latin-1
_C1 = bytes(range(0x80, 0xA0))
_CP1252 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))
_CHUNK = 1 << 23


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
                         "utf-16, utf-16-be or latin-1 (windows-1252)")
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
    """UTF-16 when the sample starts with its byte-order mark, or without one when a third of
    its first 512 bytes are NUL, more of them on one side (text of Latin letters, as a CSV's
    header is, has a NUL beside each letter); UTF-8 (with or without BOM) when the sample (a
    file's first MiB) decodes as UTF-8, else Latin-1 (read as Windows-1252)."""
    if sample.startswith(_UTF16_BOMS):
        return "utf-16-be" if sample.startswith(b"\xfe\xff") else "utf-16"
    start = sample[:512] if len(sample) >= 4 else b""
    if start and start.count(0) >= len(start) // 3:
        odd, even = start[1::2].count(0), start[0::2].count(0)
        if odd != even:
            return "utf-16" if odd > even else "utf-16-be"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 3:   # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def not_utf8(display: str, path: Path, error: str, remedy: str) -> Problem | None:
    """DuckDB's read ``error`` as the problem of a file that is not UTF-8 where DuckDB found
    it so: its first such line and byte (DuckDB's own message names the header's line), and
    the ``remedy``. None for any other error, or a file that is not a local one."""
    if "invalid unicode" not in error.lower() or not path.is_file():
        return None
    found = first_undecodable(path)
    if found is None:
        return None
    line, byte = found
    return Problem(display, f"is not UTF-8 text from line {line:,} on (byte 0x{byte:02x}): "
                   f"{remedy}", line=line)


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


def readable(path: Path, enc: str, copy_to: Callable[[], Path],
             display: str | None = None) -> tuple[Path, str]:
    """The file DuckDB is to read for ``path`` in encoding ``enc``, and DuckDB's encoding for
    it: the file itself when DuckDB decodes it exactly; else a UTF-8 copy at ``copy_to()``
    (same lines, so DuckDB's line numbers stay the file's). A copy is made for UTF-16 other
    than little-endian after its mark (DuckDB reads big-endian as nothing; Python's readers
    of the header want the mark) and for Windows-1252 with a byte in 0x80–0x9F, which DuckDB's
    Latin-1 reader refuses; a Latin-1 file without such a byte is both encodings at once and
    is read as it is. UTF-16 that does not decode is a :class:`PackageError` naming
    ``display`` (default: the path) and the line."""
    if enc in ("utf-16", "utf-16-be"):
        with open_bytes(path) as f:
            mark = f.read(2)
        if enc == "utf-16" and mark == b"\xff\xfe":
            return path, enc   # little-endian after its mark: DuckDB's, and Python's "utf-16"
        codec = "utf-16" if mark in _UTF16_BOMS else "utf-16-le" if enc == "utf-16" else enc
        return _copy(path, copy_to(), codec, display or str(path)), "utf-8"
    if enc != "latin-1" or not _has_c1(path):
        return path, enc
    return _copy(path, copy_to(), "cp1252", display or str(path)), "utf-8"


def _has_c1(path: Path) -> bool:
    with open_bytes(path) as f:
        while chunk := f.read(_CHUNK):
            if len(chunk.translate(None, _C1)) != len(chunk):   # 3× a regex's speed
                return True
    return False


def _copy(path: Path, out: Path, codec: str, display: str) -> Path:
    """``path`` decoded (``cp1252``: by :data:`_CP1252`, every byte a character; ``utf-16``:
    the byte order its mark gives) and written as UTF-8 to ``out``, chunk by chunk."""
    decode: Callable[[bytes, bool], str]
    if codec == "cp1252":
        decode = lambda data, final: codecs.charmap_decode(data, "strict", _CP1252)[0]  # noqa: E731
    else:
        decode = codecs.getincrementaldecoder(codec)().decode
    lines = 0
    with open_bytes(path) as src, out.open("wb") as dst:
        try:
            while chunk := src.read(_CHUNK):
                text = decode(chunk, False)
                lines += text.count("\n")
                dst.write(text.encode("utf-8"))
            dst.write(decode(b"", True).encode("utf-8"))
        except UnicodeDecodeError as e:
            at = lines + 1 + e.object[:e.start].decode(e.encoding, "ignore").count("\n")
            raise PackageError([Problem(display, f"is not {codec.upper()} text from line "
                                        f"{at:,} on ({e.reason}): save it again as UTF-8 or "
                                        "UTF-16", line=at)]) from None
    return out
