"""The HTTP service: `create_app(settings)` returns the Litestar app that `qa serve` runs.

Modules: `app` (wiring), `service` (the loaded model, index and answerer), `routes_*` (one per
resource), `schemas` (bodies), `validation` (input checks), `sse` (event streams), `security`
(API key, rate limit), `metrics` (Prometheus), `errors` (error bodies), `deps` (injection).
"""

from __future__ import annotations

from qa.api.app import create_app

__all__ = ["create_app"]
