"""Hybrid retrieval: dense FAISS search fused with BM25 keyword search by reciprocal rank fusion."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qa.index import Index
from qa.settings import Settings
from qa.types import Filters, SearchHit


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


class Retriever:
    """Finds the passages most relevant to a question in an open `Index`."""

    def __init__(self, index: Index, settings: Settings) -> None:
        self.index = index
        self.candidates = settings.search_candidates
        self.rrf_k = settings.rrf_k

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> SearchResult:
        """The top `k` passages for `query`, best first, restricted by `filters`."""
        timings = SearchTimings()
        filters = filters if filters is not None and not filters.is_empty() else None
        started = time.perf_counter()
        query_vector = self.index.embedder.encode([query])
        timings.embed_ms = (time.perf_counter() - started) * 1000
        n = max(k, self.candidates)
        with self.index.rwlock.reading():
            started = time.perf_counter()
            allowed = self.index.docstore.filtered_chunk_ids(filters) if filters else None
            if allowed is not None and len(allowed) == 0:
                return SearchResult([], timings)
            scores, ids = self.index.vectors.search(query_vector, n, allowed_ids=allowed)
            dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            timings.dense_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            keyword = self.index.docstore.keyword_search(query, n, filters)
            timings.keyword_ms = (time.perf_counter() - started) * 1000
            fused = reciprocal_rank_fusion([[i for i, _ in dense], keyword], self.rrf_k)
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

    def _cosines(self, query_vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        """Cosine similarity for hits only the keyword search found (so every hit has one)."""
        if not chunk_ids:
            return {}
        vectors = self.index.docstore.vectors_of(chunk_ids)
        return {i: float(np.dot(v, query_vector)) for i, v in vectors.items()}


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings: score(d) = sum over rankings of 1 / (k + rank of d). Best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
