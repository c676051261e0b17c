"""A SIGKILL in the middle of ``dipstick import`` leaves the previous package intact.

The import runs as a real subprocess on a generated 1 M-row export and is killed at several
moments of its work; after each kill the package's files are byte for byte what they were, the
package still validates, and the next import clears the dead import's work folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector_files import package, snapshot, write_csv
from dipstick.connectors.imports import ImportOptions, import_file
from dipstick.demo.bench import tickets_csv
from dipstick.package import load_package

SERVICES = [f"svc-{i}" for i in range(50)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tickets_csv(tmp_path_factory.mktemp("big") / "tickets.csv", 1_000_000)


@dataclass(frozen=True)
class Finished:
    """The import run to the end, not killed: its package, and how long it worked (from its
    work folder's creation to its exit) on this machine, now."""

    pkg: Path
    seconds: float


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, big: Path) -> Finished:
    pkg = package(tmp_path_factory.mktemp("finished") / "pkg", services=SERVICES)
    proc = _start(big, pkg)
    started = _started(proc, pkg)
    assert proc.wait(timeout=300) == 0
    return Finished(pkg, time.monotonic() - started)


def _started(proc: subprocess.Popen[bytes], pkg: Path) -> float:
    """When the import created its work folder (``time.monotonic``)."""
    deadline = time.monotonic() + 60
    while not _work_dirs(pkg):   # the import has started its work
        assert proc.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return time.monotonic()


def _previous(root: Path) -> tuple[Path, dict[str, bytes]]:
    """A package holding one earlier import's table, and its files byte for byte."""
    pkg = package(root / "pkg", services=SERVICES)
    old = write_csv(root / "old.csv", ["id", "service", "opened_at", "type"],
                    [["OLD-1", "svc-1", "2024-12-01", "request"]])
    import_file("tickets", old, pkg)
    return pkg, snapshot(pkg)


def _work_dirs(pkg: Path) -> list[Path]:
    return [p for p in pkg.iterdir() if p.name.startswith(".dipstick-import-")]


def _start(big: Path, pkg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dipstick", "import", "tickets", str(big),
                             "--into", str(pkg), "--starter-services"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("moment", [0.0, 0.1, 0.35, 0.7, "staged"])
def test_a_killed_import_leaves_the_previous_package_intact(tmp_path: Path, big: Path,
                                                            finished: Finished,
                                                            moment: float | str) -> None:
    """Killed after a delay (that share of a whole import's work on this machine, so a fast
    machine is killed mid-work too: fixed delays of up to 2 s outlived the import there), or
    once the new table is written to the work folder and being validated (the last moment
    before the files are replaced). An import quicker than the measured one (a busy machine
    when it was measured) can end before its delay: then the delay is halved and the import
    run again on a fresh package, so every moment kills work in progress, never skips."""
    for attempt in range(4):
        pkg, before = _previous(tmp_path / f"try{attempt}")
        proc = _start(big, pkg)
        _started(proc, pkg)
        deadline = time.monotonic() + 60
        if isinstance(moment, float):
            time.sleep(moment * finished.seconds / 2**attempt)
        else:
            while not any((w / "out" / "tickets.parquet").exists() for w in _work_dirs(pkg)):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
        if proc.poll() is None:
            break
        assert proc.returncode == 0   # ended before the kill, as a whole import
    else:
        pytest.fail(f"four imports ended before the kill ({moment}): nothing was killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    after = {k: v for k, v in snapshot(pkg).items() if not k.startswith(".dipstick-import-")}
    assert after == before
    loaded = load_package(pkg)
    assert loaded.signals.connection.execute("SELECT id FROM tickets").fetchall() == [("OLD-1",)]
    loaded.close()
    # the next import removes the dead one's work folder and succeeds
    assert _work_dirs(pkg)
    new = write_csv(pkg.parent / "new.csv", ["id", "service", "opened_at", "type"],
                    [["NEW-1", "svc-2", "2025-01-01", "incident"]])
    assert import_file("tickets", new, pkg, ImportOptions()).rows_in_table == 2
    assert not _work_dirs(pkg)


def test_an_import_run_to_the_end_as_a_subprocess_replaces_the_table(
        finished: Finished) -> None:
    """The same command, not killed: the kill tests above do interrupt real work."""
    pkg = finished.pkg
    loaded = load_package(pkg)
    con = loaded.signals.connection
    assert con.execute("SELECT count(*) FROM tickets").fetchone() == (1_000_000,)
    loaded.close()
    assert not _work_dirs(pkg)


def test_two_imports_at_once_keep_both_sets_of_services(tmp_path: Path) -> None:
    """Each import adds its own starter services to dipstick.yaml; run together, the second
    waits for the first (a lock on the package folder) instead of overwriting its services."""
    pkg = package(tmp_path / "pkg")
    tickets = write_csv(tmp_path / "tickets.csv", ["id", "service", "opened_at", "type"],
                        [[f"T{i}", f"Team {i % 7}", "2026-03-01", "incident"]
                         for i in range(20_000)])
    usage = write_csv(tmp_path / "usage.csv", ["date", "service", "active_users"],
                      [[f"2026-03-{d:02d}", f"App {a}", "10"] for d in range(1, 29)
                       for a in range(5)])
    procs = [subprocess.Popen([sys.executable, "-m", "dipstick", "import", kind, str(src),
                               "--into", str(pkg), "--starter-services"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for kind, src in (("tickets", tickets), ("usage", usage))]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    loaded = load_package(pkg)
    ids = {s.id for s in loaded.model.services}
    loaded.close()
    assert {f"team-{i}" for i in range(7)} | {f"app-{a}" for a in range(5)} <= ids
