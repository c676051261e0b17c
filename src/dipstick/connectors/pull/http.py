"""The one HTTP client the pulls share: credentials from the environment, retries with
exponential backoff on 429, 5xx and dropped connections (honouring ``Retry-After``), and errors
that say what to do.

Why one module: ServiceNow and Jira throttle and fail the same way. The retry policy itself
lives in :mod:`dipstick.retries`, shared with the alert notifiers; it is re-exported here for
the pulls' callers. The pure parts (``auth_from_env``, ``same_origin``) are tested without a
server; ``Fetcher`` is the thin I/O edge over httpx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from dipstick import __version__
from dipstick.errors import DipstickError, UsageError
from dipstick.retries import (
    RETRY_STATUSES,
    GaveUp,
    Retry,
    RetryPolicy,
    parse_retry_after,
    retry_after,
    retry_delay,
)
from dipstick.retries import call as call_with_retries

__all__ = ["RETRY_STATUSES", "Answer", "Credentials", "Fetcher", "PullError", "RetryPolicy",
           "auth_from_env", "parse_retry_after", "retry_delay", "same_origin"]

class PullError(DipstickError):
    """The source could not be read to the end (refused credentials, throttled or failing past
    the retry budget, an unreadable answer). Exit 3; nothing was written to the package."""


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
    """GET with the shared retry policy (:mod:`dipstick.retries`); counts requests and
    retries for the summary. Waits are real: tests keep the server's Retry-After short rather
    than faking time."""

    base: str
    credentials: Credentials
    policy: RetryPolicy = field(default_factory=RetryPolicy)
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
        client = self._client
        assert client is not None, "use Fetcher as a context manager"
        if not same_origin(url, self.base):
            raise PullError(f"the server pointed the next page at {url}, outside {self.base}; "
                            "not following it with your credentials")

        def attempt() -> Answer:
            self.requests += 1
            try:
                with client.stream("GET", url, params=params) as streamed:
                    response = Answer(str(streamed.url), streamed.status_code,
                                      streamed.reason_phrase, streamed.headers, streamed.links,
                                      b"".join(streamed.iter_bytes()))   # not kept on it
            except httpx.TransportError as e:
                raise Retry(f"{type(e).__name__}: {e}") from e
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
            raise Retry(f"HTTP {status} {_server_message(response)}".strip(),
                        retry_after(status, response.headers))

        def retried() -> None:
            self.retries += 1

        try:
            return call_with_retries(self.policy, attempt, on_retry=retried)
        except GaveUp as e:
            if e.too_long is not None:
                raise PullError(
                    f"{self.base} asked to wait {e.too_long:.0f} s before retrying (more than "
                    f"{self.policy.max_wait:.0f} s); last answer: {e.last}") from None
            raise PullError(f"{self.base} still failing after {e.attempts} attempts "
                            f"(last answer: {e.last}); nothing was written") from None

    def json(self, response: Answer) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PullError(f"{response.url} did not answer JSON: "
                            f"{response.text[:120]!r}") from None
