"""The Litestar application: `create_app(settings)` wires the controllers, the access guard, CORS,
metrics and the lifespan that loads the model and opens the index once."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from qa.api import (
    request_ids,
    routes_articles,
    routes_ask,
    routes_chat,
    routes_health,
    routes_search,
    routes_static,
)
from qa.api.deps import DEPENDENCIES, STATE_KEY
from qa.api.errors import exception_handlers
from qa.api.limits import JSON_DEPTH_KEY, LimitedRequest, document_limits
from qa.api.metrics import Metrics
from qa.api.security import RATE_LIMITED, AccessGuard
from qa.api.service import Service
from qa.api.threads import blocking
from qa.backends import available_backends
from qa.embed import Embedder
from qa.settings import Settings, SettingsError

CORS_HEADERS = ["Content-Type", "Accept", "Authorization", "X-API-Key", "Last-Event-ID", "Cache-Control",
                "X-Request-ID"]
EXPOSED_HEADERS = ["Retry-After", "WWW-Authenticate", "Content-Type", "X-Request-ID"]


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> Litestar:
    """The HTTP service for `settings`. The embedding model (or `embedder`, already loaded) and
    the index load once at startup; an empty index gets the seeds first."""
    unknown = [name for name in settings.enabled_models() if name not in available_backends()]
    if unknown:
        raise SettingsError(
            f"QA_MODEL / QA_ALLOWED_MODELS name {', '.join(map(repr, unknown))}, not an answer backend: "
            f"choose from {', '.join(available_backends())}"
        )
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        document_limits(app, settings)
        start = functools.partial(Service.start, settings, metrics, embedder=embedder)
        service = await blocking(start)
        app.state[STATE_KEY] = service
        try:
            yield
        finally:
            await blocking(service.close)

    v1 = Router(
        "/v1",
        opt={RATE_LIMITED: True},
        route_handlers=[routes_ask.AskController, routes_search.SearchController,
                        routes_articles.ArticlesController, routes_chat.ChatController],
    )
    return Litestar(
        route_handlers=[v1, routes_health.HealthController, routes_static.StaticController],
        dependencies=DEPENDENCIES,
        guards=[AccessGuard(settings, on_limited=metrics.rate_limited.inc)],
        exception_handlers=exception_handlers(settings),
        middleware=[request_ids.middleware, metrics.middleware],
        before_send=[request_ids.add_header],
        cors_config=cors_config(settings),
        request_max_body_size=settings.max_body_bytes,
        request_class=LimitedRequest,
        lifespan=[lifespan],
        state=State({routes_health.METRICS_KEY: metrics, JSON_DEPTH_KEY: settings.max_json_depth}),
        openapi_config=OpenAPIConfig(
            title="qa", version=_version(), path="/schema",
            description="Answers questions about news articles, citing the passage behind every sentence.",
        ),
    )


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for `settings.cors_origins` (none when empty), so the widget works on the sites named."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=CORS_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,  # keys travel in headers, never cookies
        max_age=600,
    )


def _version() -> str:
    try:
        return version("qa")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
