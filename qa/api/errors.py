"""Exception handlers: every error is JSON `{"status_code", "detail"}` where `detail` says what to
fix. Input problems are 4xx, a failing answer backend is its own 502/503/504, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import ValidationException

from qa.api.service import ArticleNotCleanable
from qa.backends import BackendError, UnknownBackendError
from qa.index import IndexError_
from qa.settings import Settings

log = logging.getLogger("qa.api")
_SOURCES = {"body": "body field", "query": "query parameter", "path": "path parameter", "header": "header"}


def error_response(status: int, detail: str, *, extra: Any = None,
                   headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    """The service's error body."""
    content: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra is not None:
        content["extra"] = extra
    return Response(content, status_code=status, media_type=MediaType.JSON, headers=headers)


def validation_error(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's decoding errors, with the failing fields spelled out in `detail`."""
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, source = item.get("key"), item.get("source")
        where = "request body" if key in (None, "data") and source == "body" else \
            f"{_SOURCES.get(source, source or 'field')} {key!r}"
        problems.append(f"{where}: {item.get('message')}")
    detail = "; ".join(problems) if problems else exc.detail
    return error_response(exc.status_code, detail, extra=exc.extra or None)


def backend_error(_: Request, exc: BackendError) -> Response[dict[str, Any]]:
    """The answer backend failed: answer with its status (502, 503 or 504)."""
    log.warning("answer backend failed (%s): %s", exc.status, exc)
    return error_response(exc.status, str(exc))


def unknown_backend(_: Request, exc: UnknownBackendError) -> Response[dict[str, Any]]:
    return error_response(400, str(exc))


def uncleanable_article(_: Request, exc: ArticleNotCleanable) -> Response[dict[str, Any]]:
    return error_response(422, str(exc))


def index_error(_: Request, exc: IndexError_) -> Response[dict[str, Any]]:
    log.error("index error: %s", exc)
    return error_response(503, str(exc))


def exception_handlers(settings: Settings) -> dict[type[Exception] | int, Callable[..., Response[Any]]]:
    """The handlers for `Litestar(exception_handlers=...)`."""

    def body_too_large(_: Request, exc: Exception) -> Response[dict[str, Any]]:
        return error_response(
            413, f"the request body is over the limit of {settings.max_body_bytes} bytes "
            "(QA_MAX_BODY_BYTES): send a smaller body, e.g. fewer articles per request",
        )

    return {
        ValidationException: validation_error,
        BackendError: backend_error,
        UnknownBackendError: unknown_backend,
        ArticleNotCleanable: uncleanable_article,
        IndexError_: index_error,
        413: body_too_large,
    }
