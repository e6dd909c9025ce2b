"""The data of a question and its cited answer, as returned by `qa ask --json` and the HTTP API."""

from __future__ import annotations

from typing import Literal

import msgspec

from qa.backends.base import Message, Passage
from qa.types import Filters


class AskRequest(msgspec.Struct, kw_only=True):
    """A question, with optional filters, conversation history and backend choice."""

    question: str
    k: int | None = None
    filters: Filters | None = None
    history: list[Message] = []
    model: str | None = None


class Citation(msgspec.Struct, kw_only=True):
    """A checked citation: which passage `[marker]` points to, and the exact quoted span."""

    marker: int
    article_id: str
    chunk_id: int
    title: str
    url: str | None
    published: str | None
    quote: str  # the sentence(s) of the passage that support the cited answer sentence
    start: int  # character span of `quote` in the cleaned article text
    end: int
    source: str | None = None


SentenceAction = Literal["kept", "recited", "dropped"]
"""kept: its own citations support it; recited: another passage does, and is cited instead; dropped: none
does, or (written answers) it states nothing but where its facts come from."""


class SentenceCheck(msgspec.Struct, kw_only=True):
    """What the citation check did with one answer sentence."""

    sentence: str
    cited: list[int]  # markers the model gave
    supported_by: list[int]  # markers kept after the check
    support: float  # best support score among the kept markers (0..1); if dropped, the best one seen
    action: SentenceAction


class Answer(msgspec.Struct, kw_only=True):
    """A cited answer. `answer` carries `[n]` markers that resolve through `citations`."""

    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    timings: dict[str, float]
    question: str = ""
    standalone_question: str = ""
    model: str = ""
    prompt_version: str = ""
    checks: list[SentenceCheck] = []


# Events of a streamed answer, in order: passages, delta*, final (or error at any point).
class PassagesEvent(msgspec.Struct, tag="passages", kw_only=True):
    passages: list[Passage]
    standalone_question: str


class DeltaEvent(msgspec.Struct, tag="delta", kw_only=True):
    text: str


class FinalEvent(msgspec.Struct, tag="final", kw_only=True):
    answer: Answer


AnswerEvent = PassagesEvent | DeltaEvent | FinalEvent
