"""Data that crosses module boundaries: articles, chunks, search hits and filters."""

from __future__ import annotations

import msgspec


class Article(msgspec.Struct, kw_only=True):
    """One news article as ingested; `text` is the cleaned text every offset refers to."""

    id: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    source: str | None = None


class Chunk(msgspec.Struct, kw_only=True):
    """A token-bounded passage of an article; `text == article.text[start:end]`."""

    article_id: str
    position: int
    text: str
    start: int
    end: int
    n_tokens: int  # tiktoken count, for prompt budgeting
    id: int | None = None  # assigned by the document store


class FilterError(ValueError):
    """Search filters that cannot be applied; the message says which field and why."""


class Filters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Restrict a search to a source and/or a published date range (inclusive, YYYY-MM-DD).

    `as_of` asks as of that day: articles published later are left out (undated ones stay), and
    freshness is measured back from it, so "this week" means that week."""

    source: str | None = None
    published_from: str | None = None
    published_to: str | None = None
    as_of: str | None = None

    def is_empty(self) -> bool:
        return self.source is None and self.published_from is None and self.published_to is None and self.as_of is None

    def normalized(self) -> Filters:
        """The one rule for filters (CLI and API): dates as YYYY-MM-DD, a blank source dropped;
        `FilterError` for a date that is not ISO or a range that ends before it starts."""
        from qa.loaders import ArticleError, normalize_date  # loaders builds on these types

        try:
            published_from = normalize_date(self.published_from, "published_from") if self.published_from else None
            published_to = normalize_date(self.published_to, "published_to") if self.published_to else None
            as_of = normalize_date(self.as_of, "as_of") if self.as_of else None
        except ArticleError as error:
            raise FilterError(str(error)) from None
        if published_from and published_to and published_from > published_to:
            raise FilterError(f"published_from ({published_from}) is after published_to ({published_to}): swap them")
        source = self.source.strip() if self.source and self.source.strip() else None
        return Filters(source=source, published_from=published_from, published_to=published_to, as_of=as_of)


class SearchHit(msgspec.Struct, kw_only=True):
    """One retrieved passage with its article metadata and fused score."""

    article_id: str
    chunk_id: int
    title: str
    text: str
    score: float
    start: int
    end: int
    published: str | None = None
    url: str | None = None
    source: str | None = None
    dense_score: float | None = None  # cosine similarity, when the dense search found it
    keyword_rank: int | None = None  # 1-based BM25 rank, when the keyword search found it


class SearchResult(msgspec.Struct, kw_only=True):
    """A search hit as `qa search --json` and `GET /v1/search` show it: the passage, where it sits
    in its article (`text == article_text[start:end]`), and the article's metadata."""

    article_id: str
    chunk_id: int
    title: str
    text: str
    score: float
    start: int
    end: int
    published: str | None
    url: str | None
    source: str | None

    @classmethod
    def from_hit(cls, hit: SearchHit) -> SearchResult:
        return cls(article_id=hit.article_id, chunk_id=hit.chunk_id, title=hit.title, text=hit.text,
                   score=hit.score, start=hit.start, end=hit.end, published=hit.published, url=hit.url,
                   source=hit.source)


class LoadProblem(msgspec.Struct, kw_only=True):
    """An input that could not be turned into an article: where, and what to fix."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"
