"""Data packages that arrive as a zip (the web app's upload): unpacked safely, validated, and only
then kept — as a new version beside the old ones, so a bad upload replaces nothing and the runs
of earlier versions can still be read back.

Layout under the packages folder an admin configured::

    PACKAGES/<name>/<YYYYmmddTHHMMSS-ffffff>/dipstick.yaml …   one folder per upload, never changed
    PACKAGES/<name>/current                                    the version the name stands for

``current`` is a one-line text file (not a symlink: portable, and replaced atomically with
``os.replace``). A zip may hold the package at its root or inside one top folder.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

from dipstick.errors import PackageError, Problem
from dipstick.package import load_package

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_FILES = 200
MAX_BYTES = 4 * 1024**3        # unpacked; a package's tables are CSV or Parquet
MAX_RATIO = 200                # unpacked / packed per member: beyond it, a zip bomb
MAX_NAME = 255                 # bytes in one file or folder name (the usual file-system limit)
MAX_DEPTH = 16                 # path parts of a member: a package is a folder of tables

Bad = Callable[..., PackageError]    # (message, member=None) -> the error to raise


@dataclass(frozen=True)
class StoredPackage:
    name: str
    version: str
    path: Path

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "path": str(self.path)}


def check_name(name: str, what: str = "name") -> str:
    if not NAME.match(name):
        raise PackageError([Problem(what, "a package name is 1–63 lower-case letters, digits, "
                                          "- or _, starting with a letter or digit", value=name)])
    return name


def store_zip(upload: IO[bytes], packages: Path, name: str, filename: str = "upload.zip",
              max_bytes: int = MAX_BYTES) -> StoredPackage:
    """Unpack ``upload`` into a new version of package ``name``, validate it with the same
    loader the check uses, and make it current. Any problem (not a zip, an unsafe member,
    too big, an invalid package) raises :class:`PackageError` and leaves nothing behind: the
    staging folder sits beside the packages (a dot name :func:`current` skips) and the
    package's own folder is only created once the upload is valid."""
    check_name(name)
    packages.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=packages))
    try:
        root = _unpack(upload, staging, filename, max_bytes)
        load_package(root).close()          # every problem, by file, row and field
        version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S-%f")
        home = packages / name
        home.mkdir(exist_ok=True)
        final = home / version
        os.replace(root, final)
        _set_current(home, version)
        return StoredPackage(name, version, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def current(packages: Path) -> list[StoredPackage]:
    """The uploaded packages, by name, each at its current version."""
    found: list[StoredPackage] = []
    if not packages.is_dir():
        return found
    for home in sorted(p for p in packages.iterdir() if p.is_dir() and NAME.match(p.name)):
        marker = home / "current"
        version = marker.read_text().strip() if marker.is_file() else ""
        if version and (home / version / "dipstick.yaml").is_file():
            found.append(StoredPackage(home.name, version, home / version))
    return found


def _set_current(home: Path, version: str) -> None:
    tmp = home / f".current-{os.getpid()}"
    tmp.write_text(version + "\n")
    os.replace(tmp, home / "current")


def _unpack(upload: IO[bytes], into: Path, filename: str, max_bytes: int) -> Path:
    def bad(message: str, member: str | None = None) -> PackageError:
        return PackageError([Problem(filename, message, field=member)])

    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise bad(f"not a zip archive ({e})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_FILES:
            raise bad(f"{len(members)} files: a data package has at most {MAX_FILES}")
        if sum(m.file_size for m in members) > max_bytes:
            raise bad(f"unpacks to more than {max_bytes:,} bytes")
        for m in archive.infolist():                 # all checked before anything is written
            _check_member(m, bad)
        _check_layout(archive.infolist(), bad)
        for m in members:
            target = into.joinpath(*_parts(m.filename))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(m) as src, target.open("wb") as dst:
                    if not _copy_bounded(src, dst, m.file_size):
                        raise bad("a member is larger than the archive says (corrupt or "
                                  "crafted)", m.filename)
            except UNREADABLE as e:      # bad CRC, truncated data, encryption, odd compression
                raise bad(f"cannot be unpacked: {e}", m.filename) from None
            except OSError as e:         # what the file system refuses, despite the checks
                raise bad(f"cannot be written: {e.strerror or e}", m.filename) from None
    return _package_root(into, bad)


# reading a member fails with these on a corrupt or crafted archive (zipfile and zlib's own)
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
              ValueError)


def _parts(filename: str) -> list[str]:
    """A member's path as folder names (a trailing ``/`` marks a folder entry)."""
    return filename.rstrip("/").split("/")


def _check_layout(infos: list[zipfile.ZipInfo], bad: Bad) -> None:
    """Refuse names no file system takes or that fight each other, naming the member: empty
    or ``.`` parts, control characters, over-long names, deep nesting, the same path twice, a
    file that another member needs as a folder (``x`` and ``x/y``)."""
    files: set[str] = set()
    folders: set[str] = set()
    for m in infos:
        parts = _parts(m.filename)
        if any(part in ("", ".") for part in parts):
            raise bad("an empty or '.' name in the member's path", m.filename)
        if any(ord(c) < 32 or c == "\x7f" for c in m.filename):
            raise bad("control characters in the member's name", m.filename[:MAX_NAME])
        if any(len(part.encode()) > MAX_NAME for part in parts):
            raise bad(f"a file or folder name over {MAX_NAME} bytes", m.filename[:MAX_NAME])
        if len(parts) > MAX_DEPTH:
            raise bad(f"{len(parts) - 1} nested folders: a package has at most "
                      f"{MAX_DEPTH - 1}", m.filename[:MAX_NAME])
        path = "/".join(parts)
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if m.is_dir():
            folders.add(path)
        elif path in files:
            raise bad("the same path twice in the archive", m.filename)
        else:
            files.add(path)
    for clash in sorted(files & folders)[:1]:
        raise bad("both a file and a folder of that name in the archive", clash)


def _check_member(m: zipfile.ZipInfo, bad: Bad) -> None:
    path = PurePosixPath(m.filename)
    mode = m.external_attr >> 16
    if (path.is_absolute() or ".." in path.parts or "\\" in m.filename or ":" in m.filename
            or m.filename.startswith("/")):
        raise bad("unsafe path in the archive (absolute or ..)", m.filename[:MAX_NAME])
    if mode and stat.S_ISLNK(mode):
        raise bad("symbolic links are not accepted in a package archive", m.filename)
    if m.compress_size and m.file_size / m.compress_size > MAX_RATIO and m.file_size > 1 << 20:
        raise bad(f"compression ratio over {MAX_RATIO}: refused as a zip bomb", m.filename)


def _copy_bounded(src: IO[bytes], dst: IO[bytes], declared: int) -> bool:
    """Copy at most the declared size (the header can lie); False when there was more."""
    written = 0
    while chunk := src.read(1 << 20):
        written += len(chunk)
        if written > declared:
            return False
        dst.write(chunk)
    return True


def _package_root(into: Path, bad: Bad) -> Path:
    """The folder holding dipstick.yaml: the archive's root or its single top folder (what
    zipping a folder gives), ignoring the litter some archivers add (__MACOSX, .DS_Store)."""
    if (into / "dipstick.yaml").is_file():
        return into
    tops = [p for p in into.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    if len(tops) == 1 and (tops[0] / "dipstick.yaml").is_file():
        return tops[0]
    raise bad("no dipstick.yaml at the top of the archive (or in its single top folder)")
