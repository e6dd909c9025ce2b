"""Exception handlers: every error is JSON `{"status_code", "detail"}` where `detail` says what to
fix. Input problems are 4xx, a failing answer backend is its own 502/503/504, a full disk 507;
a 500 is a bug, logged with its traceback. Every 5xx is logged with the request id that the
response carries in `X-Request-ID`.

The `*_ERRORS` lists document each route's error responses in the OpenAPI schema (`raises=`)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from qa.api import request_ids
from qa.api.security import UnsupportedMediaType
from qa.api.service import ArticleNotCleanable
from qa.api.validation import UnprocessableArticles
from qa.backends import BackendError, UnknownBackendError
from qa.index import IndexProblem, IndexStorageError
from qa.settings import Settings

log = logging.getLogger("qa.api")


class BadGateway(HTTPException):
    """502: the answer backend returned something unusable."""

    status_code = 502


class GatewayTimeout(HTTPException):
    """504: the answer backend did not answer in time."""

    status_code = 504


class InsufficientStorage(HTTPException):
    """507: the disk is full; nothing of the write was stored."""

    status_code = 507


_GUARDED = [NotAuthorizedException, TooManyRequestsException, ServiceUnavailableException]
READ_ERRORS = [ClientException, *_GUARDED]
ASK_ERRORS = [*READ_ERRORS, PermissionDeniedException, RequestEntityTooLarge, UnsupportedMediaType,
              BadGateway, GatewayTimeout]
WRITE_ERRORS = [ClientException, *_GUARDED, PermissionDeniedException, RequestEntityTooLarge,
                UnsupportedMediaType, UnprocessableArticles, InsufficientStorage]
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
            f"{_SOURCES.get(source or '', source or 'field')} {key!r}"
        problems.append(f"{where}: {item.get('message')}")
    detail = "; ".join(problems) if problems else exc.detail
    return error_response(exc.status_code, detail, extra=exc.extra or None)


def backend_error(request: Request, exc: BackendError) -> Response[dict[str, Any]]:
    """The answer backend failed: answer with its status (502, 503 or 504)."""
    log.warning("%s %s -> %s, answer backend failed [request %s]: %s", request.method, request.url.path,
                exc.status, request_ids.request_id(request.scope), exc)
    return error_response(exc.status, str(exc))


def http_error(request: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (4xx from guards and routing, 503 while loading); 5xx are logged."""
    if exc.status_code >= 500:
        log.warning("%s %s -> %s [request %s]: %s", request.method, request.url.path, exc.status_code,
                    request_ids.request_id(request.scope), exc.detail)
    return error_response(exc.status_code, exc.detail, extra=exc.extra or None, headers=exc.headers)


def internal_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    """Anything else is a bug: logged with its traceback, answered with the request id only."""
    rid = request_ids.request_id(request.scope)
    log.error("%s %s -> 500 [request %s]: %s: %s", request.method, request.url.path, rid,
              type(exc).__name__, exc, exc_info=exc)
    return error_response(500, f"internal error (request id {rid}); the cause is in the service log")


def unknown_backend(_: Request, exc: UnknownBackendError) -> Response[dict[str, Any]]:
    return error_response(400, str(exc))


def uncleanable_article(_: Request, exc: ArticleNotCleanable) -> Response[dict[str, Any]]:
    return error_response(422, str(exc))


def storage_error(request: Request, exc: IndexStorageError) -> Response[dict[str, Any]]:
    """The disk refused a write: 507 when it is full, else 503; the detail says what happened."""
    status = 507 if exc.disk_full else 503
    log.error("%s %s -> %s, storage error [request %s]: %s", request.method, request.url.path, status,
              request_ids.request_id(request.scope), exc)
    return error_response(status, str(exc))


def sqlite_error(request: Request, exc: sqlite3.Error) -> Response[dict[str, Any]]:
    """SQLite failing outside a write (a damaged or locked docs.sqlite): 503 saying so."""
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return storage_error(request, IndexStorageError(f"the disk is full ({exc})", disk_full=True))
    log.error("%s %s -> 503, document store error [request %s]: %s", request.method, request.url.path,
              request_ids.request_id(request.scope), exc, exc_info=exc)
    return error_response(503, f"the document store (docs.sqlite) cannot be read: {exc}. If it is damaged, "
                          "restore it from a backup or rebuild the index with `qa ingest`")


def index_error(request: Request, exc: IndexProblem) -> Response[dict[str, Any]]:
    log.error("%s %s -> 503, index error [request %s]: %s", request.method, request.url.path,
              request_ids.request_id(request.scope), exc)
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
        IndexProblem: index_error,
        IndexStorageError: storage_error,
        sqlite3.Error: sqlite_error,
        HTTPException: http_error,
        Exception: internal_error,
        413: body_too_large,
    }
