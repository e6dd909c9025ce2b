"""Dependency injection: route handlers receive the loaded `Service` as `service`."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ServiceUnavailableException

from qa.api.service import Service

STATE_KEY = "service"


def get_service(state: State) -> Service:
    """The loaded service; 503 while it is starting or after it stopped."""
    service: Service | None = state.get(STATE_KEY)
    if service is None or service.closed:
        raise ServiceUnavailableException(detail="the service is not ready: the model and index are loading or stopped")
    return service


DEPENDENCIES = {"service": Provide(get_service, sync_to_thread=False)}
