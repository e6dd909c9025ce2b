"""Server-sent events: the wire format, and running a blocking generator off the event loop.

The answer stream (`POST /v1/ask/stream`, or `/v1/ask` with `"stream": true`) is, exactly (the
`data` shapes are the Structs of `qa.api.schemas`: PassagesData, DeltaData, Answer, DoneData,
StreamError):

    event: passages\\ndata: {"passages": [...], "standalone_question": "..."}\\n\\n
    event: delta\\ndata: {"text": "..."}\\n\\n                 (zero or more)
    event: citations\\ndata: <the full Answer object>\\n\\n   (its text replaces the deltas)
    event: done\\ndata: {"timings": {...}}\\n\\n

and on any error, at any point: `event: error\\ndata: {"status": 503, "message": "..."}\\n\\n`,
after which the stream ends. Every `data:` is one line of compact JSON.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import msgspec
from litestar.response import Stream

from qa.answer_types import AnswerEvent, DeltaEvent, FinalEvent, PassagesEvent
from qa.api import request_ids
from qa.api.schemas import DeltaData, DoneData, PassagesData, StreamError
from qa.backends import BackendError, UnknownBackendError

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering

T = TypeVar("T")
log = logging.getLogger("qa.api")
_ITEM, _DONE, _ERROR = 0, 1, 2


class EventStream(Stream):
    """A streamed `text/event-stream` response, whatever media type its handler declares (a
    handler may answer JSON or, on request, events)."""

    def __init__(self, content: AsyncIterator[bytes]) -> None:
        super().__init__(content, media_type=MEDIA_TYPE, headers=HEADERS)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["media_type"] = MEDIA_TYPE
        return super().to_asgi_response(*args, **kwargs)


def event(name: str, data: Any) -> bytes:
    """One named event: `event: <name>\\ndata: <json>\\n\\n`."""
    return b"event: " + name.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


def data_only(data: Any) -> bytes:
    """An unnamed event, as OpenAI streams use: `data: <json>\\n\\n` (`data: [DONE]` for a str)."""
    payload = data.encode() if isinstance(data, str) else msgspec.json.encode(data)
    return b"data: " + payload + b"\n\n"


def error_status(error: BaseException) -> tuple[int, str]:
    """The HTTP status and message an exception raised while answering stands for (call it in
    the `except` block: an unexpected error is logged with its traceback)."""
    if isinstance(error, BackendError):
        log.warning("answer backend failed (%s) [request %s]: %s", error.status, request_ids.current(), error)
        return error.status, str(error)
    if isinstance(error, UnknownBackendError):
        return 400, str(error)
    log.error("answer stream failed [request %s]: %s: %s", request_ids.current(), type(error).__name__, error,
              exc_info=error)
    return 500, "internal error while answering; see the service log"


async def iterate_in_thread(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Iterate `make()` in a worker thread and yield its items on the event loop.

    The loop stays free for other requests. When the consumer stops early (the client
    disconnected and the response task was cancelled), the worker stops at the next item and
    closes the generator, so generation ends too.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    stop = threading.Event()

    def post(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone (server shutting down)
            stop.set()

    def work() -> None:
        try:
            items = make()
            try:
                for item in items:
                    if stop.is_set():
                        break
                    post(_ITEM, item)
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            post(_ERROR, error)
        else:
            post(_DONE, None)

    worker = threading.Thread(target=work, name="qa-stream", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()


async def answer_stream(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[bytes]:
    """The answer events in the wire format above; errors become an `error` event."""
    try:
        async for item in events:
            if isinstance(item, PassagesEvent):
                yield event("passages", PassagesData(passages=item.passages,
                                                     standalone_question=item.standalone_question))
            elif isinstance(item, DeltaEvent):
                yield event("delta", DeltaData(text=item.text))
            elif isinstance(item, FinalEvent):
                yield event("citations", item.answer)
                yield event("done", DoneData(timings=item.answer.timings))
    except Exception as error:  # noqa: BLE001 - every failure is reported in-band
        status, message = error_status(error)
        yield event("error", StreamError(status=status, message=message))
