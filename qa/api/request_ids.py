"""Request ids: every response carries `X-Request-ID` (the client's, when it sent a sane one, else
a new one), and every 5xx is logged with it, so a report from a client finds its log line."""

from __future__ import annotations

import contextvars
import re
import uuid

from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_STATE_KEY = "qa_request_id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("qa_request_id", default="-")


def request_id(scope: Scope) -> str:
    """The id of the request in `scope` (assigned on first use)."""
    state = scope.setdefault("state", {})
    rid = state.get(_STATE_KEY)
    if rid is None:
        sent = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                     if name == HEADER.encode()), "")
        rid = sent if _SANE.fullmatch(sent) else uuid.uuid4().hex
        state[_STATE_KEY] = rid
    return rid


def current() -> str:
    """The id of the request being handled in this context ("-" outside one), for log lines."""
    return _current.get()


def middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: makes the request's id `current()` while the request is handled."""

    async def with_request_id(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        token = _current.set(request_id(scope))
        try:
            await app(scope, receive, send)
        finally:
            _current.reset(token)

    return with_request_id


async def add_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: the id goes on every HTTP response, 404s and preflights included."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", []))
        headers.append((HEADER.encode(), request_id(scope).encode()))
        message["headers"] = headers
