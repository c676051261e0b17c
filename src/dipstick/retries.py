"""The one retry policy for everything dipstick sends over the network: the live pulls
(``connectors/pull``) and the alert notifiers (``alerts/notifiers.py``).

Why one module: both talk to services that throttle and fail the same way, and users must be
able to read how hard dipstick tries in one place (docs/pull.md, docs/alerts.md). The loop is
stamina's (a kept library, on tenacity); this module adds the two rules stamina leaves to us:

* exponential backoff without jitter — ``backoff``, doubled each try, capped at
  ``max_backoff`` — so the waits are the documented ones;
* the server's ``Retry-After`` (delta-seconds or an HTTP date) wins on 429 and 503, the
  answers where RFC 9110 and RFC 6585 give it meaning; a server asking for more than
  ``max_wait`` seconds is given up on at once rather than a run that hangs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import stamina

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP answers worth another try: throttled or a failing server."""
RETRY_AFTER_STATUSES = frozenset({429, 503})
"""HTTP answers whose ``Retry-After`` header is honoured."""

# stamina logs each scheduled retry on the "stamina" logger; without a handler of the
# application's own, Python's last-resort handler would print those to the CLI's stderr.
logging.getLogger("stamina").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is tried. ``attempts`` counts every try (the first included);
    waits double from ``backoff`` up to ``max_backoff`` unless the server says how long with
    ``Retry-After``; ``timeout`` bounds each try (the caller's client applies it)."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_wait: float = 300.0
    timeout: float = 30.0


class Retry(Exception):
    """Raised by an attempt that failed in a way worth another try; ``retry_after`` is the
    server's ``Retry-After`` in seconds when it gave one (see :func:`retry_after`)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class GaveUp(Exception):
    """The retries ended without success: ``attempts`` tries were made, the last failing with
    ``last``; ``too_long`` is the wait the server asked for when that (above ``max_wait``)
    is why."""

    def __init__(self, attempts: int, last: BaseException, too_long: float | None) -> None:
        super().__init__(str(last))
        self.attempts = attempts
        self.last = last
        self.too_long = too_long


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


def retry_after(status: int, headers: Mapping[str, str],
                now: datetime | None = None) -> float | None:
    """The wait an HTTP answer asks for: its ``Retry-After`` on 429 and 503, else none."""
    if status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(headers.get("Retry-After"), now)


def retry_delay(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed try number ``attempt`` (1-based): the server's
    ``Retry-After`` when it gave one, else ``backoff * 2**(attempt-1)`` capped at
    ``max_backoff`` (what stamina computes with the jitter off; kept as a pure function so
    the documented table is tested)."""
    if retry_after is not None:
        return retry_after
    return float(min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1)))


def call(policy: RetryPolicy, attempt: Callable[[], T],
         also_on: tuple[type[Exception], ...] = (),
         on_retry: Callable[[], None] | None = None) -> T:
    """``attempt()`` until it returns, retrying when it raises :class:`Retry` or one of
    ``also_on`` (e.g. dropped connections), at most ``policy.attempts`` tries. Any other
    exception ends the loop unchanged; running out of tries (or a ``Retry-After`` above
    ``max_wait``) raises :class:`GaveUp`. ``on_retry`` runs before each further try."""
    tries = 0
    retryable: tuple[type[Exception], ...] = (Retry, *also_on)

    def wait_for(e: Exception) -> bool | float:
        if isinstance(e, Retry):
            if e.retry_after is None:
                return True                       # the exponential backoff
            return e.retry_after if e.retry_after <= policy.max_wait else False
        return isinstance(e, retryable)

    try:
        for trying in stamina.retry_context(
                on=wait_for, attempts=policy.attempts, timeout=None,
                wait_initial=policy.backoff, wait_max=policy.max_backoff, wait_jitter=0.0,
                wait_exp_base=2):
            with trying:
                tries = trying.num
                if tries > 1 and on_retry is not None:
                    on_retry()
                return attempt()
    except retryable as e:
        too_long = e.retry_after if isinstance(e, Retry) and e.retry_after is not None \
            and e.retry_after > policy.max_wait and tries < policy.attempts else None
        raise GaveUp(tries, e, too_long) from e
    raise AssertionError("unreachable: stamina either returned or raised")
