"""Load benchmark of the pulse form: 1,000 concurrent submissions on loopback against a real
uvicorn server (its own process) → exactly 1,000 stored answers, 0 lost, 0 server errors; then
a crash (SIGKILL) in the middle of a second wave: every acknowledged answer must be stored.

    .venv/bin/python benchmarks/pulse_load.py                       # SQLite (a temp file)
    .venv/bin/python benchmarks/pulse_load.py --backend postgres    # PostgreSQL, own schema

Each submission is what a phone does: GET the form (its nonce), then POST the answer. The
GETs happen first; then all POSTs are fired at once and timed (throughput, p50, p95).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, make_url, select, text

from dipstick.model import ValueModel
from dipstick.pulse import campaigns as repo
from dipstick.store import Store
from dipstick.store.pulse_tables import PulseAnswer, PulseInvitation

NONCE = re.compile(r'name="nonce" value="([^"]+)"')
PG = os.environ.get("DIPSTICK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MODEL = ValueModel.model_validate({
    "organisation": {"name": "Load test"},
    "stakeholder_groups": [{"id": "staff", "name": "Staff", "kind": "internal",
                            "value_dimensions": [{"id": "time_saved", "name": "Time saved"},
                                                 {"id": "reliability", "name": "Reliability"},
                                                 {"id": "ease", "name": "Ease of use"}]}],
    "services": [{"id": "mail", "name": "Mail", "lifecycle": "live", "consumers": ["staff"]}],
})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'load.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(PG).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def server(url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The web app under uvicorn in its own process (one worker, as `dipstick serve`)."""
    port = free_port()
    code = ("import uvicorn; from dipstick.web.app import WebConfig, create_app; "
            f"uvicorn.run(create_app(WebConfig(database={url!r}, secret_key='bench')), "
            f"host='127.0.0.1', port={port}, log_level='warning', backlog=4096)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/login", timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)
    try:
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def make_links(url: str, n: int) -> tuple[int, list[str]]:
    with Store.open(url) as store:
        store.migrate()
        c = repo.start_campaign(store, MODEL, "mail", created_by="bench")
        return c.id, [x.token for x in repo.add_invitations(store, c, [(None, "staff")] * n)]


def stored(url: str, campaign_id: int) -> tuple[int, int]:
    with Store.open(url) as store, store.engine.connect() as conn:
        answers = conn.execute(select(func.count()).select_from(PulseAnswer)
                               .where(PulseAnswer.campaign_id == campaign_id)).scalar_one()
        used = conn.execute(select(func.count()).select_from(PulseInvitation)
                            .where(PulseInvitation.campaign_id == campaign_id,
                                   PulseInvitation.answered)).scalar_one()
    return int(answers), int(used)


async def forms(base: str, tokens: list[str]) -> list[tuple[str, str]]:
    """(url, nonce) per link: the GET a phone does before answering (100 at a time)."""
    limit = asyncio.Semaphore(100)
    async with httpx.AsyncClient(timeout=120) as http:
        async def one(token: str) -> tuple[str, str]:
            async with limit:
                r = await http.get(f"{base}/p/{token}")
                found = NONCE.search(r.text)
                assert r.status_code == 200 and found, r.status_code
                return f"{base}/p/{token}", found.group(1)
        return await asyncio.gather(*(one(t) for t in tokens))


async def submit_all(pages: list[tuple[str, str]], on_ack: int | None = None,
                     kill: subprocess.Popen[bytes] | None = None
                     ) -> tuple[list[int | str], list[float], float]:
    """Every POST at once; status (or the error's name) and latency of each, wall time."""
    limits = httpx.Limits(max_connections=len(pages), max_keepalive_connections=0)
    acked = 0
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        async def one(i: int, url: str, nonce: str) -> tuple[int | str, float]:
            nonlocal acked
            data = {"dim:time_saved": str(i % 11), "dim:reliability": str((i * 3) % 11),
                    "dim:ease": str((i * 7) % 11), "recommend": str(i % 11), "nonce": nonce,
                    "comment": f"answer {i}" if i % 4 == 0 else ""}
            t0 = time.perf_counter()
            try:
                r = await http.post(url, data=data)
            except httpx.HTTPError as e:
                return type(e).__name__, time.perf_counter() - t0
            if r.status_code == 200:
                acked += 1
                if kill is not None and on_ack is not None and acked == on_ack:
                    kill.send_signal(signal.SIGKILL)     # crash with requests in flight
            return r.status_code, time.perf_counter() - t0

        t0 = time.perf_counter()
        done = await asyncio.gather(*(one(i, u, n) for i, (u, n) in enumerate(pages)))
        wall = time.perf_counter() - t0
    return [s for s, _ in done], [t for _, t in done], wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("-n", type=int, default=1000)
    args = p.parse_args()
    n = args.n
    with database(args.backend) as url:
        campaign, tokens = make_links(url, n)
        crash_campaign, crash_tokens = make_links(url, n)
        with server(url) as (base, _):
            pages = asyncio.run(forms(base, tokens))
            codes, latencies, wall = asyncio.run(submit_all(pages))
        answers, used = stored(url, campaign)
        ok = sum(1 for c in codes if c == 200)
        errors = sum(1 for c in codes if isinstance(c, int) and c >= 500)
        other = sorted({str(c) for c in codes if c != 200})
        q = statistics.quantiles(latencies, n=100)
        print(f"backend {args.backend}: {n} concurrent submissions on loopback")
        print(f"  200 answers     {ok}   5xx {errors}   other {other or 'none'}")
        print(f"  stored answers  {answers}   invitations used {used}   lost "
              f"{ok - answers}")
        print(f"  wall {wall:.2f} s   throughput {n / wall:.0f} answers/s   "
              f"p50 {q[49] * 1000:.0f} ms   p95 {q[94] * 1000:.0f} ms   "
              f"max {max(latencies) * 1000:.0f} ms")

        # a crash in the middle: SIGKILL after half the answers were acknowledged
        with server(url) as (base, proc):
            pages = asyncio.run(forms(base, crash_tokens))
            codes2, _, _ = asyncio.run(submit_all(pages, on_ack=n // 2, kill=proc))
        acked = sum(1 for c in codes2 if c == 200)
        kept, used2 = stored(url, crash_campaign)
        print(f"  crash test: server killed after {n // 2} acks; acknowledged {acked}, "
              f"stored {kept}, invitations used {used2}; acknowledged but lost "
              f"{max(0, acked - kept)}")
        good = (ok == n and answers == n and used == n and errors == 0 and kept >= acked
                and kept == used2)
        print("  RESULT", "PASS" if good else "FAIL")
        sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
