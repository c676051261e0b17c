"""Throttles and proxies (issue 17, part A): how much the failure throttles remember, and
whom ``dipstick serve`` believes about a client's address (each proxy test runs the server as
an operator starts it: its own process, a fresh database).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from dipstick.web.auth import Throttle
from dipstick.web.pulse_form import FAILURES

from clirun import dipstick
from local import free_port
from webserver import SECRET, csrf_of

# --- the throttles' memory --------------------------------------------------------------------

class Clock:
    """A monotonic clock the test moves (the throttle's window, without waiting it out)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_throttle_stays_under_its_cap_and_forgets_expired_keys() -> None:
    """Issue 17: the throttle never forgot a key (RSS 295 → 312 MB over 40,000 random pulse
    links). Now at most ``max_keys`` are kept, the least recently used going first, and a
    key whose failures left the window is gone."""
    clock = Clock()
    throttle = Throttle({"ip": 3, "token": 3}, window=900.0, max_keys=1000, clock=clock)
    for k in range(40_000):
        assert throttle.retry_after(f"token:{k}") == 0
        throttle.fail(f"token:{k}")
        assert len(throttle) <= 1000
    # the most recent keys are kept and still count
    throttle.fail("token:39999", "token:39999")
    assert throttle.retry_after("token:39999") > 0
    assert throttle.retry_after("token:0") == 0          # dropped: least recently used
    # asking about keys that never failed stores nothing
    size = len(throttle)
    for k in range(5000):
        throttle.retry_after(f"ip:{k}", f"token:never-{k}")
    assert len(throttle) == size
    # past the window every key expires: one more failure sweeps them
    clock.now += 901
    assert throttle.retry_after("token:39999") == 0
    throttle.fail("ip:b")
    assert len(throttle) == 1


def test_a_locked_key_stays_locked_while_others_flood_in() -> None:
    clock = Clock()
    throttle = Throttle({"ip": 30, "token": 10}, max_keys=100, clock=clock)
    for _ in range(10):
        throttle.fail("token:victim")
    for k in range(50):                      # fewer than the cap: the lock holds
        throttle.fail(f"token:{k}")
    assert throttle.retry_after("token:victim") > 800


# --- proxy headers: believed only from the addresses named -------------------------------------

@contextmanager
def dipstick_serve(folder: Path, *options: str) -> Iterator[str]:
    """``dipstick serve`` as an operator starts it (its own process, a fresh database); its
    URL once it answers."""
    port = free_port()
    env = os.environ | {"DIPSTICK_SECRET_KEY": SECRET}
    env.pop("FORWARDED_ALLOW_IPS", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "dipstick", "serve", "--port", str(port), "--no-uploads",
         "--database", f"sqlite:///{folder / 'app.db'}", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:      # no event to wait on: polled, with a deadline for a failure
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                httpx.get(f"{url}/login", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "dipstick serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _guesses(http: httpx.Client, n: int, forwarded: list[str]) -> list[int]:
    """``n`` GETs of unknown pulse links, the k-th claiming to come from ``forwarded[k]``."""
    return [http.get(f"/p/{secrets.token_urlsafe(16)}",
                     headers={"X-Forwarded-For": forwarded[k % len(forwarded)]}).status_code
            for k in range(n)]


def test_rotating_forwarded_headers_do_not_escape_the_throttles(tmp_path: Path) -> None:
    """Issue 17: uvicorn believed X-Forwarded-For from 127.0.0.1, so 40 failed logins and 65
    pulse guesses with a new header each were never throttled. By default no proxy is
    believed: the connecting address is the client's, whatever the header says."""
    rotating = [f"10.1.{k // 250}.{k % 250}" for k in range(100)]
    with dipstick_serve(tmp_path) as url, httpx.Client(base_url=url, timeout=60) as http:
        codes = _guesses(http, FAILURES["ip"] + 1, rotating)
        assert codes == [404] * FAILURES["ip"] + [429]
        codes = []
        for k in range(31):
            token = csrf_of(http.get("/login").text)
            codes.append(http.post("/login", data={
                "email": f"nobody{k}@example.org", "password": "wrong password!",
                "csrf_token": token}, headers={"X-Forwarded-For": rotating[k]}).status_code)
        assert codes == [401] * 30 + [429]


def test_forwarded_allow_ips_names_the_proxy_whose_header_counts(tmp_path: Path) -> None:
    with dipstick_serve(tmp_path, "--forwarded-allow-ips", "127.0.0.1") as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        assert _guesses(http, FAILURES["ip"], ["10.0.0.1"]) == [404] * FAILURES["ip"]
        assert _guesses(http, 1, ["10.0.0.1"]) == [429]      # that client is locked out
        assert _guesses(http, 1, ["10.0.0.2"]) == [404]      # another behind the proxy is not


def test_several_workers_believe_no_proxy_either(tmp_path: Path) -> None:
    """``--workers``: the same default in every worker process (web/workers.py). Throttles
    count per worker, so 2 × the limit + 1 guesses reach a 429 in one of them at the latest."""
    rotating = [f"10.2.{k // 250}.{k % 250}" for k in range(200)]
    with dipstick_serve(tmp_path, "--workers", "2") as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        assert 429 in _guesses(http, 2 * FAILURES["ip"] + 1, rotating)


def test_serve_refuses_a_base_url_that_is_not_a_url(tmp_path: Path) -> None:
    ran = dipstick("serve", "--base-url", "evil.example", "--no-uploads",
                   "--database", f"sqlite:///{tmp_path / 'app.db'}")
    assert ran.returncode == 2 and "--base-url" in ran.stderr
