"""`POST /v1/chat/completions`: the answerer behind the OpenAI chat-completions protocol, so any
OpenAI client (or chat UI) can ask. The last user message is the question, earlier user and
assistant messages are the history, and `model` picks the backend when it names one.

Citations travel as an extra top-level `citations` field (in the last chunk when streaming), and
the message content ends with `\\n\\nSources:\\n[1] Title (published) url` for clients that
ignore extra fields.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from qa.answer_types import Answer, AskRequest, Citation, DeltaEvent, FinalEvent
from qa.api import sse, validation
from qa.api.errors import ASK_ERRORS, READ_ERRORS
from qa.api.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    ChunkDelta,
    ModelCard,
    ModelList,
    OpenAIError,
    OpenAIErrorBody,
)
from qa.api.security import access
from qa.api.service import Service
from qa.api.threads import blocking
from qa.backends.base import Message

HISTORY_ROLES = frozenset({"user", "assistant"})  # client system prompts don't steer the answerer


def model_not_found(_: Request, exc: validation.ModelNotEnabled) -> Response[OpenAIError]:
    """`model` names no backend this service enabled: 404 in OpenAI's shape, as OpenAI answers."""
    message = (f"the model {exc.model!r} does not exist on this service: choose one of "
               f"{', '.join(exc.enabled)} (GET /v1/models lists them)")
    return Response(OpenAIError(error=OpenAIErrorBody(message=message, param="model", code="model_not_found")),
                    status_code=404)


MODEL_NOT_FOUND = ResponseSpec(OpenAIError, generate_examples=False,
                               description="`model` names no backend this service enabled "
                               "(OpenAI's error shape, `code: model_not_found`).")


def to_request(body: ChatCompletionRequest, service: Service) -> AskRequest:
    """The question (the last user message), its history, and the backend `model` names."""
    if not body.messages:
        raise ClientException('"messages" is empty: send at least one {"role": "user", "content": ...}')
    last = body.messages[-1]
    if last.role != "user":
        raise ClientException(f'the last message must be the user\'s question (its role is {last.role!r})')
    earlier = body.messages[:-1]
    validation.history_size(len(earlier), sum(len(m.text()) for m in earlier), service.settings,
                            field="messages before the question")
    history = [Message(role=m.role, content=m.text()) for m in body.messages[:-1]
               if m.role in HISTORY_ROLES and m.text().strip()]
    model = validation.model(body.model or None, service.settings)
    return validation.ask_request(
        last.text(), service.settings, k_value=body.k, filter_value=body.filters,
        history_value=history, model_name=model,
    )


def sources(citations: list[Citation]) -> str:
    """`\\n\\nSources:\\n[1] Title (published) url`, one line per cited marker; "" when none."""
    lines, seen = [], set()
    for citation in sorted(citations, key=lambda c: c.marker):
        if citation.marker in seen:
            continue
        seen.add(citation.marker)
        line = f"[{citation.marker}] {citation.title}"
        if citation.published:
            line += f" ({citation.published})"
        if citation.url:
            line += f" {citation.url}"
        lines.append(line)
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def completion(answer: Answer, completion_id: str, created: int) -> ChatCompletion:
    """The answer as a `chat.completion`."""
    return ChatCompletion(
        id=completion_id, created=created, model=answer.model,
        choices=[ChatChoice(index=0, message=AssistantMessage(content=answer.answer + sources(answer.citations)))],
        citations=answer.citations,
    )


def _chunk(completion_id: str, created: int, model: str, delta: ChunkDelta,
           finish_reason: str | None = None, citations: list[Citation] | None = None) -> bytes:
    return sse.data_only(ChatCompletionChunk(
        id=completion_id, object="chat.completion.chunk", created=created, model=model,
        choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)], citations=citations,
    ))


async def completion_chunks(service: Service, request: AskRequest, completion_id: str,
                            created: int) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` events: the role, the text as generated, then the sources and the
    citations, then `data: [DONE]`. If the citation check changed the streamed text, the checked
    answer follows it (a stream cannot take text back). Errors: `data: {"error": {...}}`."""
    model = service.settings.model_for(request.model)
    yield _chunk(completion_id, created, model, ChunkDelta(role="assistant", content=""))
    streamed: list[str] = []
    try:
        async for event in sse.iterate_in_thread(lambda: service.stream(request)):
            if isinstance(event, DeltaEvent):
                streamed.append(event.text)
                yield _chunk(completion_id, created, model, ChunkDelta(content=event.text))
            elif isinstance(event, FinalEvent):
                answer = event.answer
                tail = _checked_tail("".join(streamed), answer) + sources(answer.citations)
                if tail:
                    yield _chunk(completion_id, created, answer.model or model, ChunkDelta(content=tail))
                yield _chunk(completion_id, created, answer.model or model, ChunkDelta(),
                             finish_reason="stop", citations=answer.citations)
    except Exception as error:  # noqa: BLE001 - reported in-band, as OpenAI does
        status, message = sse.error_status(error)
        yield sse.data_only({"error": {"message": message, "type": "backend_error" if status >= 500
                                       else "invalid_request_error", "code": status}})
        return
    yield sse.data_only("[DONE]")


def _checked_tail(streamed: str, answer: Answer) -> str:
    """What to append so the client ends with the checked answer: nothing when the stream already
    was that answer, the answer itself when nothing was streamed, the refusal verdict when the
    check refused, else the checked answer, marked as such."""
    if " ".join(streamed.split()) == " ".join(answer.answer.split()):
        return ""
    if not streamed.strip():
        return answer.answer
    if answer.refused:
        return "\n\n" + answer.answer
    return "\n\nChecked answer: " + answer.answer


class ChatController(Controller):
    """The OpenAI-compatible face: chat completions and the list of models."""

    path = "/"
    tags = ("openai",)
    exception_handlers = {validation.ModelNotEnabled: model_not_found}  # noqa: RUF012 - read by Litestar

    @get("/models", opt=access("read"), raises=READ_ERRORS,
         summary="The answer backends a request may choose (OpenAI's list of models)")
    async def list_models(self, service: NamedDependency[Service]) -> ModelList:
        """Chat UIs ask for this first, then send one of the ids as `model`."""
        return ModelList(data=[ModelCard(id=name) for name in service.settings.enabled_models()])

    @post("/chat/completions", status_code=200, opt=access("read"), raises=ASK_ERRORS,
          responses={404: MODEL_NOT_FOUND}, summary="OpenAI-compatible chat completions",
          description="`chat.completion` (or `chat.completion.chunk` server-sent events with `\"stream\": "
          "true`, ending with `data: [DONE]`) plus a top-level `citations` field.")
    async def chat_completions(self, data: JSONBody[ChatCompletionRequest],
                               service: NamedDependency[Service]) -> ChatCompletion:
        request = to_request(data, service)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if data.stream:
            return sse.EventStream(completion_chunks(service, request, completion_id, created))  # type: ignore[return-value]
        answer = await blocking(service.ask, request)
        return completion(answer, completion_id, created)
