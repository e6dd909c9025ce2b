"""Fuzzing every operation of the OpenAPI schema (schemathesis) against the real server: valid and
invalid inputs alike must never give a 5xx, in the status or in an event stream's error event.
Bounded: `EXAMPLES` cases per operation and mode, a few hundred requests in all."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from qa.embed import Embedder
from tests.helpers import live_server

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}
SLOW = {"/v1/ask", "/v1/ask/stream", "/v1/chat/completions"}  # each case answers a question


@pytest.fixture(scope="module")
def base_url(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    with live_server(seeded_dir, tmp_path_factory.mktemp("fuzz"), embedder, rate_limit_per_minute=0) as url:
        yield url


def server_errors(response: schemathesis.Response) -> list[str]:
    """The 5xx a response reports: its status, or `error` events of a stream."""
    found = [f"status {response.status_code}: {response.text[:300]}"] if response.status_code >= 500 else []
    content_type = response.headers.get("content-type") or [""]
    if content_type[0].startswith("text/event-stream"):
        for block in response.text.split("\n\n"):
            data = "".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
            if "event: error" in block or '"error"' in data:
                payload = json.loads(data)
                status = payload.get("status") or payload.get("error", {}).get("code")
                if isinstance(status, int) and status >= 500:
                    found.append(f"stream error event {payload}")
    return found


def fuzz(operation: Any, mode: GenerationMode, examples: int, base_url: str, session: requests.Session,
         statuses: Counter[int], failures: list[str]) -> None:
    """Send `examples` generated requests for one operation, counting statuses and noting 5xx."""
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=60)
        statuses[response.status_code] += 1
        failures.extend(f"{label}: {problem}\n  {case.as_curl_command()}" for problem in server_errors(response))

    with contextlib.suppress(Unsatisfiable):  # e.g. no invalid value exists for this operation's inputs
        run()


def test_no_operation_gives_a_5xx(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/ask", "/v1/search", "/v1/articles", "/v1/articles/{article_id}",
                                              "/v1/chat/completions", "/healthz", "/readyz"}
    session = requests.Session()
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            fuzz(operation, mode, examples // 2 if operation.path in SLOW else examples, base_url, session,
                 statuses, failures)
    sent = sum(statuses.values())
    print(f"fuzzed {len(operations)} operations with {sent} requests; statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:10])
    assert sent >= 250 and statuses[200] and statuses[400]
    assert httpx.get(f"{base_url}/readyz").json()["status"] == "ready"  # and the service still serves
