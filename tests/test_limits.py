"""Limits on everything a request carries: history turns and characters, JSON nesting, numeric
query parameters; each refusal a 4xx naming the limit, and the limits stated in the OpenAPI schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from qa.api import create_app
from qa.api.validation import json_depth
from qa.embed import Embedder
from qa.settings import Settings
from tests.helpers import copy_index

QUESTION = "By how much will China increase its defense spending this year?"


@pytest.fixture(scope="module")
def client(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("limits")
    settings = Settings.from_env({}, index_dir=copy_index(seeded_dir, root / "index"),
                                 tiktoken_cache_dir=root / "tiktoken", rate_limit_per_minute=0,
                                 max_history_turns=4, max_history_chars=1000)
    with TestClient(create_app(settings, embedder=embedder)) as test_client:
        yield test_client


def turns(n: int, size: int = 10) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "y" * size} for i in range(n)]


@pytest.mark.parametrize(
    ("history", "fragment"),
    [
        (turns(5), '"history" holds 5 messages; the limit is 4 (QA_MAX_HISTORY_TURNS)'),
        (turns(2, 600), '"history" holds 1200 characters; the limit is 1000 (QA_MAX_HISTORY_CHARS)'),
    ],
)
def test_history_over_the_limit_is_refused_fast(client: TestClient, history: list[dict[str, str]],
                                               fragment: str) -> None:
    started = time.perf_counter()
    response = client.post("/v1/ask", json={"question": QUESTION, "history": history})
    assert response.status_code == 400 and fragment in response.json()["detail"]
    messages = [*history, {"role": "user", "content": QUESTION}]
    chat = client.post("/v1/chat/completions", json={"messages": messages})
    assert chat.status_code == 400 and "messages before the question" in chat.json()["detail"]
    assert time.perf_counter() - started < 2  # refused before any retrieval or answering


def test_a_megabyte_of_history_costs_nothing(client: TestClient) -> None:
    started = time.perf_counter()
    big = [{"role": "user", "content": "word " * 200_000}]
    response = client.post("/v1/ask", json={"question": QUESTION, "history": big})
    assert response.status_code == 400 and "QA_MAX_HISTORY_CHARS" in response.json()["detail"]
    assert time.perf_counter() - started < 2


def test_history_within_the_limits_is_answered(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "history": turns(4)})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", '{"question": "q", "history": ' + "[" * 1000 + "]" * 1000 + "}"),
        ("/v1/articles", "[" * 1000 + "]" * 1000),
        ("/v1/chat/completions", '{"messages": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"),
        ("/v1/ask", '{"question": "q", "filters": ' + "[" * 40),  # deep and truncated
    ],
)
def test_deep_json_is_a_400_not_a_recursion_error(client: TestClient, path: str, body: str) -> None:
    assert len(body) < 8000
    response = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "more than 32 deep (QA_MAX_JSON_DEPTH)" in response.json()["detail"]


def test_depth_counts_brackets_outside_strings_only() -> None:
    json_depth(b'{"text": "' + b"[" * 100 + b'\\" {{{{ "}', 3)
    with pytest.raises(Exception, match="more than 3 deep"):
        json_depth(b'{"a": [[[1]]]}', 3)


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/v1/articles", {"offset": "99999999999999999999"}, "query parameter 'offset': Expected `int` <= 10000000"),
        ("/v1/articles", {"limit": "99999999999999999999"}, "query parameter 'limit': Expected `int` <= 1000"),
        ("/v1/articles", {"offset": "-1"}, "'offset'"),
        ("/v1/search", {"q": "x", "k": "99999999999999999999"}, '"k" must be between 1 and 50'),
        ("/v1/search", {"q": "x", "k": "-99999999999999999999"}, '"k" must be between 1 and 50'),
        ("/v1/search", {"q": "x" * 2001}, '"q" is 2001 characters long; the limit is 2000'),
    ],
)
def test_numeric_query_parameters_are_bounded(client: TestClient, path: str, params: dict[str, str],
                                              fragment: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400 and fragment in response.json()["detail"]


@pytest.mark.parametrize("body", [{"question": "q", "k": 10**20}, {"messages": [{"role": "user", "content": "q"}],
                                                                   "k": -(10**20)}])
def test_huge_numbers_in_bodies_are_400(client: TestClient, body: dict[str, Any]) -> None:
    path = "/v1/ask" if "question" in body else "/v1/chat/completions"
    response = client.post(path, json=body)
    assert response.status_code == 400 and "between 1 and 50" in response.json()["detail"]


def test_openapi_states_the_limits_and_the_error_responses(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    ask = schema["components"]["schemas"]["AskBody"]["properties"]
    assert ask["question"]["maxLength"] == 2000 and ask["history"]["maxItems"] == 4
    assert {"type": "integer", "minimum": 1, "maximum": 50} in ask["k"]["oneOf"]
    search = {p["name"]: p for p in schema["paths"]["/v1/search"]["get"]["parameters"]}
    assert search["q"]["schema"]["maxLength"] == 2000
    assert {"type": "integer", "minimum": 1, "maximum": 50} in search["k"]["schema"]["oneOf"]
    listing = {p["name"]: p for p in schema["paths"]["/v1/articles"]["get"]["parameters"]}
    assert listing["offset"]["schema"]["maximum"] == 10_000_000
    paths = schema["paths"]
    assert {"400", "401", "403", "413", "415", "422", "429", "507"} <= set(paths["/v1/articles"]["post"]["responses"])
    assert "404" in paths["/v1/articles/{article_id}"]["get"]["responses"]
    assert "404" in paths["/v1/articles/{article_id}"]["delete"]["responses"]
    assert {"400", "415", "502", "503", "504"} <= set(paths["/v1/ask"]["post"]["responses"])
    assert {"400", "429"} <= set(paths["/v1/search"]["get"]["responses"])
