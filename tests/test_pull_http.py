"""The pulls' HTTP client and watermark: pure rules as tables, then retries, throttling and
refused credentials against the local fake ServiceNow (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import pytest

from dipstick.connectors.pull.http import (
    Credentials,
    Fetcher,
    PullError,
    RetryPolicy,
    auth_from_env,
    parse_retry_after,
    retry_delay,
    same_origin,
)
from dipstick.connectors.pull.watermark import (
    read_state,
    source_key,
    start_from,
    state_path,
    write_state,
)
from dipstick.errors import ExitCode, PackageError, UsageError
from fakeservers import FakeServiceNow, Fault, incidents

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=5)
TOKEN = Credentials(source="SERVICENOW_TOKEN", bearer="t0ken")


@pytest.mark.parametrize(("header", "seconds"), [
    ("1", 1.0),
    ("120", 120.0),
    ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0),      # an HTTP date 30 s ahead
    ("Fri, 27 Nov 2026 11:59:00 GMT", 0.0),       # in the past: now
    ("soon", None),                               # unreadable: the backoff applies
    ("", None),
    (None, None),
])
def test_retry_after_is_seconds_or_an_http_date(header: str | None,
                                                seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(("attempt", "retry_after", "wait"), [
    (1, None, 1.0), (2, None, 2.0), (3, None, 4.0), (10, None, 60.0),   # doubling, capped
    (1, 7.0, 7.0), (4, 0.0, 0.0),                                       # the server decides
])
def test_backoff_doubles_unless_the_server_says(attempt: int, retry_after: float | None,
                                                wait: float) -> None:
    assert retry_delay(RetryPolicy(backoff=1.0, max_backoff=60.0), attempt, retry_after) == wait


@pytest.mark.parametrize(("env", "expected"), [
    ({"SERVICENOW_TOKEN": "abc"}, ("SERVICENOW_TOKEN", None, "abc")),
    ({"SERVICENOW_TOKEN": "abc", "SERVICENOW_USER": "u", "SERVICENOW_PASSWORD": "p"},
     ("SERVICENOW_TOKEN", None, "abc")),                                # the token wins
    ({"SERVICENOW_USER": "u", "SERVICENOW_PASSWORD": "p"},
     ("SERVICENOW_USER/SERVICENOW_PASSWORD", ("u", "p"), None)),
])
def test_credentials_come_from_the_environment(env: dict[str, str],
                                               expected: tuple[object, ...]) -> None:
    c = auth_from_env(env, "SERVICENOW_TOKEN", "SERVICENOW_USER", "SERVICENOW_PASSWORD")
    assert (c.source, c.basic, c.bearer) == expected


@pytest.mark.parametrize(("env", "named"), [
    ({}, "SERVICENOW_TOKEN"),
    ({"SERVICENOW_USER": "u"}, "SERVICENOW_PASSWORD is not set"),
    ({"SERVICENOW_PASSWORD": "p"}, "SERVICENOW_USER is not set"),
    ({"SERVICENOW_TOKEN": ""}, "SERVICENOW_TOKEN"),
])
def test_missing_credentials_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(UsageError, match=named) as e:
        auth_from_env(env, "SERVICENOW_TOKEN", "SERVICENOW_USER", "SERVICENOW_PASSWORD")
    assert e.value.exit_code == ExitCode.BAD_INPUT


def test_credentials_go_back_only_to_their_host() -> None:
    assert same_origin("https://acme.service-now.com/api/now/table/incident?x=1",
                       "https://ACME.service-now.com")
    assert same_origin("https://acme.service-now.com:443/api", "https://acme.service-now.com")
    assert not same_origin("https://evil.example/api", "https://acme.service-now.com")
    assert not same_origin("https://acme.service-now.com.evil.example/",
                           "https://acme.service-now.com")
    assert not same_origin("https://acme.service-now.com:8443/", "https://acme.service-now.com")
    assert not same_origin("http://acme.service-now.com/", "https://acme.service-now.com")


@pytest.mark.parametrize(("since", "watermark", "start"), [
    (datetime(2016, 1, 1), None, datetime(2016, 1, 1)),                       # first pull
    (datetime(2016, 1, 1), datetime(2016, 3, 1, 12), datetime(2016, 3, 1, 11, 55)),  # resume
    (None, datetime(2016, 3, 1, 12), datetime(2016, 3, 1, 11, 55)),
    (datetime(2016, 3, 1, 11, 58), datetime(2016, 3, 1, 12), datetime(2016, 3, 1, 11, 58)),
    (None, None, None),                                                       # ask --since
])
def test_a_pull_resumes_from_the_watermark_minus_the_overlap(
        since: datetime | None, watermark: datetime | None, start: datetime | None) -> None:
    assert start_from(since, watermark, timedelta(minutes=5)) == start


def test_watermarks_are_per_source_never_go_back_and_written_atomically(tmp_path: Path) -> None:
    a = source_key("servicenow", "https://acme.service-now.com/", "incident")
    b = source_key("servicenow", "https://acme.service-now.com", "problem")
    assert read_state(tmp_path, a) is None
    write_state(tmp_path, a, "2016-03-01 12:00:00", 10, now=NOW)
    write_state(tmp_path, b, "2016-02-01 00:00:00", 3, now=NOW)
    write_state(tmp_path, a, None, 0, now=NOW)          # nothing new: the watermark stays
    assert read_state(tmp_path, a) == {"watermark": "2016-03-01 12:00:00",
                                       "pulled_at": "2026-11-27T12:00:00+00:00", "records": 0}
    assert read_state(tmp_path, b)["watermark"] == "2016-02-01 00:00:00"  # type: ignore[index]
    write_state(tmp_path, a, "2016-02-01 00:00:00", 4, now=NOW)   # a slower pull, older
    assert read_state(tmp_path, a)["watermark"] == "2016-03-01 12:00:00"  # type: ignore[index]
    assert json.loads(state_path(tmp_path).read_text())["version"] == 1
    assert [p.name for p in state_path(tmp_path).parent.iterdir()] == ["pull-state.json"]


def test_an_unreadable_state_file_is_named(tmp_path: Path) -> None:
    state_path(tmp_path).parent.mkdir()
    state_path(tmp_path).write_text("{not json")
    with pytest.raises(PackageError, match=r"pull-state\.json"):
        read_state(tmp_path, "servicenow x incident")


# --- against the fake server -------------------------------------------------------------

def _get(sn: FakeServiceNow, policy: RetryPolicy = FAST,
         credentials: Credentials = TOKEN) -> tuple[Fetcher, object]:
    with Fetcher(sn.url, credentials, policy) as f:
        response = f.get(f"{sn.url}/api/now/table/incident", {"sysparm_limit": 5})
        return f, response.json()


@pytest.fixture(scope="module")
def records() -> list[dict[str, tuple[str, str]]]:
    return incidents(20)


def test_a_throttled_request_waits_as_long_as_retry_after_says(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        sn.faults[1] = Fault(429, {"Retry-After": "1"})
        began = time.monotonic()
        fetcher, body = _get(sn, RetryPolicy(attempts=3, backoff=0.01))
        waited = time.monotonic() - began
    assert 1.0 <= waited < 5.0                       # Retry-After, not the 0.01 s backoff
    assert (fetcher.requests, fetcher.retries) == (2, 1)
    assert len(body["result"]) == 5                  # type: ignore[index]


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_date_is_honoured_as_the_server_sees_it(records: list, status: int) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        # an HTTP date is whole seconds: three ahead leaves more than one when it is read
        sn.faults[1] = Fault(status, {"Retry-After": formatdate(time.time() + 3, usegmt=True)})
        fetcher, _ = _get(sn, RetryPolicy(attempts=3, backoff=0.01))
    assert sn.requests[1].at - sn.requests[0].at >= 1.0   # not the 0.01 s backoff
    assert (fetcher.requests, fetcher.retries) == (2, 1)


def test_a_server_error_is_retried_until_it_recovers(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn:
        sn.faults[1] = Fault(500)
        sn.faults[2] = Fault(503)
        fetcher, _ = _get(sn)
    assert (fetcher.requests, fetcher.retries) == (3, 2)


def test_a_server_that_never_recovers_is_an_error_after_the_attempts(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn, pytest.raises(PullError) as e:
        sn.fail_always = Fault(500)
        _get(sn)
    assert len(sn.requests) == 3
    assert "still failing after 3 attempts" in str(e.value) and "HTTP 500" in str(e.value)
    assert e.value.exit_code == ExitCode.FAILURE


def test_a_server_asking_for_too_long_a_wait_is_an_error_at_once(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn, pytest.raises(PullError, match="3600"):
        sn.fail_always = Fault(429, {"Retry-After": "3600"})
        _get(sn, RetryPolicy(attempts=5, max_wait=60))
    assert len(sn.requests) == 1


def test_an_expired_token_is_refused_without_retrying(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn, pytest.raises(PullError) as e:
        sn.expired = True
        _get(sn)
    assert len(sn.requests) == 1
    assert "HTTP 401" in str(e.value) and "SERVICENOW_TOKEN" in str(e.value)
    assert "User Not Authenticated" in str(e.value) and "t0ken" not in str(e.value)


def test_basic_auth_is_sent(records: list) -> None:
    with FakeServiceNow(records, user="admin", password="pw") as sn:
        _get(sn, credentials=Credentials(source="u/p", basic=("admin", "pw")))
        assert sn.requests[0].authorization.startswith("Basic ")  # type: ignore[union-attr]


def test_a_rejected_request_is_bad_input_with_the_servers_reason(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn, \
            Fetcher(sn.url, TOKEN, FAST) as f, pytest.raises(UsageError, match="Invalid table"):
        f.get(f"{sn.url}/api/now/table/nope")
    assert len(sn.requests) == 1


def test_a_dropped_connection_is_retried_then_an_error() -> None:
    with FakeServiceNow([], token="t0ken") as sn:
        url = sn.url
    with Fetcher(url, TOKEN, FAST) as f, pytest.raises(PullError, match="3 attempts"):
        f.get(f"{url}/api/now/table/incident")     # the server is gone: connection refused
    assert (f.requests, f.retries) == (3, 2)


def test_a_next_page_on_another_host_is_not_followed(records: list) -> None:
    with FakeServiceNow(records, token="t0ken") as sn, \
            Fetcher(sn.url, TOKEN, FAST) as f, pytest.raises(PullError, match="outside"):
        f.get("http://elsewhere.example/api/now/table/incident")
    assert sn.requests == []


def test_a_redirect_to_a_sign_in_page_is_an_error_not_followed() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class SignIn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "https://sso.example/login")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SignIn)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Fetcher(url, TOKEN, FAST) as f, pytest.raises(PullError, match=r"sso\.example"):
            f.get(f"{url}/api/now/table/incident")
    finally:
        server.shutdown()
        server.server_close()
