"""An answer backend for any OpenAI-compatible chat-completions endpoint: OpenAI itself, vLLM,
a llama.cpp server, Ollama's `/v1`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from qa.backends.base import BackendError, GenerationRequest, as_refusal, marking_refusals
from qa.settings import Settings

CHAT_PATH = "/chat/completions"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_DELAY = 30.0  # seconds; longer waits (e.g. a big Retry-After) are capped here
# A timeout has already cost the whole timeout; one more try is as long as a caller should wait.
TIMEOUT_RETRIES = 1
SNIPPET_CHARS = 200


class OpenAIBackend:
    """Answers through `POST {openai_base_url}/chat/completions`.

    HTTP 429/500/502/503/504 and dropped connections are retried up to
    `settings.openai_max_retries` times, waiting `settings.openai_backoff` seconds and doubling
    (or what `Retry-After` says, capped at 30 s); a timeout is retried once at most. A stream is
    retried only while nothing has been yielded. Whatever still fails raises `BackendError`:
    502 for a failing or malformed upstream, 503 when unreachable or rate limited, 504 on timeout.
    """

    name = "openai"
    uses_llm = True

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        if client is None:
            client = httpx.Client(
                base_url=settings.openai_base_url,
                timeout=httpx.Timeout(settings.openai_timeout, connect=10),
            )
        self._client = client
        # Sent per request (not set on the client) so an injected client gets it too; local
        # servers need no key, and some reject an empty `Bearer `.
        key = settings.openai_api_key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._sleep = sleep
        url = client.build_request("POST", CHAT_PATH).url
        self.url = str(url.copy_with(userinfo=b"", query=None, fragment=None))  # as error messages show it

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIBackend:
        """The backend as the registry builds it: `settings` only."""
        return cls(settings)

    def complete(self, request: GenerationRequest) -> str:
        """The whole answer text (`choices[0].message.content`)."""
        return as_refusal("".join(self._run(self._payload(request, stream=False), self._read_completion)))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The answer as it is generated: the non-empty `choices[0].delta.content` pieces.

        Lazy: the request is sent, and a `BackendError` raised, only once iteration starts."""
        return marking_refusals(self._run(self._payload(request, stream=True), self._read_stream))

    def close(self) -> None:
        """Close the HTTP client if this backend created it."""
        if self._owns_client:
            self._client.close()

    def _payload(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        return {
            "model": self.settings.openai_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }

    def _run(
        self, payload: dict[str, Any], read: Callable[[httpx.Response], Iterator[str]]
    ) -> Iterator[str]:
        """POST `payload` and yield what `read` gets from a successful response, retrying."""
        attempt = timeouts = 0
        while True:
            attempt += 1
            started = False
            delay = min(self.settings.openai_backoff * 2 ** (attempt - 1), MAX_DELAY)
            try:
                with self._client.stream("POST", CHAT_PATH, json=payload, headers=self._headers) as response:
                    if response.is_success:
                        for piece in read(response):
                            started = True
                            yield piece
                        return
                    response.read()
                    retryable = response.status_code in RETRY_STATUSES
                    failure = self._status_error(response, attempt)
                    retry_after = _retry_after(response)
                    delay = delay if retry_after is None else retry_after
            except httpx.TimeoutException as exc:
                timeouts += 1
                retryable = not started and timeouts <= TIMEOUT_RETRIES
                failure = self._timeout_error(exc, started)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                retryable = not started
                failure = self._connection_error(exc, attempt, started)
            except httpx.TransportError as exc:  # unsupported scheme, proxy failure: retrying won't help
                retryable = False
                failure = self._error(f"cannot reach the model endpoint at {self.url}: {_describe(exc)}", 503)
            if not retryable or attempt > self.settings.openai_max_retries:
                raise failure
            self._sleep(delay)

    def _read_completion(self, response: httpx.Response) -> Iterator[str]:
        yield self._completion_content(response)

    def _read_stream(self, response: httpx.Response) -> Iterator[str]:
        if "json" in response.headers.get("content-type", ""):
            # Some servers ignore `"stream": true` and answer with one JSON completion.
            yield self._completion_content(response)
            return
        for data in _sse_data(response.iter_lines()):
            if data == "[DONE]":
                return
            yield from self._chunk_content(data)

    def _completion_content(self, response: httpx.Response) -> str:
        response.read()
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(f"not JSON: {_snippet(response.text)!r}") from None
        if isinstance(body, dict) and "error" in body:
            raise self._error(f"the model endpoint {self.url} reported an error: {_error_message(body)}", 502)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._malformed(f"no choices[0].message.content in {_snippet(response.text)!r}") from None
        if not isinstance(content, str):
            raise self._malformed(f"choices[0].message.content is {type(content).__name__}, not text")
        return content

    def _chunk_content(self, data: str) -> Iterator[str]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise self._malformed(f"stream event is not JSON: {_snippet(data)!r}") from None
        if not isinstance(chunk, dict):
            raise self._malformed(f"stream event is not an object: {_snippet(data)!r}")
        if "error" in chunk:
            raise self._error(f"the model endpoint {self.url} failed mid-answer: {_error_message(chunk)}", 502)
        choices = chunk.get("choices")
        if not choices:  # e.g. the final `usage` chunk
            return
        try:
            content = (choices[0].get("delta") or {}).get("content")
        except (AttributeError, IndexError, TypeError):
            raise self._malformed(f"unexpected stream event: {_snippet(data)!r}") from None
        if content is not None and not isinstance(content, str):
            raise self._malformed(f"choices[0].delta.content is {type(content).__name__}, not text")
        if content:
            yield content

    def _status_error(self, response: httpx.Response, attempts: int) -> BackendError:
        status, tries, reason = response.status_code, _attempts(attempts), _error_message(response)
        if status in (401, 403):
            message = f"the model endpoint {self.url} rejected the API key (set QA_OPENAI_API_KEY): HTTP {status}"
            # A 401's reason echoes the key back; a 403's says which access is missing, so keep that one.
            return self._error(message + (f": {reason}" if status == 403 else ""), 502)
        if status == 429:
            return self._error(f"rate limited by the model endpoint {self.url}: HTTP 429 after {tries}: {reason}", 503)
        if status >= 500:
            return self._error(f"the model endpoint {self.url} failed: HTTP {status} after {tries}: {reason}", 502)
        return self._error(f"the model endpoint {self.url} refused the request: HTTP {status}: {reason}", 502)

    def _timeout_error(self, exc: httpx.TimeoutException, started: bool) -> BackendError:
        timeout = self._client.timeout
        seconds = timeout.connect if isinstance(exc, httpx.ConnectTimeout) else timeout.read
        within = f" within {seconds:g} s" if seconds is not None else ""
        if started:
            return self._error(f"the model endpoint {self.url} stopped sending the answer (nothing{within})", 504)
        return self._error(f"the model endpoint {self.url} did not answer{within}", 504)

    def _connection_error(self, exc: httpx.TransportError, attempts: int, started: bool) -> BackendError:
        if started:
            return self._error(f"the model endpoint {self.url} broke off the answer: {_describe(exc)}", 502)
        if isinstance(exc, httpx.ConnectError):
            return self._error(
                f"cannot reach the model endpoint at {self.url} after {_attempts(attempts)}: {_describe(exc)}", 503
            )
        return self._error(
            f"the model endpoint {self.url} dropped the connection after {_attempts(attempts)}: {_describe(exc)}", 502
        )

    def _malformed(self, detail: str) -> BackendError:
        return self._error(f"malformed response from the model endpoint {self.url}: {detail}", 502)

    def _error(self, message: str, status: int) -> BackendError:
        key = self.settings.openai_api_key
        if key:  # endpoints echo the key in error texts
            message = message.replace(key, "***")
        return BackendError(message, status=status)


from_settings = OpenAIBackend.from_settings


def _sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The `data` of each server-sent event: its `data:` lines joined, comments and other fields
    skipped."""
    data: list[str] = []
    for line in lines:
        if not line:  # a blank line ends the event
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, capped; None when absent or an HTTP date (then back off as usual)."""
    try:
        seconds = float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
    return min(max(seconds, 0.0), MAX_DELAY)


def _error_message(source: httpx.Response | dict[str, Any]) -> str:
    """The short reason in an error body: `error.message` (OpenAI, vLLM), a bare `error` string
    (Ollama) or `detail`, else the start of the body."""
    body: Any = source
    if isinstance(source, httpx.Response):
        try:
            body = source.json()
        except ValueError:
            return _snippet(source.text) or source.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _snippet(error["message"])
        if isinstance(error, str):
            return _snippet(error)
    return _snippet(json.dumps(body))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"
