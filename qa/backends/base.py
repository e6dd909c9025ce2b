"""The one small protocol every answer backend implements, and the data it receives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from qa.types import SearchHit

REFUSAL = "I don't know based on the provided articles."
"""What the answer prompt tells a model to say when the passages do not answer the question."""

# How instruction-following models say REFUSAL in their own words
_LLM_REFUSALS = re.compile(
    r"don['’]t know based on|do not know based on|passages do not (contain|mention|say)|"
    r"no information (about|on)|not (mentioned|covered) in the (passages|articles)",
    re.IGNORECASE,
)


class Refusal(str):
    """A text piece by which a backend declines to answer: the passages do not answer the question.

    Backends yield it from `stream` (alone, or as an empty marker after the text) and return it
    from `complete`; answering treats any `Refusal` piece as the backend's refusal."""


def marking_refusals(pieces: Iterator[str]) -> Iterator[str]:
    """An LLM's text deltas, then an empty `Refusal` marker when the text as a whole is a refusal."""
    text = []
    try:
        for piece in pieces:
            text.append(piece)
            yield piece
    finally:  # an abandoned stream releases the model now, not when collected
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    if _LLM_REFUSALS.search("".join(text)):
        yield Refusal()


def as_refusal(text: str) -> str:
    """`text`, as a `Refusal` when an LLM wrote it to decline."""
    return Refusal(text) if _LLM_REFUSALS.search(text) else text


class Message(msgspec.Struct, kw_only=True):
    """A chat message: role is system, user or assistant."""

    role: str
    content: str


class Passage(msgspec.Struct, kw_only=True):
    """A retrieved passage as numbered in the prompt: `[number]` cites it."""

    number: int
    article_id: str
    chunk_id: int
    title: str
    text: str
    start: int
    end: int
    published: str | None = None
    url: str | None = None
    source: str | None = None
    score: float = 0.0
    dense_score: float | None = None

    @classmethod
    def from_hit(cls, hit: SearchHit, number: int) -> Passage:
        """A search hit as passage [`number`] of a prompt."""
        return cls(number=number, article_id=hit.article_id, chunk_id=hit.chunk_id, title=hit.title, text=hit.text,
                   start=hit.start, end=hit.end, published=hit.published, url=hit.url, source=hit.source,
                   score=hit.score, dense_score=hit.dense_score)


class GenerationRequest(msgspec.Struct, kw_only=True):
    """What a backend is asked to do: answer `question` from `passages`.

    LLM backends send `messages` (the rendered prompt, passages included); backends without a
    language model (extractive) work from `question` and `passages` directly.
    """

    messages: list[Message]
    question: str
    passages: list[Passage] = []
    max_tokens: int = 400
    temperature: float = 0.0


class BackendError(RuntimeError):
    """The model backend failed; `status` is the HTTP status the service should answer with
    (502 bad upstream response, 503 unavailable, 504 timed out) and the message says why."""

    def __init__(self, message: str, *, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


class Backend(Protocol):
    """Generates answer text. `stream` yields text deltas; `complete` returns the whole text."""

    name: str
    uses_llm: bool  # False for backends that cannot follow a prompt (e.g. extractive)

    def stream(self, request: GenerationRequest) -> Iterator[str]: ...

    def complete(self, request: GenerationRequest) -> str: ...
