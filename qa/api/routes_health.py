"""`GET /healthz` (the process is alive), `GET /readyz` (model and index loaded) and
`GET /metrics` (Prometheus text; it needs the API key when reads do)."""

from __future__ import annotations

import logging

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from qa.api.deps import STATE_KEY
from qa.api.metrics import CONTENT_TYPE, Metrics
from qa.api.schemas import Health
from qa.api.security import access
from qa.api.service import Service
from qa.api.threads import blocking

METRICS_KEY = "metrics"
log = logging.getLogger("qa.api")
UNAVAILABLE = ResponseSpec(Health, generate_examples=False,
                           description="Not ready: starting, shutting down, or the index cannot be "
                           "read (`status: unavailable`, `reason` says which).")


def readiness(service: Service | None) -> Response[Health]:
    """200 with the index size when `service` can answer, else 503 with the reason."""
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


class HealthController(Controller):
    """Probes for orchestrators and the Prometheus scrape; not rate limited."""

    path = "/"
    tags = ("health",)

    @get("/healthz", opt=access("public"), summary="Liveness: always 200 while the process runs")
    async def healthz(self) -> Health:
        return Health(status="ok")

    @get("/readyz", opt=access("public"), responses={503: UNAVAILABLE},
         summary="Readiness: 200 when the model and index are loaded, else 503")
    async def readyz(self, state: State) -> Response[Health]:
        return await blocking(readiness, state.get(STATE_KEY))

    @get("/metrics", opt=access("read"), include_in_schema=False)
    async def metrics(self, state: State) -> Response[bytes]:
        registry: Metrics = state[METRICS_KEY]
        return Response(await blocking(registry.render), media_type=CONTENT_TYPE)
