"""`GET /healthz` (the process is alive), `GET /readyz` (model and index loaded) and
`GET /metrics` (Prometheus text; it needs the API key when reads do)."""

from __future__ import annotations

import logging

from litestar import Response, get
from litestar.datastructures import State

from qa.api.deps import STATE_KEY
from qa.api.metrics import CONTENT_TYPE, Metrics
from qa.api.schemas import Health
from qa.api.security import reads
from qa.api.service import Service

METRICS_KEY = "metrics"
log = logging.getLogger("qa.api")


@get("/healthz", sync_to_thread=False, summary="Liveness: always 200 while the process runs")
def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", sync_to_thread=True, summary="Readiness: 200 when the model and index are loaded, else 503")
def readyz(state: State) -> Response[Health]:
    service: Service | None = state.get(STATE_KEY)
    if service is None:
        return Response(Health(status="unavailable", reason="starting: the model and index are loading"),
                        status_code=503)
    if service.closed:
        return Response(Health(status="unavailable", reason="shutting down: the index is closed"), status_code=503)
    try:
        articles, chunks = service.counts()
    except Exception as error:  # noqa: BLE001 - a broken index makes the service unready
        log.error("readyz -> 503: the index cannot be read: %s", error, exc_info=error)
        return Response(Health(status="unavailable", reason=f"the index cannot be read: {error}"), status_code=503)
    return Response(Health(status="ready", articles=articles, chunks=chunks, model=service.settings.model,
                           embedding_model=service.index.manifest.embedding_model))


@get("/metrics", sync_to_thread=True, include_in_schema=False, guards=[reads])
def metrics(state: State) -> Response[bytes]:
    registry: Metrics = state[METRICS_KEY]
    return Response(registry.render(), media_type=CONTENT_TYPE)
