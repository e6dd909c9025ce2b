"""`POST /v1/ask` (JSON, or server-sent events with `"stream": true`) and `POST /v1/ask/stream`."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from qa.answer_types import Answer, AskRequest
from qa.api import sse, validation
from qa.api.errors import ASK_ERRORS
from qa.api.schemas import AskBody, DeltaData, DoneData, PassagesData, StreamError
from qa.api.security import access
from qa.api.service import Service
from qa.api.threads import blocking

STREAM_EVENTS = ResponseSpec(
    data_container=PassagesData | DeltaData | Answer | DoneData | StreamError,  # type: ignore[arg-type,unused-ignore]
    media_type=sse.MEDIA_TYPE,
    generate_examples=False,
    description="Server-sent events, each `data:` one line of JSON: `passages` (PassagesData), `delta` "
    "(DeltaData, zero or more), `citations` (the full Answer; its text replaces the deltas), `done` "
    "(DoneData); on failure `error` (StreamError) and the stream ends.",
)


def to_request(body: AskBody, service: Service) -> AskRequest:
    """The validated request (400 with what to fix otherwise)."""
    return validation.ask_request(
        body.question, service.settings, k_value=body.k, filter_value=body.filters,
        history_value=body.history, model_name=body.model,
    )


def answer_events(service: Service, request: AskRequest) -> sse.EventStream:
    """The SSE response: passages, delta*, citations, done (or error); see `qa.api.sse`."""
    return sse.EventStream(sse.answer_stream(sse.iterate_in_thread(lambda: service.stream(request))))


class AskController(Controller):
    """Answers with citations, as one JSON Answer or as a stream of events."""

    path = "/ask"
    tags = ("answers",)

    @post("/", status_code=200, opt=access("read"), raises=ASK_ERRORS,
          summary="Answer a question, citing passages",
          description="Returns the checked Answer as JSON, or server-sent events with `\"stream\": true` "
          "(the same events as /v1/ask/stream). A failing answer backend gives its status (502/503/504).")
    async def ask(self, data: JSONBody[AskBody], service: NamedDependency[Service]) -> Answer:
        request = to_request(data, service)
        if data.stream:
            return answer_events(service, request)  # type: ignore[return-value]
        return await blocking(service.ask, request)

    @post("/stream", status_code=200, opt=access("read"), raises=ASK_ERRORS, media_type=sse.MEDIA_TYPE,
          responses={200: STREAM_EVENTS}, summary="Answer a question as server-sent events",
          description="`event: passages`, then `event: delta` (zero or more), then `event: citations` (the "
          "full Answer; its text replaces the deltas), then `event: done` with the timings. On failure: "
          "`event: error` with `{\"status\", \"message\"}`, and the stream ends.")
    async def ask_stream(self, data: JSONBody[AskBody], service: NamedDependency[Service]) -> sse.EventStream:
        return answer_events(service, to_request(data, service))
