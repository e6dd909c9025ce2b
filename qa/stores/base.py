"""The `DocumentStore` protocol: what the index, retrieval, ingest and the API read and write of
a document store. `qa.docstore.DocStore` (SQLite, embedded) and
`qa.stores.postgres.PostgresDocStore` (scale-out) implement it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from qa.docstore import ChunkRow, Fingerprint, StoredArticle
from qa.types import Chunk, Filters


class DocumentStore(Protocol):
    """Articles, chunks, their vectors and keyword search; the source of truth of an index."""

    def close(self) -> None: ...

    # identity and bookkeeping
    def seq(self) -> int: ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    @property
    def index_id(self) -> str: ...

    # reads
    def get_article(self, article_id: str) -> StoredArticle | None: ...

    def list_articles(self, *, limit: int = 100, offset: int = 0) -> list[StoredArticle]: ...

    def count(self) -> tuple[int, int]: ...

    def fingerprint(self, article_id: str) -> Fingerprint | None: ...

    def origins_under(self, origin_prefix: str) -> dict[str, str]: ...

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def published_of(self, chunk_ids: Sequence[int]) -> dict[int, str | None]: ...

    def chunks_of(self, article_id: str) -> list[Chunk]: ...

    def filtered_chunk_ids(self, filters: Filters) -> np.ndarray: ...

    def passing(self, chunk_ids: Sequence[int], filters: Filters) -> set[int]: ...

    def keyword_search(self, query: str, limit: int, filters: Filters | None = None,
                       overfetch: int = ...) -> list[int]: ...

    def vectors_of(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]: ...

    def iter_vectors(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    # writes
    def apply(
        self,
        upserts: Iterable[tuple[StoredArticle, Sequence[Chunk], np.ndarray]],
        metadata_updates: Iterable[StoredArticle] = (),
        deletions: Iterable[str] = (),
    ) -> tuple[int, list[int], list[Chunk]]: ...
