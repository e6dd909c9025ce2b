"""API keys and rate limiting, as Litestar guards built from `Settings`.

- Writes (`POST`/`DELETE /v1/articles`) need `settings.api_key` when it is set, sent as
  `X-API-Key: <key>` or `Authorization: Bearer <key>`; reads too with
  `settings.require_key_for_reads`. Otherwise 401.
- Every `/v1` request counts against a sliding one-minute window of
  `settings.rate_limit_per_minute` requests per client: the client IP, plus the key when a valid
  one is sent (so key holders behind one NAT don't starve anonymous callers, and vice versa).
  Over the limit: 429 with `Retry-After` (seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler

from qa.settings import Settings

Guard = Callable[[ASGIConnection, BaseRouteHandler], None]
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000  # identities remembered before idle ones are forgotten


def presented_key(connection: ASGIConnection) -> str | None:
    """The API key the client sent: `X-API-Key`, else `Authorization: Bearer`."""
    key = connection.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def key_is_valid(key: str | None, expected: str) -> bool:
    """Constant-time comparison; False when no key is configured or none was sent."""
    return bool(expected) and key is not None and hmac.compare_digest(key.encode(), expected.encode())


class SlidingWindowLimiter:
    """At most `limit` hits per identity in any `window` seconds (in memory, thread-safe)."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, identity: str) -> float | None:
        """Record a hit; None when allowed, else the seconds until the next hit would be."""
        with self._lock:
            now = self._clock()
            hits = self._hits.setdefault(identity, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            if len(self._hits) > MAX_CLIENTS:
                self._forget_idle(now)
            return None

    def _forget_idle(self, now: float) -> None:
        idle = [who for who, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for who in idle:
            del self._hits[who]


@dataclass(frozen=True)
class Guards:
    """The guards of the `/v1` routes."""

    rate_limit: Guard
    read: Guard
    write: Guard


def make_guards(settings: Settings, *, on_limited: Callable[[], None] = lambda: None) -> Guards:
    """Guards enforcing `settings`' API key and rate limit."""
    limiter = SlidingWindowLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    expected = settings.api_key

    def rate_limit(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if limiter is None:
            return
        identity = connection.client.host if connection.client else "unknown"
        key = presented_key(connection)
        if key_is_valid(key, expected):
            identity += "#" + hashlib.sha256(key.encode()).hexdigest()[:16]
        wait = limiter.hit(identity)
        if wait is not None:
            on_limited()
            seconds = max(1, math.ceil(wait))
            raise TooManyRequestsException(
                detail=f"rate limit of {limiter.limit} requests per minute exceeded; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def require_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not expected:
            return
        if not key_is_valid(presented_key(connection), expected):
            raise NotAuthorizedException(
                detail="this endpoint needs the API key: send X-API-Key: <key> or Authorization: Bearer <key>",
                headers={"WWW-Authenticate": 'Bearer realm="qa"'},
            )

    def read(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        if settings.require_key_for_reads:
            require_key(connection, handler)

    return Guards(rate_limit=rate_limit, read=read, write=require_key)


GUARDS_KEY = "guards"


def rate_limited(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: the app's rate limit (on every `/v1` route)."""
    connection.app.state[GUARDS_KEY].rate_limit(connection, handler)


def reads(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: the API key, when `require_key_for_reads` is set."""
    connection.app.state[GUARDS_KEY].read(connection, handler)


def writes(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: the API key, when one is configured."""
    connection.app.state[GUARDS_KEY].write(connection, handler)
