"""The package folder during an import: one import at a time, a private work folder on the
same file system, the package as it would be after the import checked, then the atomic replace.

Any moment of a kill leaves a valid package: files are moved into place with ``os.replace``,
dipstick.yaml first; a new package appears in one rename of its folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dipstick.connectors import catalog
from dipstick.engine.sql import run
from dipstick.errors import PackageError, UsageError
from dipstick.model import ValueModel
from dipstick.package import MODEL_FILE, load_package, read_model
from dipstick.package.tables import FORMATS, TABLES

WORK = ".dipstick-import-"


def check_package(into: Path, staged: Path) -> None:
    """Load the package as it would be after the import: the new dipstick.yaml with every
    table of the current package (linked, not copied), so a removed service still referenced
    by a table is caught before anything is replaced."""
    view = staged.parent / "view"
    view.mkdir(exist_ok=True)
    shutil.copy(staged / MODEL_FILE, view / MODEL_FILE)
    if into.is_dir():
        for f in into.iterdir():
            if f.is_file() and f.suffix in FORMATS and f.stem in TABLES:
                (view / f.name).symlink_to(f.resolve())
    load_package(view).close()


def current_model(into: Path) -> tuple[str, ValueModel]:
    """The package's dipstick.yaml text and model (a minimal one for a new package)."""
    if into.exists() and not into.is_dir():
        raise UsageError(f"--into {into} is a file, not a package folder")
    file = into / MODEL_FILE
    if into.is_dir() and file.is_file():
        model, problems = read_model(into)
        if model is None or problems:
            raise PackageError(problems)
        return file.read_text(encoding="utf-8-sig"), model
    if into.is_dir() and any(into.iterdir()):
        raise UsageError(f"{into} is not empty and has no dipstick.yaml: not a data package")
    text = catalog.new_model_text(into.resolve().name)
    return text, ValueModel.model_validate({"organisation": {"name": into.resolve().name}})


def check_model(text: str, work: Path) -> ValueModel:
    folder = work / "model"
    folder.mkdir(exist_ok=True)
    (folder / MODEL_FILE).write_text(text, encoding="utf-8")
    model, problems = read_model(folder)
    if model is None or problems:
        raise PackageError(problems)
    return model


@contextmanager
def locked(into: Path) -> Iterator[None]:
    """One import at a time per package: two imports adding services at once would each
    write their own dipstick.yaml, and the second would drop the first's services. An
    exclusive ``flock`` on the package folder itself (its parent for a new package) — no lock
    file is left behind, and the kernel releases it when a process dies."""
    target = into if into.is_dir() else into.parent
    if not target.is_dir():
        raise UsageError(f"{target} does not exist")
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def workdir(into: Path) -> Iterator[Path]:
    """A private folder on the package's file system (so the final renames are atomic),
    removed afterwards whatever happens; left-overs of killed imports are removed first."""
    parent = into if into.is_dir() else into.parent
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist")
    prefix = WORK if into.is_dir() else f".{into.name}{WORK}"
    for stale in parent.glob(prefix + "*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    work = parent / f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stage_dir(into: Path, work: Path) -> Path:
    d = work / "out"
    d.mkdir(exist_ok=True)
    if not into.is_dir() and not (d / MODEL_FILE).exists():
        (d / MODEL_FILE).write_text(catalog.new_model_text(into.resolve().name),
                                    encoding="utf-8")
    return d


def commit(into: Path, work: Path, staged: Path, order: list[str], stale: list[str]) -> None:
    """Move the staged files into place: a new package in one rename of its folder; an
    existing one file by file with ``os.replace`` (atomic each), dipstick.yaml first, so any
    moment of a kill leaves a valid package (new services before the rows that use them)."""
    if not into.is_dir():
        os.replace(staged, into)
        return
    for name in order:
        f = staged / name
        if f.is_file():
            os.replace(f, into / name)
    for name in stale:
        (into / name).unlink(missing_ok=True)


def connect(work: Path) -> duckdb.DuckDBPyConnection:
    """An on-disk database in the work folder: big exports spill to disk, not to memory."""
    con = duckdb.connect(str(work / "import.duckdb"))
    for sql in ("SET TimeZone = 'UTC'", "SET enable_progress_bar = false",
                "SET memory_limit = '512MB'", "SET preserve_insertion_order = true"):
        run(con, sql)
    run(con, "SET temp_directory = ?", [str(work / "spill")])
    return con


