"""Link tokens and form nonces.

A link token is 256 random bits (``secrets.token_urlsafe(32)``): unguessable, so a fast hash
(SHA-256) is enough to store it — the database alone never gives a working link away. A form
nonce is an HMAC of the token's hash (and, for open links, the browser's cookie) and the time
the form was served: a POST must come from a form this server rendered lately, for this link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

NONCE_MAX_AGE_S = 2 * 3600    # a form left open longer must be reloaded (60 s is the aim)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(key: bytes, issued: int, parts: tuple[str, ...]) -> str:
    msg = "\x1f".join((str(issued), *parts)).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def make_nonce(key: bytes, *parts: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_mac(key, issued, parts)}"


def nonce_ok(key: bytes, nonce: str | None, *parts: str, now: float | None = None,
             max_age: float = NONCE_MAX_AGE_S) -> bool:
    if not nonce or "." not in nonce:
        return False
    stamp, mac = nonce.split(".", 1)
    if not stamp.isdigit():
        return False
    issued = int(stamp)
    age = (time.time() if now is None else now) - issued
    return 0 <= age <= max_age and hmac.compare_digest(mac, _mac(key, issued, parts))
