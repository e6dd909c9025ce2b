"""The HTTP API through Litestar's TestClient: the real app, the real model, a private copy of the
seeded index. One app serves most of the module; a few tests build a small app of their own
(rate limit and read keys, restart durability, not-yet-started readiness)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from qa.api import create_app
from qa.api.routes_static import STATIC_DIR
from qa.api.schemas import ArticleDetail, ArticleSummary
from qa.api.security import SlidingWindowLimiter
from qa.api.sse import iterate_in_thread
from qa.backends import BackendError
from qa.docstore import StoredArticle
from qa.embed import Embedder
from qa.settings import Settings
from qa.types import Article
from tests.fakes import FakeBackend
from tests.helpers import TAIWAN_ID, TRUMP_ID, copy_index

QUESTION = "By how much will China increase its defense spending this year?"
KEY = "test-key"
CLOSED_PORT = "http://127.0.0.1:9/v1"  # nothing listens: a real connection error
FAILING_MODEL = "failing-after-one-delta"


# Streams one delta, then fails like an upstream returning garbage (502)
FAILING = FakeBackend(FAILING_MODEL, ["China will"],
                      error=lambda: BackendError("the model endpoint returned malformed JSON", status=502))


def make_settings(index_dir: Path, **overrides: Any) -> Settings:
    return Settings.from_env({}, index_dir=index_dir, tiktoken_cache_dir=index_dir.parent / "tiktoken",
                             **overrides)


@pytest.fixture(scope="module")
def api_settings(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The module's app settings: an API key, no rate limit, small bodies, one CORS origin."""
    root = tmp_path_factory.mktemp("api")
    return make_settings(
        copy_index(seeded_dir, root / "index"), api_key=KEY, rate_limit_per_minute=0,
        max_body_bytes=20_000, cors_origins=("https://news.example",),
        openai_base_url=CLOSED_PORT, openai_max_retries=0, openai_timeout=5.0,
        allowed_models=("openai", FAILING_MODEL),
    )


@pytest.fixture(scope="module")
def client(api_settings: Settings, embedder: Embedder, fake_backends: Callable[[FakeBackend], FakeBackend],
           ) -> Iterator[TestClient]:
    fake_backends(FAILING)
    with TestClient(create_app(api_settings, embedder=embedder)) as test_client:
        yield test_client


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per event of a server-sent event stream."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        events.append((name, "\n".join(data)))
    return events


def assert_cites_the_fact(answer: dict[str, Any]) -> None:
    assert not answer["refused"] and "7.2" in answer["answer"]
    cited = {c["marker"] for c in answer["citations"]}
    passages = [p for p in answer["passages"] if p["number"] in cited]
    assert any("7.2" in p["text"] and p["article_id"] == TAIWAN_ID for p in passages)
    assert any("7.2" in c["quote"] and c["article_id"] == TAIWAN_ID for c in answer["citations"])


# --- health, schema, static, metrics ---------------------------------------------------------
def test_health_readiness_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["articles"] == 2
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/ask/stream", "/v1/search", "/v1/articles", "/v1/articles/{article_id}",
            "/v1/chat/completions"} <= set(paths)


def test_readyz_is_503_until_the_app_has_started(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "never-opened"))
    unstarted = TestClient(app)  # no `with`: the lifespan (model and index loading) never runs
    response = unstarted.get("/readyz")
    assert response.status_code == 503 and "loading" in response.json()["reason"]
    assert unstarted.get("/healthz").status_code == 200
    assert unstarted.get("/v1/search", params={"q": "x"}).status_code == 503


def _is_typed(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """True when `schema` names its fields: a $ref to a component with properties, an object
    with properties, or alternatives that all are typed (a bare `{}` or `{"type": "object"}` is not)."""
    if "$ref" in schema:
        return _is_typed(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        return all(_is_typed(alternative, components) for alternative in alternatives)
    return bool(schema.get("properties"))


def test_the_schema_types_every_response(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    components = schema["components"]["schemas"]
    untyped, operations = [], 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            operations += 1
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if status == "204":
                    continue
                if not content:
                    untyped.append(f"{method.upper()} {path} -> {status}: no content")
                for media_type, body in content.items():
                    if not _is_typed(body.get("schema", {}), components):
                        untyped.append(f"{method.upper()} {path} -> {status} {media_type}")
            if path.startswith("/v1/"):  # every /v1 route documents its input and access errors
                assert {"400", "401", "429", "503"} <= set(operation["responses"]), f"{method} {path}"
    assert operations == 11 and not untyped, untyped
    stream = schema["paths"]["/v1/ask/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in stream["schema"]["oneOf"]} == {
        "PassagesData", "DeltaData", "Answer", "DoneData", "StreamError"}
    chat_404 = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["404"]
    assert chat_404["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
    assert schema["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/Health")
    assert set(components["SearchResult"]["required"]) == {
        "article_id", "chunk_id", "title", "text", "score", "start", "end", "published", "url", "source"}


def test_every_route_says_who_may_call_it(client: TestClient) -> None:
    """The access guard reads `opt`: each handler names its access, and only /v1 is rate limited."""
    handlers = [handler for route in client.app.routes for handler in getattr(route, "route_handlers", [])
                if handler.fn.__module__.startswith("qa.api.")]  # not Litestar's own /schema routes
    assert len(handlers) == 14
    for handler in handlers:
        assert handler.opt.get("access") in {"public", "read", "write"}, handler.handler_name
    levels = {(next(iter(h.http_methods)), h.handler_name): (h.opt["access"], bool(h.opt.get("rate_limited")))
              for h in handlers}
    assert levels[("POST", "add_articles")] == ("write", True)
    assert levels[("DELETE", "delete_article")] == ("write", True)
    assert levels[("GET", "search")] == ("read", True)
    assert levels[("GET", "metrics")] == ("read", False)
    assert levels[("GET", "readyz")] == ("public", False)


def test_article_bodies_copy_every_stored_field() -> None:
    stored = StoredArticle(article=Article(id="a1", title="T", text="Body.", url="https://x.example/a1",
                                           published="2024-03-05", source="Wire"),
                           text_hash="h", meta_hash="m", origin=None, n_chunks=3)
    summary = msgspec.to_builtins(ArticleSummary.from_stored(stored))
    detail = msgspec.to_builtins(ArticleDetail.from_stored(stored))
    assert detail == {**msgspec.to_builtins(stored.article), "chunks": 3}
    assert summary == {key: value for key, value in detail.items() if key != "text"}


@pytest.mark.parametrize(("path", "media_type"), [("/widget.js", "application/javascript"), ("/", "text/html")])
def test_static_files_are_served_when_present(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)
    name = "widget.js" if path == "/widget.js" else "index.html"
    if (STATIC_DIR / name).is_file():
        assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
        assert response.content == (STATIC_DIR / name).read_bytes()
    else:
        assert response.status_code == 404


# --- /v1/ask ---------------------------------------------------------------------------------
def test_ask_returns_the_cited_answer(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "k": 5, "model": "extractive"})
    assert response.status_code == 200
    answer = response.json()
    assert_cites_the_fact(answer)
    citation = answer["citations"][0]
    assert set(citation) >= {"marker", "article_id", "chunk_id", "title", "url", "published", "quote",
                             "start", "end"}
    article = client.get(f"/v1/articles/{citation['article_id']}").json()
    assert article["text"][citation["start"] : citation["end"]] == citation["quote"]
    assert {"retrieve_ms", "total_ms"} <= set(answer["timings"]) and answer["model"] == "extractive"


@pytest.mark.parametrize("path", ["/v1/ask/stream", "/v1/ask"])
def test_ask_streams_passages_deltas_citations_done(client: TestClient, path: str) -> None:
    body = {"question": QUESTION, "stream": True} if path == "/v1/ask" else {"question": QUESTION}
    response = client.post(path, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"delta"}
    first = json.loads(events[0][1])
    assert set(first) == {"passages", "standalone_question"} and first["standalone_question"] == QUESTION
    streamed = "".join(json.loads(data)["text"] for name, data in events if name == "delta")
    answer = json.loads(events[-2][1])
    assert_cites_the_fact(answer)
    assert "7.2" in streamed
    assert json.loads(events[-1][1])["timings"] == answer["timings"]


def test_sse_wire_format_is_exact(client: TestClient) -> None:
    text = client.post("/v1/ask/stream", json={"question": QUESTION}).text
    assert text.startswith('event: passages\ndata: {"passages":[')
    assert "\nevent: delta\ndata: {\"text\":" in text
    assert "\n\nevent: citations\ndata: {\"answer\":" in text
    assert text.endswith("}\n\n") and "\n\nevent: done\ndata: {\"timings\":{" in text


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"question": ""}, 400, "empty"),
        ({"question": "   \n\t"}, 400, "empty"),
        ({"question": "x" * 2001}, 400, "limit is 2000"),
        ({"question": "q", "k": 0}, 400, "between 1 and 50"),
        ({"question": "q", "k": 51}, 400, "between 1 and 50"),
        ({"question": "q", "k": "five"}, 400, "'k'"),
        ({"question": 42}, 400, "'question'"),
        ({}, 400, "question"),
        ({"question": "q", "filters": {"published_from": "last week"}}, 400, "published_from must be an ISO date"),
        ({"question": "q", "filters": {"published_from": "2025-03-05", "published_to": "2025-01-01"}}, 400, "after"),
        ({"question": "q", "filters": {"colour": "red"}}, 400, "unknown field `colour`"),
        ({"question": "q", "filters": "BBC"}, 400, "'filters'"),
        ({"question": "q", "history": [{"role": "robot", "content": "beep"}]}, 400, "history[0].role"),
        ({"question": "q", "history": "earlier"}, 400, "'history'"),
        ({"question": "q", "model": "gpt-9"}, 400, "model 'gpt-9' is unknown: choose one of extractive, openai"),
        ({"question": "q", "model": "local"}, 400, "model 'local' is not enabled on this service"),
        ({"question": "q", "colour": "red"}, 400, "unknown field `colour`"),
        (["q"], 400, "request body"),
    ],
)
def test_ask_rejects_bad_input_saying_what_to_fix(client: TestClient, body: Any, status: int, fragment: str) -> None:
    for path in ("/v1/ask", "/v1/ask/stream"):
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["status_code"] == status and fragment in error["detail"]


def test_malformed_json_and_oversized_bodies(client: TestClient, api_settings: Settings) -> None:
    response = client.post("/v1/ask", content=b'{"question": "q"', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"]
    big = {"question": "q", "history": [{"role": "user", "content": "x" * api_settings.max_body_bytes}]}
    response = client.post("/v1/ask", json=big)
    assert response.status_code == 413
    assert str(api_settings.max_body_bytes) in response.json()["detail"]


# --- a failing answer backend ----------------------------------------------------------------
def test_unreachable_backend_is_503_while_search_keeps_working(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "model": "openai"})
    assert response.status_code == 503
    assert "127.0.0.1:9" in response.json()["detail"]
    search = client.get("/v1/search", params={"q": QUESTION})
    assert search.status_code == 200 and search.json()["results"]
    events = parse_sse(client.post("/v1/ask/stream", json={"question": QUESTION, "model": "openai"}).text)
    assert [name for name, _ in events] == ["passages", "error"]
    assert json.loads(events[-1][1])["status"] == 503


def test_backend_failing_mid_stream_ends_the_stream_with_an_error_event(client: TestClient) -> None:
    events = parse_sse(client.post("/v1/ask/stream", json={"question": QUESTION, "model": FAILING_MODEL}).text)
    assert [name for name, _ in events] == ["passages", "delta", "error"]
    assert json.loads(events[-1][1]) == {"status": 502, "message": "the model endpoint returned malformed JSON"}
    response = client.post("/v1/ask", json={"question": QUESTION, "model": FAILING_MODEL})
    assert response.status_code == 502 and response.json()["detail"] == "the model endpoint returned malformed JSON"


# --- /v1/search ------------------------------------------------------------------------------
def test_search_results_are_typed_in_the_openapi_schema(client: TestClient) -> None:
    schemas = client.get("/schema/openapi.json").json()["components"]["schemas"]
    result = schemas["SearchResult"]
    assert {"article_id", "chunk_id", "title", "text", "score", "start", "end", "published", "url",
            "source"} == set(result["properties"]) == set(result["required"])
    assert result["properties"]["start"]["type"] == "integer"


def test_search_returns_hits_and_applies_filters(client: TestClient) -> None:
    results = client.get("/v1/search", params={"q": "China defense budget 7.2 percent", "k": 3}).json()["results"]
    assert 0 < len(results) <= 3 and results[0]["article_id"] == TAIWAN_ID
    assert set(results[0]) == {"article_id", "chunk_id", "title", "text", "score", "start", "end",
                               "published", "url", "source"}
    filtered = client.get("/v1/search", params={"q": "defence spending", "source": "SinoDaily"}).json()["results"]
    assert filtered and {hit["source"] for hit in filtered} == {"SinoDaily"}
    nothing = client.get("/v1/search", params={"q": "defence", "published_from": "2030-01-01"}).json()
    assert nothing == {"results": []}
    # the seeds are undated: an as-of date cannot show them to be later, so they stay
    as_of = client.get("/v1/search", params={"q": "defence", "as_of": "2020-01-01T08:00:00Z"}).json()["results"]
    assert {hit["article_id"] for hit in as_of} == {TAIWAN_ID, TRUMP_ID}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "'q'"),
        ({"q": " "}, "empty"),
        ({"q": "x", "k": 0}, "between 1 and 50"),
        ({"q": "x", "k": "many"}, "'k'"),
        ({"q": "x", "published_to": "2025-13-01"}, "published_to must be an ISO date"),
        ({"q": "x", "as_of": "yesterday"}, "as_of must be an ISO date"),
    ],
)
def test_search_rejects_bad_input(client: TestClient, params: dict[str, Any], fragment: str) -> None:
    response = client.get("/v1/search", params=params)
    assert response.status_code == 400 and fragment in response.json()["detail"]


# --- /v1/articles ----------------------------------------------------------------------------
NEW_ARTICLE = {
    "id": "api-moon-1", "title": "Lunar base gets a greenhouse",
    "text": "The European Space Agency said on Tuesday that its lunar base will grow potatoes in a "
            "pressurised greenhouse by 2031. The greenhouse will cover 40 square metres.",
    "url": "https://example.com/moon", "published": "2025-04-01T09:30:00Z", "source": "Example Wire",
}


def test_writes_need_the_api_key_and_the_index_updates_live(client: TestClient) -> None:
    assert client.post("/v1/articles", json=NEW_ARTICLE).status_code == 401
    assert client.post("/v1/articles", json=NEW_ARTICLE, headers={"X-API-Key": "wrong"}).status_code == 401
    created = client.post("/v1/articles", json=NEW_ARTICLE, headers={"X-API-Key": KEY})
    assert created.status_code == 201
    assert created.json() == {"added": ["api-moon-1"], "updated": [], "unchanged": [], "metadata_updated": [],
                              "chunks_embedded": 1}
    again = client.post("/v1/articles", json=[NEW_ARTICLE], headers={"Authorization": f"Bearer {KEY}"}).json()
    assert again["unchanged"] == ["api-moon-1"] and again["chunks_embedded"] == 0

    article = client.get("/v1/articles/api-moon-1").json()
    assert article["published"] == "2025-04-01" and article["text"].startswith("The European Space Agency")
    listing = client.get("/v1/articles", params={"limit": 1}).json()
    assert listing["total"] == 3 and listing["limit"] == 1 and len(listing["articles"]) == 1
    assert listing["articles"][0]["id"] == "api-moon-1" and listing["articles"][0]["chunks"] == 1
    hits = client.get("/v1/search", params={"q": "What will the lunar greenhouse grow?", "k": 1}).json()["results"]
    assert hits[0]["article_id"] == "api-moon-1"
    answer = client.post("/v1/ask", json={"question": "What will the lunar base greenhouse grow?"}).json()
    assert "potatoes" in answer["answer"] and answer["citations"][0]["article_id"] == "api-moon-1"

    assert client.delete("/v1/articles/api-moon-1").status_code == 401
    assert client.delete("/v1/articles/api-moon-1", headers={"Authorization": f"Bearer {KEY}"}).status_code == 204
    assert client.get("/v1/articles/api-moon-1").status_code == 404
    missing = client.delete("/v1/articles/api-moon-1", headers={"X-API-Key": KEY})
    assert missing.status_code == 404 and "api-moon-1" in missing.json()["detail"]
    assert client.get("/v1/articles").json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ([{"id": "ok-1", "text": "A fine article about harbours."}, {"id": "bad-2", "title": "No text"}],
         422, 'articles[1] (id \'bad-2\'): missing required field "text"'),
        ([{"id": "ok-1", "text": "Fine."}, {"id": "bad/2", "text": "Slash."}], 422, 'articles[1]'),
        ([{"id": "ok-1", "text": "Fine."}, "not an object"], 422, "articles[1]: expected an article object"),
        ({"id": "x", "text": "Body.", "published": "soon"}, 422, "published must be an ISO date"),
        ({"id": "x", "text": 5}, 422, '"text" must be a string'),
        ({"id": "x", "text": "   "}, 422, "empty"),
        ([], 400, "empty"),
        ("just text", 400, "send one article object"),
    ],
)
def test_bad_article_payloads_are_rejected_whole(client: TestClient, body: Any, status: int, fragment: str) -> None:
    response = client.post("/v1/articles", json=body, headers={"X-API-Key": KEY})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/v1/articles/ok-1").status_code == 404  # nothing of the batch was written


def test_article_list_paging_is_validated(client: TestClient) -> None:
    assert client.get("/v1/articles", params={"limit": 0}).status_code == 400
    assert "'offset'" in client.get("/v1/articles", params={"offset": -1}).json()["detail"]
    page = client.get("/v1/articles", params={"limit": 10, "offset": 1}).json()
    assert page["total"] == 2 and len(page["articles"]) == 1 and page["total_chunks"] > 2


# --- /v1/chat/completions --------------------------------------------------------------------
def test_models_lists_the_enabled_backends_in_openais_shape(client: TestClient) -> None:
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["extractive", "openai", FAILING_MODEL]
    assert {m["object"] for m in listed["data"]} == {"model"}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "local"])  # not ours; ours but not enabled
def test_chat_with_a_model_not_enabled_is_openais_404(client: TestClient, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert f"the model {model!r} does not exist" in error["message"] and "extractive" in error["message"]


def test_chat_completion_carries_citations_and_sources(client: TestClient) -> None:
    body = {"model": "extractive", "temperature": 0.2, "messages": [
        {"role": "system", "content": "You are a pirate."}, {"role": "user", "content": QUESTION}]}
    completion = client.post("/v1/chat/completions", json=body).json()
    assert completion["object"] == "chat.completion" and completion["model"] == "extractive"
    content = completion["choices"][0]["message"]["content"]
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert "7.2" in content and "\n\nSources:\n[1] " in content
    assert completion["citations"] and completion["citations"][0]["article_id"] == TAIWAN_ID


def test_chat_completion_streams_chunks_and_ends_with_done(client: TestClient) -> None:
    body = {"model": "extractive", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post("/v1/chat/completions", json=body)
    events = parse_sse(response.text)
    assert all(name is None for name, _ in events) and events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "7.2" in content and "Sources:\n[1] " in content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"][0]["article_id"] == TAIWAN_ID


def test_follow_ups_use_the_history(client: TestClient) -> None:
    first = "When does Xi aim to complete military modernization?"
    follow_up = [{"type": "text", "text": "What is its defense budget now?"}]
    body = {"messages": [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": first},
        {"role": "assistant", "content": "By 2035 [1]."},
        {"role": "user", "content": follow_up},
    ]}
    completion = client.post("/v1/chat/completions", json=body).json()
    assert "1.78 trillion yuan" in completion["choices"][0]["message"]["content"]
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": "By 2035 [1]."}]
    answer = client.post("/v1/ask", json={"question": "What is its defense budget now?", "history": history}).json()
    # rewritten without an LLM (qa/followup.py): "its" is the name the previous question asked about
    assert answer["standalone_question"] == "What is Xi's defense budget now?"
    assert "1.78 trillion yuan" in answer["answer"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": []}, "empty"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "last message"),
        ({"messages": [{"role": "user", "content": ""}]}, "empty"),
        ({"messages": "hello"}, "'messages'"),
    ],
)
def test_chat_completion_rejects_bad_input(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and fragment in response.json()["detail"]


def test_chat_completion_backend_failure(client: TestClient) -> None:
    body = {"model": "openai", "messages": [{"role": "user", "content": QUESTION}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 503
    events = parse_sse(client.post("/v1/chat/completions", json={**body, "stream": True}).text)
    assert json.loads(events[-1][1])["error"]["code"] == 503


# --- CORS and metrics ------------------------------------------------------------------------
def test_cors_preflight_and_exposed_headers(client: TestClient) -> None:
    preflight = client.options("/v1/ask/stream", headers={
        "Origin": "https://news.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://news.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = client.get("/v1/articles", headers={"Origin": "https://news.example"})
    assert response.headers["access-control-allow-origin"] == "https://news.example"
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()
    other = client.get("/v1/articles", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_metrics_expose_requests_latencies_and_index_size(client: TestClient) -> None:
    client.get("/v1/search", params={"q": "Taiwan"})
    client.get("/v1/articles/nope")
    text = client.get("/metrics").text
    assert 'qa_http_requests_total{method="GET",route="/v1/search",status="200"}' in text
    assert 'route="/v1/articles/{article_id}",status="404"' in text
    for name in ("qa_http_request_duration_seconds_bucket", "qa_search_duration_seconds_count",
                 "qa_answer_duration_seconds_count", "qa_answers_total", "qa_index_chunks"):
        assert name in text
    assert "qa_index_articles 2.0" in text


# --- apps of their own -----------------------------------------------------------------------
def test_rate_limit_and_keys_for_reads(seeded_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = make_settings(copy_index(seeded_dir, tmp_path / "index"), api_key="k2",
                             require_key_for_reads=True, rate_limit_per_minute=3, cors_origins=("*",))
    with TestClient(create_app(settings, embedder=embedder)) as limited:
        anonymous = [limited.get("/v1/articles").status_code for _ in range(4)]
        assert anonymous == [401, 401, 401, 429]
        keyed = [limited.get("/v1/articles", headers={"X-API-Key": "k2"}) for _ in range(4)]
        assert [r.status_code for r in keyed] == [200, 200, 200, 429]
        assert 1 <= int(keyed[-1].headers["retry-after"]) <= 60
        assert "rate limit of 3 requests per minute" in keyed[-1].json()["detail"]
        assert limited.get("/healthz").status_code == 200  # health and metrics are not limited
        preflight = limited.options("/v1/articles", headers={  # CORS preflights need neither
            "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key"})
        assert preflight.status_code in (200, 204) and preflight.headers["access-control-allow-origin"] == "*"
        assert "qa_rate_limited_requests_total 2.0" in limited.get("/metrics", headers={"X-API-Key": "k2"}).text


def test_sliding_window_frees_slots_as_time_passes() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == 60 and limiter.hit("b") is None
    now[0] = 30.0
    assert limiter.hit("a") == 30
    now[0] = 60.0
    assert limiter.hit("a") is None


def test_acknowledged_writes_survive_a_restart(seeded_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = make_settings(copy_index(seeded_dir, tmp_path / "index"))
    with TestClient(create_app(settings, embedder=embedder)) as first:
        assert first.post("/v1/articles", json=NEW_ARTICLE).status_code == 201
        assert first.delete(f"/v1/articles/{TAIWAN_ID}").status_code == 204
    with TestClient(create_app(settings, embedder=embedder)) as second:
        assert second.get("/v1/articles/api-moon-1").json()["source"] == "Example Wire"
        assert second.get(f"/v1/articles/{TAIWAN_ID}").status_code == 404
        hits = second.get("/v1/search", params={"q": "lunar greenhouse potatoes"}).json()["results"]
        assert hits[0]["article_id"] == "api-moon-1"
        assert TAIWAN_ID not in {hit["article_id"] for hit in hits}


# --- the thread behind a stream --------------------------------------------------------------
def test_a_stream_stops_generating_when_its_consumer_goes_away() -> None:
    produced, closed = [], threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
                time.sleep(0.01)
        finally:
            closed.set()

    async def consume_two() -> list[int]:
        stream = iterate_in_thread(endless)
        items = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()  # what a client disconnect does to the response's iterator
        return items

    assert asyncio.run(consume_two()) == [0, 1]
    assert closed.wait(5)
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count
