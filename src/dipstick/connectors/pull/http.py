"""The one HTTP client the pulls share: credentials from the environment, retries with
exponential backoff on 429, 5xx and dropped connections (honouring ``Retry-After``), and errors
that say what to do.

Why one module: ServiceNow and Jira throttle and fail the same way, and the retry policy is the
part users must be able to read in one place (docs/pull.md). The pure parts (``retry_delay``,
``parse_retry_after``, ``auth_from_env``) are tested without a server; ``Fetcher`` is the thin
I/O edge over httpx.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from dipstick import __version__
from dipstick.errors import DipstickError, UsageError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PullError(DipstickError):
    """The source could not be read to the end (refused credentials, throttled or failing past
    the retry budget, an unreadable answer). Exit 3; nothing was written to the package."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a pull tries before it gives up. ``attempts`` counts every try of one request
    (the first included); waits double from ``backoff`` up to ``max_backoff`` unless the server
    says how long with ``Retry-After``; a server asking for more than ``max_wait`` seconds is an
    error at once rather than a pull that hangs."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_wait: float = 300.0
    timeout: float = 30.0


@dataclass(frozen=True)
class Credentials:
    """One way to sign a request: basic auth or a bearer token, and where it came from."""

    source: str                              # e.g. "SERVICENOW_TOKEN", for messages
    basic: tuple[str, str] | None = None
    bearer: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}

    def auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(*self.basic) if self.basic else None


def auth_from_env(env: Mapping[str, str], token: str, user: str, secret: str) -> Credentials:
    """Credentials from environment variables only (never the command line, where they would
    land in shell history and process lists). A bearer token wins over basic auth; a missing
    variable is a usage error naming it (exit 2)."""
    if env.get(token):
        return Credentials(source=token, bearer=env[token])
    if env.get(user) and env.get(secret):
        return Credentials(source=f"{user}/{secret}", basic=(env[user], env[secret]))
    if env.get(user):
        raise UsageError(f"{secret} is not set: basic auth needs {user} and {secret} "
                         f"(or set {token} for a bearer token)")
    if env.get(secret):
        raise UsageError(f"{user} is not set: basic auth needs {user} and {secret} "
                         f"(or set {token} for a bearer token)")
    raise UsageError(f"no credentials: set {token} (OAuth bearer token) or {user} and {secret} "
                     "(basic auth) in the environment")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: either delta-seconds or an HTTP date (RFC 9110).
    Unreadable values are ignored (the backoff applies), a date in the past means now."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed try number ``attempt`` (1-based): the server's
    ``Retry-After`` when it gave one, else ``backoff * 2**(attempt-1)`` capped at
    ``max_backoff``."""
    if retry_after is not None:
        return retry_after
    return float(min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1)))


def same_origin(a: str, b: str) -> bool:
    """Credentials only go back to the host they were meant for (a ``Link`` to elsewhere is
    not followed)."""
    def origin(url: str) -> tuple[str, str | None, int | None]:
        u = urlsplit(url)
        return u.scheme, u.hostname, u.port or {"https": 443, "http": 80}.get(u.scheme)

    return origin(a) == origin(b)


@dataclass(frozen=True)
class Answer:
    """A response reduced to what the pagers read. It holds no httpx object: httpx responses
    sit in reference cycles until the garbage collector runs, and each kept its page's body
    alive until then — a pull's memory grew with its pages. This one is freed when dropped."""

    url: str
    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    links: dict[Any, dict[str, str]]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _server_message(response: Answer) -> str:
    """The reason the server gave, from ServiceNow's ``{"error": {"message", "detail"}}`` or
    Jira's ``{"errorMessages": [...], "errors": {...}}``, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            parts = [str(error.get(k)) for k in ("message", "detail") if error.get(k)]
            return ": ".join(parts)
        messages = [str(m) for m in body.get("errorMessages") or []]
        messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        if messages:
            return "; ".join(messages)
    return str(body)[:200]


@dataclass
class Fetcher:
    """GET with the retry policy; counts requests and retries for the summary. ``sleep`` is
    ``time.sleep`` (tests keep the server's Retry-After short rather than faking time)."""

    base: str
    credentials: Credentials
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    retries: int = 0
    _client: httpx.Client | None = None

    def __enter__(self) -> Fetcher:
        self._client = httpx.Client(
            auth=self.credentials.auth(),
            headers={"Accept": "application/json",
                     "User-Agent": f"dipstick/{__version__}", **self.credentials.headers()},
            timeout=self.policy.timeout, follow_redirects=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get(self, url: str, params: Mapping[str, str | int] | None = None,
            passthrough: frozenset[int] = frozenset()) -> Answer:
        """One page: a 2xx response (or one whose status the caller handles, in
        ``passthrough``), else a ``PullError`` (401/403, a redirect, exhausted retries) or a
        ``UsageError`` (the server rejected the request itself: 400, 404)."""
        assert self._client is not None, "use Fetcher as a context manager"
        if not same_origin(url, self.base):
            raise PullError(f"the server pointed the next page at {url}, outside {self.base}; "
                            "not following it with your credentials")
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            self.requests += 1
            try:
                with self._client.stream("GET", url, params=params) as streamed:
                    response = Answer(str(streamed.url), streamed.status_code,
                                      streamed.reason_phrase, streamed.headers, streamed.links,
                                      b"".join(streamed.iter_bytes()))   # not kept on it
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
                wait = retry_delay(self.policy, attempt, None)
            else:
                if response.is_success or response.status_code in passthrough:
                    return response
                status = response.status_code
                if status in (401, 403):
                    raise PullError(
                        f"{self.base} refused the credentials from {self.credentials.source} "
                        f"(HTTP {status}: {_server_message(response) or response.reason_phrase})"
                        ": the token or password may have expired or lack read access")
                if response.is_redirect:
                    raise PullError(f"{url} redirected to {response.headers.get('Location')} "
                                    f"(HTTP {status}): a sign-in page or a moved instance? Use "
                                    "the URL the API answers on")
                if status not in RETRY_STATUSES:
                    raise UsageError(f"{url} answered HTTP {status}: "
                                     f"{_server_message(response) or response.reason_phrase}")
                last = f"HTTP {status} {_server_message(response)}".strip()
                wait = retry_delay(self.policy, attempt,
                                   parse_retry_after(response.headers.get("Retry-After")))
            if attempt == self.policy.attempts:
                break
            if wait > self.policy.max_wait:
                raise PullError(f"{self.base} asked to wait {wait:.0f} s before retrying "
                                f"(more than {self.policy.max_wait:.0f} s); last answer: {last}")
            self.retries += 1
            self.sleep(wait)
        raise PullError(f"{self.base} still failing after {self.policy.attempts} attempts "
                        f"(last answer: {last}); nothing was written")

    def json(self, response: Answer) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PullError(f"{response.url} did not answer JSON: "
                            f"{response.text[:120]!r}") from None
