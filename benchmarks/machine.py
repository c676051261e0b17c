"""What the benchmarks share: a free port, a scratch PostgreSQL schema, the CPU time of
processes from /proc (Linux) and of this one, sources byte-compiled as an install leaves them.
Imported by the scripts beside it (`benchmarks/` is their ``sys.path[0]`` when run as
``python benchmarks/X.py``)."""

from __future__ import annotations

import os
import resource
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """``url`` scoped to a new empty schema (``search_path``), dropped with all in it after.
    Raises what the driver raises when the server cannot be reached."""
    admin = create_engine(url, connect_args={"connect_timeout": 5})
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield make_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def postgres_or_none(url: str) -> Iterator[str | None]:
    """A scratch schema (:func:`postgres_schema`), or None when the server cannot be reached
    (the SQLite numbers still stand)."""
    with ExitStack() as stack:
        try:
            scoped: str | None = stack.enter_context(postgres_schema(url))
        except OperationalError as e:
            print(f"PostgreSQL not reachable ({str(e).splitlines()[0]}): skipped")
            scoped = None
        yield scoped


def _stat(pid: int | str) -> tuple[int, float]:
    """A process's parent and CPU seconds so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def cpu_of(pid: int) -> float:
    """One process's CPU seconds so far."""
    return _stat(pid)[1]


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants alive now."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = _stat(entry)
            except OSError:
                continue
    tree, grew = {root}, True
    while grew:
        more = {p for p, (parent, _) in stats.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(stats[p][1] for p in tree if p in stats)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(what: Callable[[], Any]) -> tuple[Any, float, float]:
    """The value, wall seconds and this process's CPU seconds."""
    t, c = time.perf_counter(), cpu()
    value = what()
    return value, time.perf_counter() - t, cpu() - c


def byte_compiled(*sources: Path | None) -> str:
    """Compile each ``src`` folder's modules (``None``: the imported ``dipstick``'s) to
    ``__pycache__``, as ``pip install`` does, and say so. Why: where ``PYTHONDONTWRITEBYTECODE``
    is set (this project's machines set it) nothing is ever cached, so every timed process
    compiled dipstick's modules from source again — a cost no installed copy pays, and that the
    peers' installed packages (pandas, pm4py) never pay (session 17)."""
    import compileall

    import dipstick

    done = []
    for src in sources:
        folder = Path(dipstick.__file__).parent if src is None else src / "dipstick"
        compileall.compile_dir(folder, quiet=1)
        done.append(str(folder))
    return f"byte-compiled as an install leaves them: {', '.join(done)}"
