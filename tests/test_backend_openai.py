"""qa.backends.openai against a mocked OpenAI-compatible endpoint (respx): answers, streams,
retries, and the BackendError each failure becomes.

`completion_payload`, `sse_body` and `sse_response` build realistic OpenAI payloads; other tests
import them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from qa.backends.base import BackendError, GenerationRequest, Message, Passage
from qa.backends.openai import OpenAIBackend
from qa.settings import Settings
from tests.fakes import OPENAI_MODEL as MODEL
from tests.fakes import completion_payload

BASE_URL = "https://api.example.test/v1"
CHAT_URL = BASE_URL + "/chat/completions"
API_KEY = "sk-test"
ANSWER = ("Taiwan plans to raise defence spending to 3.3% of GDP next year [1], while China's "
          "defence budget grows 7.2% [2].")
DELTAS = ["Taiwan plans", " to raise defence", " spending to 3.3% of GDP next year [1],",
          " while China's defence", " budget grows 7.2% [2]."]
assert "".join(DELTAS) == ANSWER


def sse_body(deltas: list[str], *, model: str = MODEL, usage: bool = False) -> str:
    """A streamed answer as OpenAI sends it: `chat.completion.chunk` events (a role-only delta,
    one per piece of `deltas`, a finish_reason chunk, optionally a `usage` chunk), then `[DONE]`."""
    def chunk(choices: list[dict], **extra: object) -> str:
        event = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
                 "created": 1741570283, "model": model, "system_fingerprint": "fp_06737a9306",
                 "choices": choices, **extra}
        return f"data: {json.dumps(event)}\n\n"

    def choice(delta: dict, finish_reason: str | None = None) -> dict:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    events = [chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
    events += [chunk([choice({"content": piece})]) for piece in deltas]
    events.append(chunk([choice({}, "stop")]))
    if usage:
        events.append(chunk([], usage={"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163}))
    return "".join(events) + "data: [DONE]\n\n"


def sse_response(deltas: list[str], **kwargs: object) -> httpx.Response:
    """A 200 `text/event-stream` response carrying `sse_body(deltas)`."""
    return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"},
                          content=sse_body(deltas, **kwargs).encode())


def error_payload(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def make_passage(number: int) -> Passage:
    return Passage(number=number, article_id=f"article{number}", chunk_id=0, title=f"Article {number}",
                   text=f"Passage {number} text.", start=0, end=20)


def make_request(passages: int = 2) -> GenerationRequest:
    return GenerationRequest(
        messages=[Message(role="system", content="Answer from the numbered passages and cite them like [1]."),
                  Message(role="user", content="How much will Taiwan spend on defence?")],
        question="How much will Taiwan spend on defence?",
        passages=[make_passage(n) for n in range(1, passages + 1)],
        max_tokens=300,
    )


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({}, openai_base_url=BASE_URL, openai_api_key=API_KEY, openai_model=MODEL,
                             openai_backoff=0.01)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def backend(settings: Settings, sleeps: Sleeps) -> Iterator[OpenAIBackend]:
    backend = OpenAIBackend(settings, sleep=sleeps)
    yield backend
    backend.close()


@pytest.fixture
def chat() -> Iterator[respx.Route]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock.post(CHAT_URL)


def raises_backend_error(call: object) -> BackendError:
    with pytest.raises(BackendError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_complete_returns_the_content_and_sends_an_openai_request(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(200, json=completion_payload(ANSWER))

    assert backend.complete(make_request()) == ANSWER

    assert chat.call_count == 1
    sent = chat.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(sent.content) == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Answer from the numbered passages and cite them like [1]."},
                     {"role": "user", "content": "How much will Taiwan spend on defence?"}],
        "max_tokens": 300,
        "temperature": 0.0,
        "stream": False,
    }


def test_no_authorization_header_without_a_key(settings: Settings, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(200, json=completion_payload(ANSWER))
    backend = OpenAIBackend(settings.replace(openai_api_key=""))  # replace ignores None, not ""

    assert backend.complete(make_request()) == ANSWER
    assert "authorization" not in chat.calls.last.request.headers


def test_stream_yields_the_deltas_in_order(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = sse_response(DELTAS)

    pieces = list(backend.stream(make_request()))

    assert pieces == DELTAS  # role-only and finish_reason chunks yield nothing
    assert json.loads(chat.calls.last.request.content)["stream"] is True


def test_stream_tolerates_comments_usage_crlf_and_split_reads(backend: OpenAIBackend, chat: respx.Route) -> None:
    deltas = ["Défense", " — 3.3% [1]."]
    body = (": OPENROUTER PROCESSING\n\n" + sse_body(deltas, usage=True)).replace("\n", "\r\n").encode()
    # Reads that end mid-line and inside a multi-byte character, as a real socket may deliver them.
    reads = [body[i:i + 7] for i in range(0, len(body), 7)]
    chat.return_value = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(reads))

    assert list(backend.stream(make_request())) == deltas


def test_rate_limit_is_retried_after_retry_after(backend: OpenAIBackend, chat: respx.Route, sleeps: Sleeps) -> None:
    chat.side_effect = [
        httpx.Response(429, headers={"retry-after": "0"},
                       json=error_payload("Rate limit reached for gpt-4o-mini on requests per min (RPM): "
                                          "Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded")),
        httpx.Response(200, json=completion_payload(ANSWER)),
    ]

    assert backend.complete(make_request()) == ANSWER
    assert chat.call_count == 2
    assert sleeps == [0.0]  # Retry-After, not the 0.01 s backoff


def test_rate_limit_exhausted_is_503_and_retry_after_is_capped(settings: Settings, chat: respx.Route,
                                                                sleeps: Sleeps) -> None:
    chat.return_value = httpx.Response(429, headers={"retry-after": "120"},
                                       json=error_payload("Rate limit reached", "requests", "rate_limit_exceeded"))
    backend = OpenAIBackend(settings.replace(openai_max_retries=1), sleep=sleeps)

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 503
    assert "rate limited" in str(error) and "Rate limit reached" in str(error)
    assert chat.call_count == 2
    assert sleeps == [30.0]


def test_repeated_server_errors_become_502_after_all_attempts(backend: OpenAIBackend, chat: respx.Route,
                                                              sleeps: Sleeps, settings: Settings) -> None:
    chat.return_value = httpx.Response(500, json=error_payload(
        "The server had an error while processing your request. Sorry about that!", "server_error"))

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 502
    assert str(error) == (f"the model endpoint {CHAT_URL} failed: HTTP 500 after 4 attempts: "
                          "The server had an error while processing your request. Sorry about that!")
    assert chat.call_count == settings.openai_max_retries + 1 == 4
    assert sleeps == pytest.approx([0.01, 0.02, 0.04])  # exponential backoff


def test_timeout_is_504_after_one_retry(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.side_effect = httpx.ReadTimeout("The read operation timed out")

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 504
    assert str(error) == f"the model endpoint {CHAT_URL} did not answer within 60 s"
    assert chat.call_count == 2  # timeouts are retried once only


def test_connection_refused_is_503_naming_the_url(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.side_effect = httpx.ConnectError("[Errno 111] Connection refused")

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 503
    assert f"cannot reach the model endpoint at {CHAT_URL}" in str(error)
    assert "Connection refused" in str(error)
    assert chat.call_count == 4


@pytest.mark.parametrize("response", [
    httpx.Response(200, text="not json"),
    httpx.Response(200, json={"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL}),
    httpx.Response(200, json={"id": "chatcmpl-1", "object": "chat.completion", "choices": []}),
    httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                                           "finish_reason": "stop"}]}),
], ids=["not-json", "no-choices", "empty-choices", "null-content"])
def test_malformed_body_is_502(backend: OpenAIBackend, chat: respx.Route, response: httpx.Response) -> None:
    chat.return_value = response

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 502
    assert str(error).startswith(f"malformed response from the model endpoint {CHAT_URL}: ")
    assert chat.call_count == 1


def test_stream_answered_with_one_json_completion(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(200, json=completion_payload(ANSWER))  # server ignored "stream": true

    assert list(backend.stream(make_request())) == [ANSWER]


def test_error_event_mid_stream_is_502(backend: OpenAIBackend, chat: respx.Route) -> None:
    error_event = json.dumps(error_payload("The server had an error while processing your request.", "server_error"))
    body = sse_body(DELTAS[:2]).replace("data: [DONE]", f"data: {error_event}")
    chat.return_value = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())
    received: list[str] = []

    with pytest.raises(BackendError) as info:
        received.extend(backend.stream(make_request()))

    assert received == DELTAS[:2]
    assert info.value.status == 502
    assert "The server had an error while processing your request." in str(info.value)
    assert chat.call_count == 1


def test_malformed_stream_event_is_502(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(200, headers={"content-type": "text/event-stream"},
                                       content=b"data: {\"choices\": [{\"delta\": {\"content\": \"Tai\n"
                                               b"data: [DONE]\n\n")

    error = raises_backend_error(lambda: list(backend.stream(make_request())))

    assert error.status == 502 and "malformed" in str(error)


def test_rejected_key_is_502_without_retry_or_leaking_the_key(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(401, json=error_payload(
        f"Incorrect API key provided: {API_KEY}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"))

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 502
    # Exact: the 401 body's reason is left out as it quotes the key.
    assert str(error) == f"the model endpoint {CHAT_URL} rejected the API key (set QA_OPENAI_API_KEY): HTTP 401"
    assert API_KEY not in str(error)
    assert chat.call_count == 1


def test_other_client_errors_pass_the_reason_on_without_retry(backend: OpenAIBackend, chat: respx.Route) -> None:
    chat.return_value = httpx.Response(400, json=error_payload(
        f"This model's maximum context length is 128000 tokens. However, your messages resulted in "
        f"130412 tokens. (key {API_KEY})", "invalid_request_error", "context_length_exceeded"))

    error = raises_backend_error(lambda: backend.complete(make_request()))

    assert error.status == 502
    assert "HTTP 400" in str(error) and "maximum context length is 128000 tokens" in str(error)
    assert API_KEY not in str(error)
    assert chat.call_count == 1


def test_out_of_range_citation_comes_back_verbatim(backend: OpenAIBackend, chat: respx.Route) -> None:
    text = "Taiwan will spend 3.3% of GDP on defence [2], more than Japan [7]."
    chat.return_value = httpx.Response(200, json=completion_payload(text))

    assert backend.complete(make_request(passages=4)) == text  # citation checks happen elsewhere


def test_stream_retries_a_503_before_the_first_delta(backend: OpenAIBackend, chat: respx.Route,
                                                     sleeps: Sleeps) -> None:
    chat.side_effect = [
        httpx.Response(503, json=error_payload("The engine is currently overloaded, please try again later.",
                                               "server_error")),
        sse_response(DELTAS),
    ]

    assert "".join(backend.stream(make_request())) == ANSWER
    assert chat.call_count == 2
    assert sleeps == [0.01]


def test_stream_broken_after_a_delta_is_not_retried(backend: OpenAIBackend, chat: respx.Route) -> None:
    def broken() -> Iterator[bytes]:
        body = sse_body(DELTAS).encode()
        yield body[: body.index(b"\n\n", body.index(b"Taiwan plans")) + 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    chat.side_effect = [httpx.Response(200, headers={"content-type": "text/event-stream"}, content=broken()),
                        sse_response(DELTAS)]
    received: list[str] = []

    with pytest.raises(BackendError) as info:
        for piece in backend.stream(make_request()):
            received.append(piece)

    assert received == ["Taiwan plans"]
    assert info.value.status == 502 and "broke off" in str(info.value)
    assert chat.call_count == 1
