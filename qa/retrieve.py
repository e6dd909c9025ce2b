"""Hybrid retrieval: dense FAISS search fused with BM25 keyword search by reciprocal rank fusion,
weighted by how fresh each passage's article is."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from qa.docstore import FILTER_OVERFETCH
from qa.embed import Embedder
from qa.embed_batch import query_batcher
from qa.index import Index
from qa.settings import Settings
from qa.types import Filters, SearchHit

T = TypeVar("T")


KEYWORD_THREADS = 4


def keyword_pool() -> ThreadPoolExecutor:
    """Threads for the BM25 search that runs beside the query encode (the service shares one)."""
    return ThreadPoolExecutor(max_workers=KEYWORD_THREADS, thread_name_prefix="qa-keyword")


def _timed(function: Callable[..., T], *args: Any) -> tuple[T, float]:
    """`function(*args)` and the milliseconds it took."""
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000


@dataclass
class SearchTimings:
    """Milliseconds spent in each retrieval stage."""

    embed_ms: float = 0.0
    dense_ms: float = 0.0
    keyword_ms: float = 0.0
    fetch_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.__dict__.items()}


@dataclass
class SearchResult:
    """Ranked hits plus where the time went."""

    hits: list[SearchHit]
    timings: SearchTimings = field(default_factory=SearchTimings)


class Searcher(Protocol):
    """What answering needs of a retriever (evaluation wraps one to leave articles out)."""

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> SearchResult: ...


class Retriever:
    """Finds the passages most relevant to a question in an open `Index`."""

    def __init__(self, index: Index, settings: Settings, *, pool: Executor | None = None,
                 query_encoder: Embedder | None = None) -> None:
        """`pool` runs keyword searches and `query_encoder` encodes queries (a `QueryBatcher`, so
        concurrent queries share encoder calls); by default this retriever makes its own."""
        self.index = index
        self.pool = pool if pool is not None else keyword_pool()
        self.query_encoder = query_batcher(query_encoder or index.embedder)
        self.candidates = settings.search_candidates
        self.rrf_k = settings.rrf_k
        self.recency = Recency(settings.recency_weight, settings.recency_half_life_days)

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> SearchResult:
        """The top `k` passages for `query`, best first, restricted by `filters`.

        Freshness is measured back from `filters.as_of` (today when not given), so that with an
        as-of date "this week" means that week."""
        timings = SearchTimings()
        as_of = as_of_date(filters)
        filters = filters if filters is not None and not filters.is_empty() else None
        n = max(k, self.candidates)
        with self.index.rwlock.reading():
            # BM25 runs in SQLite (no GIL) while the model encodes the query
            keyword_future = self.pool.submit(_timed, self.index.docstore.keyword_search, query, n, filters)
            started = time.perf_counter()
            query_vector = self.query_encoder.encode([query])  # shares calls with concurrent queries
            timings.embed_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            dense = self._dense(query_vector, n, filters)
            timings.dense_ms = (time.perf_counter() - started) * 1000
            keyword, timings.keyword_ms = keyword_future.result()
            fused = reciprocal_rank_fusion([[i for i, _ in dense], keyword], self.rrf_k)
            if self.recency.weight > 0 and fused:
                published = self.index.docstore.published_of([chunk_id for chunk_id, _ in fused])
                fused = self.recency.rerank(fused, published, as_of)
            top = [chunk_id for chunk_id, _ in fused[:k]]
            started = time.perf_counter()
            rows = self.index.get_chunks(top)
            dense_scores = dict(dense)
            missing_dense = [i for i in top if i in rows and i not in dense_scores]
            dense_scores |= self._cosines(query_vector[0], missing_dense)
            timings.fetch_ms = (time.perf_counter() - started) * 1000
        keyword_ranks = {chunk_id: rank for rank, chunk_id in enumerate(keyword, start=1)}
        hits = []
        for chunk_id, score in fused[:k]:
            row = rows.get(chunk_id)
            if row is None:  # deleted between the two searches
                continue
            hits.append(
                SearchHit(
                    article_id=row.chunk.article_id,
                    chunk_id=chunk_id,
                    title=row.title,
                    text=row.chunk.text,
                    score=round(score, 6),
                    start=row.chunk.start,
                    end=row.chunk.end,
                    published=row.published,
                    url=row.url,
                    source=row.source,
                    dense_score=round(dense_scores[chunk_id], 6) if chunk_id in dense_scores else None,
                    keyword_rank=keyword_ranks.get(chunk_id),
                )
            )
        return SearchResult(hits, timings)

    def _dense(self, query_vector: np.ndarray, n: int, filters: Filters | None) -> list[tuple[int, float]]:
        """The `n` nearest passages that pass `filters`, as (chunk id, cosine).

        Filters that let most passages through (a date, a big source) are applied to an
        over-fetched unfiltered search, which is as fast as no filter; only when too few of those
        pass does FAISS search with the exact set of allowed ids. A vector store that holds the
        articles' metadata (Milvus) applies the filters itself, in one search."""
        if filters is not None:
            pushed = self.index.vectors.search_filtered(query_vector, n, filters)
            if pushed is not None:
                return [(int(i), float(s)) for i, s in zip(pushed[1][0], pushed[0][0]) if i >= 0]
            fetch = n * FILTER_OVERFETCH
            scores, ids = self.index.vectors.search(query_vector, fetch)
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            passing = self.index.docstore.passing([i for i, _ in found], filters)
            dense = [(i, s) for i, s in found if i in passing][:n]
            if len(dense) == n or len(found) < fetch:  # enough, or nothing more to find
                return dense
            allowed = self.index.docstore.filtered_chunk_ids(filters)
            if len(allowed) == 0:
                return []
            scores, ids = self.index.vectors.search(query_vector, n, allowed_ids=allowed)
        else:
            scores, ids = self.index.vectors.search(query_vector, n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _cosines(self, query_vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        """Cosine similarity for hits only the keyword search found (so every hit has one)."""
        if not chunk_ids:
            return {}
        vectors = self.index.docstore.vectors_of(chunk_ids)
        return {i: float(np.dot(v, query_vector)) for i, v in vectors.items()}


@dataclass(frozen=True)
class Recency:
    """Freshness weighting: a passage published `age` days before the as-of date keeps
    `(1 - weight) + weight * 0.5 ** (age / half_life_days)` of its score. Undated articles count
    as old; articles dated after the as-of date count as new."""

    weight: float
    half_life_days: float

    def factor(self, published: str | None, as_of: dt.date) -> float:
        if self.weight <= 0:
            return 1.0
        age = age_days(published, as_of)
        if age is None:
            return 1.0 - self.weight
        return 1.0 - self.weight + self.weight * 0.5 ** (max(age, 0) / self.half_life_days)

    def rerank(
        self, fused: list[tuple[int, float]], published: dict[int, str | None], as_of: dt.date
    ) -> list[tuple[int, float]]:
        """`fused` (chunk id, score) with scores weighted by freshness, best first."""
        weighted = [(chunk_id, score * self.factor(published.get(chunk_id), as_of)) for chunk_id, score in fused]
        return sorted(weighted, key=lambda pair: (-pair[1], pair[0]))


def age_days(published: str | None, as_of: dt.date) -> int | None:
    """Days from `published` (ISO date) to `as_of`; None when undated or unreadable."""
    try:
        return (as_of - dt.date.fromisoformat(published[:10])).days if published else None
    except ValueError:
        return None


def as_of_date(filters: Filters | None) -> dt.date:
    """The day a search is made as of: `filters.as_of`, today (UTC) when not given."""
    if filters is not None and filters.as_of:
        return dt.date.fromisoformat(filters.as_of)
    return dt.datetime.now(dt.UTC).date()


def published_within(hits: list[SearchHit], days: int, filters: Filters | None) -> list[SearchHit]:
    """The hits published at most `days` days before the as-of date (`as_of_date`); undated ones stay."""
    as_of = as_of_date(filters)
    return [hit for hit in hits if (age := age_days(hit.published, as_of)) is None or age <= days]


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings: score(d) = sum over rankings of 1 / (k + rank of d). Best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
