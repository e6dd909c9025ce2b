"""The real server: uvicorn on 127.0.0.1 and a free port (in a thread, sharing the loaded model),
spoken to by the official `openai` client and by plain httpx."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from qa.embed import Embedder
from tests.fakes import FakeBackend
from tests.helpers import TAIWAN_ID, live_server

QUESTION = "By how much will China increase its defense spending this year?"
ENDLESS_MODEL = "endless-live-test"
# generates until someone stops listening; `closed` records that it was stopped
ENDLESS = FakeBackend(ENDLESS_MODEL, ["more "], delay=0.02, endless=True)


@pytest.fixture(scope="module")
def base_url(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder,
             fake_backends: Callable[[FakeBackend], FakeBackend]) -> Iterator[str]:
    fake_backends(ENDLESS)
    with live_server(seeded_dir, tmp_path_factory.mktemp("live"), embedder, rate_limit_per_minute=0,
                     allowed_models=(ENDLESS_MODEL,)) as url:
        yield url


@pytest.fixture(scope="module")
def openai_client(base_url: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_client_gets_a_cited_completion(openai_client: OpenAI) -> None:
    response = openai_client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}])
    content = response.choices[0].message.content or ""
    assert "7.2 percent" in content and "\n\nSources:\n[1] " in content
    citations: list[dict[str, Any]] = response.model_extra["citations"]
    assert citations == response.to_dict()["citations"]
    assert any(c["article_id"] == TAIWAN_ID and "7.2" in c["quote"] for c in citations)


def test_openai_client_lists_models_and_gets_not_found_for_others(openai_client: OpenAI) -> None:
    import openai

    assert {model.id for model in openai_client.models.list()} == {"extractive", ENDLESS_MODEL}
    with pytest.raises(openai.NotFoundError, match="the model 'gpt-4o' does not exist") as raised:
        openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert raised.value.code == "model_not_found" and raised.value.param == "model"  # read from OpenAI's shape


def test_openai_client_streams_a_cited_completion(openai_client: OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert "7.2 percent" in content and "Sources:" in content
    assert chunks[-1].choices[0].finish_reason == "stop"
    citations = chunks[-1].model_extra["citations"]
    assert any(c["article_id"] == TAIWAN_ID and "7.2" in c["quote"] for c in citations)


def test_disconnecting_stops_generation_and_the_server_keeps_serving(base_url: str) -> None:
    ENDLESS.closed.clear()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", "/v1/ask/stream", json={"question": QUESTION, "model": ENDLESS_MODEL}) as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            seen = ""
            for text in events.iter_text():
                seen += text
                if seen.count("event: delta") >= 3:
                    break
        # the response is closed: the server notices the disconnect and stops the generator
        assert ENDLESS.closed.wait(10)
        assert http.get("/v1/search", params={"q": QUESTION}).status_code == 200


# --- the local LLM's worker process ----------------------------------------------------------
@pytest.fixture(scope="module")
def local_app(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Any]:
    apps: list[Any] = []
    with live_server(seeded_dir, tmp_path_factory.mktemp("live-local"), embedder, apps=apps,
                     rate_limit_per_minute=0, allowed_models=("local",), local_threads=1) as url:
        (app,) = apps
        app.state.url = url
        yield app


@pytest.fixture(scope="module")
def local_url(local_app: Any) -> str:
    return local_app.state.url


def local_worker(app: Any) -> Any:
    from qa.api.deps import STATE_KEY

    return app.state[STATE_KEY].components.backends.local().worker


@pytest.mark.local_llm
def test_a_dead_local_worker_is_a_503_and_the_service_keeps_serving(local_app: Any, local_url: str) -> None:
    # two passages, not five: a shorter prompt for the slow local model (the 19 billion is among them)
    ask_local = {"question": "How much did Taipei allocate for defence in 2024?", "model": "local", "k": 2}
    with httpx.Client(base_url=local_url, timeout=300) as http:
        worker = local_worker(local_app)  # starts the worker process, as the first local ask would
        pid = worker.pid

        result: dict[str, httpx.Response] = {}
        asking = threading.Thread(target=lambda: result.setdefault("r", http.post("/v1/ask", json=ask_local)))
        asking.start()
        deadline = time.monotonic() + 60
        while not worker.in_flight:  # the answer is being generated in the worker
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        asking.join(120)
        response = result["r"]
        assert response.status_code == 503, response.text
        assert "worker process died (killed by SIGKILL)" in response.json()["detail"]

        # everything else keeps answering, meanwhile and after
        assert http.get("/v1/search", params={"q": QUESTION}).json()["results"]
        extractive = http.post("/v1/ask", json={"question": QUESTION}).json()
        assert not extractive["refused"] and "7.2" in extractive["answer"]
        assert http.get("/readyz").status_code == 200

        # and the worker comes back
        again = http.post("/v1/ask", json=ask_local)
        assert again.status_code == 200 and "19 billion" in again.json()["answer"]
        assert worker.pid not in (None, pid) and worker.restarts == 1
