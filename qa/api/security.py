"""API keys, cross-site request checks and rate limiting: `AccessGuard`, the one Litestar guard,
built from `Settings`, applies them as each route handler's `opt` asks (`access("read")` ...).

- Writes (`POST`/`DELETE /v1/articles`) need `settings.api_key` when it is set, sent as
  `X-API-Key: <key>` or `Authorization: Bearer <key>`; reads (and `/metrics`) too with
  `settings.require_key_for_reads`. Otherwise 401. Without a key, writes are refused (403) unless
  the service listens on loopback only or `settings.open_writes` says anyone may write.
- Every unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`) whose `Origin` is neither this service
  nor one of `settings.cors_origins` is refused (403), and a body that is not
  `application/json` too (415): CORS only hides responses, it does not stop a page from sending a
  simple request, so this is what keeps other sites from writing (CSRF), loopback included.
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
from typing import Any, Literal, TypedDict

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from qa.settings import Settings

Access = Literal["public", "read", "write"]
ACCESS = "access"  # handler opt: who may call it
RATE_LIMITED = "rate_limited"  # router opt: requests count against the client's window
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000  # identities remembered before idle ones are forgotten
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def access(level: Access) -> dict[str, Any]:
    """A handler's `opt` for `AccessGuard`: "read" needs the key with `require_key_for_reads`,
    "write" needs the key (or open writes), "public" needs nothing."""
    return {ACCESS: level}


class UnsupportedMediaType(HTTPException):
    """415: the body of a write is not JSON."""

    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE


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


def is_json(content_type: str) -> bool:
    """`application/json` or `application/<something>+json`, with any parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def origin_allowed(origin: str, hosts: list[str], allowed: tuple[str, ...]) -> bool:
    """True for this service's own origin (a `Host` it was reached at) or an allowed one."""
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    _, sep, netloc = origin.partition("://")
    return bool(sep) and netloc.rstrip("/").lower() in {host.strip().lower() for host in hosts}


def write_policy(settings: Settings) -> str:
    """Who may write, in words (for the startup message and the 403)."""
    if settings.api_key:
        return "writes need the API key (QA_API_KEY)"
    if settings.open_writes:
        return "writes are open to every client (QA_OPEN_WRITES=true, no QA_API_KEY)"
    if settings.listens_on_loopback:
        return f"writes are open to this machine only (listening on {settings.host}, no QA_API_KEY)"
    return (f"writes are refused: the service listens on {settings.host} without QA_API_KEY "
            "(set QA_API_KEY, or QA_OPEN_WRITES=true to let anyone write)")


def startup_summary(settings: Settings) -> list[str]:
    """The security policy in force, one line per concern, for `qa serve` to print."""
    reads = "reads and /metrics need the API key" if settings.api_key and settings.require_key_for_reads \
        else "reads and /metrics are open"
    cors = ("cross-origin access: " + ", ".join(settings.cors_origins)) if settings.cors_origins \
        else "cross-origin access: none (QA_CORS_ORIGINS is empty)"
    proxies = ("X-Forwarded-For trusted from " + ", ".join(settings.trusted_proxies)) \
        if settings.trusted_proxies else "X-Forwarded-For ignored (QA_TRUSTED_PROXIES is empty)"
    limit = f"rate limit {settings.rate_limit_per_minute}/min per client" \
        if settings.rate_limit_per_minute > 0 else "no rate limit"
    models = f"answer backends: {', '.join(settings.enabled_models())} (default {settings.model}; QA_ALLOWED_MODELS)"
    return [write_policy(settings), reads, cors, proxies, limit, models]


class AccessGuard:
    """The app's one guard. It reads the route handler's `opt`: `access` is "public" (the
    default), "read" or "write" (see `access`), and `rate_limited` (set on the `/v1` router) counts
    the request against the client's window. Every unsafe request is checked as same-site first."""

    def __init__(self, settings: Settings, *, on_limited: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.limiter = SlidingWindowLimiter(settings.rate_limit_per_minute) \
            if settings.rate_limit_per_minute > 0 else None
        self.on_limited = on_limited
        self.writes_open = settings.open_writes or settings.listens_on_loopback

    def __call__(self, connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        self.same_site(connection)
        if handler.opt.get(RATE_LIMITED):
            self.rate_limit(connection)
        level = handler.opt.get(ACCESS, "public")
        if level == "read":
            if self.settings.require_key_for_reads:
                self.require_key(connection)
        elif level == "write":
            if self.settings.api_key:
                self.require_key(connection)
            elif not self.writes_open:
                raise PermissionDeniedException(detail=write_policy(self.settings))
        elif level != "public":  # pragma: no cover - a typo in a handler's opt
            raise ValueError(f"unknown access level {level!r} on {handler}")

    def rate_limit(self, connection: ASGIConnection) -> None:
        """429 with `Retry-After` when the client is over its window."""
        if self.limiter is None:
            return
        identity = connection.client.host if connection.client else "unknown"
        key = presented_key(connection)
        if key is not None and key_is_valid(key, self.settings.api_key):
            identity += "#" + hashlib.sha256(key.encode()).hexdigest()[:16]
        wait = self.limiter.hit(identity)
        if wait is not None:
            self.on_limited()
            seconds = max(1, math.ceil(wait))
            raise TooManyRequestsException(
                detail=f"rate limit of {self.limiter.limit} requests per minute exceeded; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def require_key(self, connection: ASGIConnection) -> None:
        """401 unless the configured API key was sent (nothing to check without one)."""
        if not self.settings.api_key:
            return
        if not key_is_valid(presented_key(connection), self.settings.api_key):
            raise NotAuthorizedException(
                detail="this endpoint needs the API key: send X-API-Key: <key> or Authorization: Bearer <key>",
                headers={"WWW-Authenticate": 'Bearer realm="qa"'},
            )

    def same_site(self, connection: ASGIConnection) -> None:
        """403 for an unsafe request from a foreign origin, 415 for a body that is not JSON."""
        method = connection.scope.get("method", "GET")
        if method not in UNSAFE_METHODS:
            return
        origin = connection.headers.get("origin")
        # A reverse proxy may rewrite Host and say the public one in X-Forwarded-Host. A page can't
        # forge that header on a cross-site request without a CORS preflight, which it would fail.
        hosts = [h for h in (connection.headers.get("host"), connection.headers.get("x-forwarded-host")) if h]
        if origin is not None and not origin_allowed(origin, hosts, self.settings.cors_origins):
            raise PermissionDeniedException(
                detail=f"cross-origin {method} from {origin!r} refused: only this service's own pages and "
                "the origins in QA_CORS_ORIGINS may send writes"
            )
        if method in WITH_BODY:
            content_type = connection.headers.get("content-type", "")
            if not is_json(content_type):
                raise UnsupportedMediaType(
                    detail=f"the body must be JSON sent as Content-Type: application/json "
                    f"(got {content_type or 'no Content-Type'!r})"
                )


class ServerOptions(TypedDict):
    """uvicorn.run's keyword arguments for proxies."""

    proxy_headers: bool
    forwarded_allow_ips: str


def server_options(settings: Settings) -> ServerOptions:
    """uvicorn's proxy options: `X-Forwarded-For`/`-Proto` are believed only from
    `settings.trusted_proxies`, so the client address (and the rate limit keyed on it) can't be forged."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}
