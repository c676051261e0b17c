"""Load benchmark of the pulse form: 1,000 concurrent submissions on loopback against a real
server (`dipstick serve`, its own processes) → exactly 1,000 stored answers, 0 lost, 0 server
errors; then a crash (SIGKILL of every server process) in the middle of a second wave: every
acknowledged answer must be stored.

    .venv/bin/python benchmarks/pulse_load.py                       # SQLite (a temp file)
    .venv/bin/python benchmarks/pulse_load.py --backend postgres    # PostgreSQL, own schema
    .venv/bin/python benchmarks/pulse_load.py --workers 1           # one server process

Each submission is what a phone does: GET the form (its nonce), then POST the answer, each on
its own connection. The GETs happen first; then all POSTs are fired at once and timed
(throughput, p50, p95). The client shares the machine's cores with the server, so it is a
bare asyncio HTTP/1.1 client (no HTTP library: httpx spent ~2.7 ms of CPU per request, more
than the server), its ceiling is measured in the same run against a trivial endpoint, and the
CPU time of client and server is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

from dipstick.model import ValueModel
from dipstick.pulse import campaigns as repo
from dipstick.pulse.tokens import digest
from dipstick.store import Store
from dipstick.store.pulse_tables import PulseAnswer, PulseInvitation
from machine import HOST, free_port, postgres_schema, tree_cpu

NONCE = re.compile(rb'name="nonce" value="([^"]+)"')
PG = os.environ.get("DIPSTICK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MODEL = ValueModel.model_validate({
    "organisation": {"name": "Load test"},
    "stakeholder_groups": [{"id": "staff", "name": "Staff", "kind": "internal",
                            "value_dimensions": [{"id": "time_saved", "name": "Time saved"},
                                                 {"id": "reliability", "name": "Reliability"},
                                                 {"id": "ease", "name": "Ease of use"}]}],
    "services": [{"id": "mail", "name": "Mail", "lifecycle": "live", "consumers": ["staff"]}],
})
# the trivial endpoint: answers every request with a fixed 200 and closes (the client's ceiling)
TRIVIAL = """
import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        head, sep, body = self.buf.partition(b"\\r\\n\\r\\n")
        if not sep: return
        n = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0]) \
            if b"content-length:" in head.lower() else 0
        if len(body) >= n:
            self.t.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n"
                         b"connection: close\\r\\n\\r\\nok")
            self.t.close()
async def main():
    loop = asyncio.get_running_loop()
    s = await loop.create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await s.serve_forever()
asyncio.run(main())
"""


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'load.db'}"
        return
    with postgres_schema(PG) as url:
        yield url


# --- a bare HTTP/1.1 client: one connection per request, as phones do ------------------------

class _Exchange(asyncio.Protocol):
    def __init__(self, raw: bytes, done: asyncio.Future[bytes]) -> None:
        self.raw, self.done, self.parts = raw, done, list[bytes]()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.raw)      # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.parts.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None or not self.parts:
                self.done.set_exception(exc or ConnectionResetError("closed without answer"))
            else:
                self.done.set_result(b"".join(self.parts))


async def exchange(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send one request (``Connection: close``), read the response to EOF: (status, bytes)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    await loop.create_connection(lambda: _Exchange(raw, done), HOST, port)
    data = await done
    return int(data[9:12]), data


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n".encode()


def post(path: str, fields: dict[str, str]) -> bytes:
    body = urlencode(fields).encode()
    return (f"POST {path} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n"
            "content-type: application/x-www-form-urlencoded\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def answer_fields(i: int, nonce: str) -> dict[str, str]:
    return {"dim:time_saved": str(i % 11), "dim:reliability": str((i * 3) % 11),
            "dim:ease": str((i * 7) % 11), "recommend": str(i % 11), "nonce": nonce,
            "comment": f"answer {i}" if i % 4 == 0 else ""}


# --- processes and their CPU time ------------------------------------------------------------



@contextmanager
def process(argv: list[str], port: int, ready: str, env: dict[str, str] | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own session (so a crash can kill every worker at once), ready when
    ``ready`` answers."""
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            asyncio.run(exchange(port, get(ready)))
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[:4]} did not start") from None
            time.sleep(0.2)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def serve(url: str, workers: int) -> tuple[list[str], int, dict[str, str]]:
    port = free_port()
    return ([sys.executable, "-m", "dipstick", "serve", "--database", url, "--port", str(port),
             "--no-uploads", "--workers", str(workers)], port,
            {"DIPSTICK_SECRET_KEY": "bench-secret-key"})


# --- the waves -------------------------------------------------------------------------------

def make_links(url: str, n: int) -> tuple[int, list[str]]:
    with Store.open(url) as store:
        store.migrate()
        c = repo.start_campaign(store, MODEL, "mail", created_by="bench")
        return c.id, [x.token for x in repo.add_invitations(store, c, [(None, "staff")] * n)]


def stored(url: str, campaign_id: int, acked: list[str] | None = None) -> tuple[int, int, int]:
    """(answers, invitations used, acknowledged links whose invitation is not used)."""
    with Store.open(url) as store, store.engine.connect() as conn:
        answers = conn.execute(select(func.count()).select_from(PulseAnswer)
                               .where(PulseAnswer.campaign_id == campaign_id)).scalar_one()
        used = set(conn.execute(select(PulseInvitation.token_hash).where(
            PulseInvitation.campaign_id == campaign_id, PulseInvitation.answered)).scalars())
    return int(answers), len(used), sum(1 for t in acked or [] if digest(t) not in used)


async def forms(port: int, tokens: list[str]) -> list[tuple[str, str]]:
    """(path, nonce) per link: the GET a phone does before answering (100 at a time)."""
    limit = asyncio.Semaphore(100)

    async def one(token: str) -> tuple[str, str]:
        async with limit:
            status, data = await exchange(port, get(f"/p/{token}"))
            found = NONCE.search(data)
            assert status == 200 and found, status
            return f"/p/{token}", found.group(1).decode()
    return await asyncio.gather(*(one(t) for t in tokens))


async def fire(port: int, requests: list[bytes], on_ack: Callable[[int], None] | None = None
               ) -> tuple[list[int | str], list[float], float]:
    """Every request at once: status (or the error's name) and latency of each, wall time."""
    acked = 0

    async def one(raw: bytes) -> tuple[int | str, float]:
        nonlocal acked
        t0 = time.perf_counter()
        try:
            status, _ = await exchange(port, raw)
        except OSError as e:
            return type(e).__name__, time.perf_counter() - t0
        if status == 200:
            acked += 1
            if on_ack is not None:
                on_ack(acked)
        return status, time.perf_counter() - t0

    t0 = time.perf_counter()
    done = await asyncio.gather(*(one(r) for r in requests))
    return [s for s, _ in done], [t for _, t in done], time.perf_counter() - t0


def client_ceiling(n: int) -> tuple[float, float]:
    """Answers/s and client CPU s when the server does nothing (a trivial endpoint)."""
    port = free_port()
    with process([sys.executable, "-c", TRIVIAL, str(port)], port, "/"):
        requests = [post(f"/p/{i}", answer_fields(i, "x" * 43)) for i in range(n)]
        c0 = time.process_time()
        codes, _, wall = asyncio.run(fire(port, requests))
        cpu = time.process_time() - c0
    assert codes.count(200) == n, sorted(set(map(str, codes)))
    return n / wall, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--workers", type=int, default=2, help="server processes (dipstick serve)")
    p.add_argument("-n", type=int, default=1000)
    args = p.parse_args()
    n = args.n
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (1 min) at start"
          f"{' — busy: read the CPU times and ratios' if load > 2 else ''}")
    ceiling, ceiling_cpu = client_ceiling(n)
    print(f"client ceiling (trivial endpoint, same run): {ceiling:.0f} requests/s, client CPU "
          f"{ceiling_cpu:.2f} s for {n}")
    with database(args.backend) as url:
        campaign, tokens = make_links(url, n)
        crash_campaign, crash_tokens = make_links(url, n)
        argv, port, env = serve(url, args.workers)
        with process(argv, port, "/login", env) as proc:
            pages = asyncio.run(forms(port, tokens))
            requests = [post(path, answer_fields(i, nonce))
                        for i, (path, nonce) in enumerate(pages)]
            s0, c0 = tree_cpu(proc.pid), time.process_time()
            codes, latencies, wall = asyncio.run(fire(port, requests))
            server_cpu, client_cpu = tree_cpu(proc.pid) - s0, time.process_time() - c0
        answers, used, _ = stored(url, campaign)
        ok = sum(1 for c in codes if c == 200)
        errors = sum(1 for c in codes if isinstance(c, int) and c >= 500)
        other = sorted({str(c) for c in codes if c != 200})
        q = statistics.quantiles(latencies, n=100)
        print(f"backend {args.backend}, {args.workers} server worker(s): {n} concurrent "
              "submissions on loopback")
        print(f"  200 answers     {ok}   5xx {errors}   other {other or 'none'}")
        print(f"  stored answers  {answers}   invitations used {used}   lost {ok - answers}")
        print(f"  wall {wall:.2f} s   throughput {n / wall:.0f} answers/s   "
              f"p50 {q[49] * 1000:.0f} ms   p95 {q[94] * 1000:.0f} ms   "
              f"max {max(latencies) * 1000:.0f} ms")
        print(f"  CPU: server {server_cpu:.2f} s ({server_cpu / n * 1000:.2f} ms/answer), "
              f"client {client_cpu:.2f} s ({client_cpu / n * 1000:.2f} ms/answer)")
        cores = os.cpu_count() or 1
        cpu_bound = cores * n / (server_cpu + client_cpu)
        print(f"  derived CPU ceiling on {cores} free cores: {cpu_bound:.0f} answers/s (server "
              "+ client CPU; the database server's own CPU not counted)")

        # a crash in the middle: every server process SIGKILLed after the n/2-th 200
        argv, port, env = serve(url, args.workers)
        with process(argv, port, "/login", env) as proc:
            pages = asyncio.run(forms(port, crash_tokens))
            requests = [post(path, answer_fields(i, nonce))
                        for i, (path, nonce) in enumerate(pages)]

            def crash(acked: int) -> None:
                if acked == n // 2:
                    os.killpg(proc.pid, signal.SIGKILL)     # with requests in flight
            codes2, _, _ = asyncio.run(fire(port, requests, on_ack=crash))
        acked_links = [t for t, c in zip(crash_tokens, codes2, strict=True) if c == 200]
        kept, used2, missing = stored(url, crash_campaign, acked_links)
        print(f"  crash test: every server process killed after {n // 2} acks; acknowledged "
              f"{len(acked_links)}, stored {kept}, invitations used {used2}; acknowledged but "
              f"lost {missing}")
        good = (ok == n and answers == n and used == n and errors == 0 and missing == 0
                and kept == used2 and kept >= len(acked_links))
        print("  RESULT", "PASS" if good else "FAIL")
        sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
