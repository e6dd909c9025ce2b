"""Prometheus metrics with a registry per app (so tests can build several apps), the ASGI
middleware that counts requests, and the text exposition for `GET /metrics`."""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's metrics, registered in their own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "qa_http_requests", "HTTP requests by route template, method and status.",
            ["method", "route", "status"], registry=r,
        )
        self.request_seconds = Histogram(
            "qa_http_request_duration_seconds", "HTTP request latency (to the last byte) by route.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.answer_seconds = Histogram(
            "qa_answer_duration_seconds", "Time to a complete checked answer, by backend.",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.answers = Counter(
            "qa_answers", "Answers by backend and outcome (answered, refused, error).",
            ["model", "outcome"], registry=r,
        )
        self.search_seconds = Histogram(
            "qa_search_duration_seconds", "Hybrid search latency.", buckets=LATENCY_BUCKETS, registry=r,
        )
        self.index_articles = Gauge("qa_index_articles", "Articles in the index.", registry=r)
        self.index_chunks = Gauge("qa_index_chunks", "Chunks (vectors) in the index.", registry=r)
        self.rate_limited = Counter(
            "qa_rate_limited_requests", "Requests refused with 429 by the rate limiter.", registry=r,
        )

    def watch_index(self, count: Callable[[], tuple[int, int]] | None) -> None:
        """Read the index size at scrape time from `count() -> (articles, chunks)`; None stops."""
        if count is None:
            self.index_articles.set_function(lambda: 0.0)
            self.index_chunks.set_function(lambda: 0.0)
            return
        self.index_articles.set_function(lambda: float(count()[0]))
        self.index_chunks.set_function(lambda: float(count()[1]))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware (Litestar `middleware=[metrics.middleware]`) counting HTTP requests by
        route template, so `/v1/articles/{article_id}` is one series, not one per id."""

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_and_record(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_record)
            finally:
                route = scope.get("path_template") or "unmatched"
                method = scope.get("method", "GET")
                self.requests.labels(method, route, str(status)).inc()
                self.request_seconds.labels(method, route).observe(time.perf_counter() - started)

        return counted
