"""The HTTP service: `create_app(settings)` returns the Litestar app that `qa serve` runs.

Modules: `app` (wiring), `service` (the loaded model, index and answerer), `routes_*` (one
Controller per resource), `schemas` (request and response bodies), `validation` (input checks),
`sse` (event streams), `security` (the access guard: API key, rate limit, same-site writes, read
from each handler's `opt`), `threads` (running blocking work off the event loop), `metrics`
(Prometheus), `errors` (error bodies), `limits` (body limits, documented in the schema), `deps`
(injection), `request_ids` (X-Request-ID).
"""

from __future__ import annotations

from qa.api.app import create_app

__all__ = ["create_app"]
