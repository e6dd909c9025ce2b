"""Request and response bodies of the HTTP API (msgspec Structs, so Litestar validates them and
documents them in the OpenAPI schema at /schema). The answer itself is `qa.answer_types.Answer`."""

from __future__ import annotations

from typing import Literal

import msgspec

from qa.answer_types import Citation
from qa.backends.base import Message, Passage
from qa.docstore import StoredArticle
from qa.ingest import IngestReport
from qa.types import Filters, SearchResult


# --- /v1/ask ---------------------------------------------------------------------------------
class AskBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/ask`: a question about the articles; `stream: true` answers with server-sent events."""

    question: str
    k: int | None = None
    filters: Filters | None = None
    history: list[Message] = []
    model: str | None = None
    stream: bool = False


class PassagesData(msgspec.Struct, kw_only=True):
    """`event: passages` of an answer stream: the numbered passages the answer may cite."""

    passages: list[Passage]
    standalone_question: str


class DeltaData(msgspec.Struct, kw_only=True):
    """`event: delta`: the next piece of the answer as generated (before the citation check)."""

    text: str


class DoneData(msgspec.Struct, kw_only=True):
    """`event: done`: the stage timings in seconds; the stream ends."""

    timings: dict[str, float]


class StreamError(msgspec.Struct, kw_only=True):
    """`event: error`: what failed, with the HTTP status it stands for; the stream ends."""

    status: int
    message: str


# --- /v1/search ------------------------------------------------------------------------------
class SearchResponse(msgspec.Struct, kw_only=True):
    """`GET /v1/search`: the passages, best first (the same objects as `qa search --json`)."""

    results: list[SearchResult]


# --- /v1/articles ----------------------------------------------------------------------------
class IngestResponse(msgspec.Struct, kw_only=True):
    """`POST /v1/articles`: what happened to each article id."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    metadata_updated: list[str]
    chunks_embedded: int

    @classmethod
    def from_report(cls, report: IngestReport) -> IngestResponse:
        return cls(added=report.added, updated=report.updated, unchanged=report.unchanged,
                   metadata_updated=report.metadata_updated, chunks_embedded=report.chunks_embedded)


class ArticleSummary(msgspec.Struct, kw_only=True):
    """An article without its text, as listed by `GET /v1/articles`."""

    id: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    chunks: int

    @classmethod
    def from_stored(cls, stored: StoredArticle) -> ArticleSummary:
        a = stored.article
        return cls(id=a.id, title=a.title, url=a.url, published=a.published, source=a.source,
                   chunks=stored.n_chunks)


class ArticleList(msgspec.Struct, kw_only=True):
    """`GET /v1/articles`: one page of articles (newest first) and the index totals."""

    articles: list[ArticleSummary]
    total: int
    total_chunks: int
    limit: int
    offset: int


class ArticleDetail(msgspec.Struct, kw_only=True):
    """`GET /v1/articles/{id}`: the article with its cleaned text (citation offsets refer to it)."""

    id: str
    title: str
    text: str
    url: str | None
    published: str | None
    source: str | None
    chunks: int

    @classmethod
    def from_stored(cls, stored: StoredArticle) -> ArticleDetail:
        a = stored.article
        return cls(id=a.id, title=a.title, text=a.text, url=a.url, published=a.published,
                   source=a.source, chunks=stored.n_chunks)


# --- /v1/chat/completions (OpenAI-compatible) ------------------------------------------------
class ContentPart(msgspec.Struct, kw_only=True):
    """One part of a multi-part message content; only `{"type": "text", "text": ...}` is read."""

    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct, kw_only=True):
    """An OpenAI chat message (system, developer, user, assistant or tool)."""

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text, joining the text parts of a multi-part content."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/chat/completions`. Other OpenAI fields (temperature, max_tokens...) are accepted
    and ignored; `k` and `filters` are qa extensions."""

    messages: list[ChatMessage]
    model: str | None = None
    stream: bool = False
    k: int | None = None
    filters: Filters | None = None


class ModelCard(msgspec.Struct, kw_only=True):
    """An answer backend, as OpenAI's `GET /v1/models` describes a model."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "qa"


class ModelList(msgspec.Struct, kw_only=True):
    """`GET /v1/models`: the backends a request may choose (`QA_MODEL`, `QA_ALLOWED_MODELS`)."""

    data: list[ModelCard]
    object: str = "list"


class OpenAIErrorBody(msgspec.Struct, kw_only=True):
    """The inside of an error in OpenAI's shape."""

    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None


class OpenAIError(msgspec.Struct, kw_only=True):
    """An error of the OpenAI-compatible face, in OpenAI's shape: `{"error": {...}}`."""

    error: OpenAIErrorBody


class AssistantMessage(msgspec.Struct, kw_only=True):
    """The answer as a chat message; `content` ends with the numbered sources."""

    content: str
    role: str = "assistant"


class ChatChoice(msgspec.Struct, kw_only=True):
    index: int
    message: AssistantMessage
    finish_reason: str = "stop"
    logprobs: None = None


class ChatCompletion(msgspec.Struct, kw_only=True):
    """An OpenAI `chat.completion`, plus the checked `citations` as an extra field."""

    id: str
    created: int
    model: str
    choices: list[ChatChoice]
    citations: list[Citation]
    object: str = "chat.completion"


class ChunkDelta(msgspec.Struct, kw_only=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int
    delta: ChunkDelta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One `chat.completion.chunk` event; the last one carries `citations`."""

    id: str
    object: str  # always "chat.completion.chunk" (no default: omit_defaults would drop it)
    created: int
    model: str
    choices: list[ChunkChoice]
    citations: list[Citation] | None = None


# --- health ----------------------------------------------------------------------------------
class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`GET /healthz` and `GET /readyz`; `reason` says why the service is unavailable."""

    status: Literal["ok", "ready", "unavailable"]
    reason: str | None = None
    articles: int | None = None
    chunks: int | None = None
    model: str | None = None
    embedding_model: str | None = None
