"""The scale-out index: PostgreSQL document store + Milvus vector store, shared by any number of
stateless replicas (QA_STORE=scale). Same interface as `qa.index.Index` for retrieval, ingest and
the API.

A write first stores the new vectors in Milvus under chunk ids drawn from a PostgreSQL
sequence (each row with its article's source and published day, which Milvus filters on), then
commits the rows in one PostgreSQL transaction, then deletes the replaced vectors and gives the
Milvus rows of articles whose metadata alone changed their new source and day. A replica killed
between the steps leaves at worst vectors without rows (never returned: search results are joined
to rows), removed ids still in Milvus, which `qa_removed_chunks` keeps until they are deleted, or
Milvus rows with the old metadata, which `qa_metadata_sync` keeps until they are updated (both by
the next start of any writable replica, `catch_up`). An acknowledged write is therefore
complete in both stores, and there is no lock file: PostgreSQL transactions and per-article
advisory locks keep replicas writing at once consistent.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import psycopg

from qa.docstore import ChunkRow, StoredArticle
from qa.embed import Embedder
from qa.index import IndexMismatchError, IndexMissingError, IndexProblem, IndexStorageError, Manifest
from qa.settings import Settings
from qa.stores.milvus import MilvusStore
from qa.stores.postgres import PostgresDocStore
from qa.types import Chunk

log = logging.getLogger("qa.stores")


class _NoLock:
    """Readers and writers need no in-process exclusion: each engine is consistent on its own."""

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        yield


class ScaleIndex:
    """An open scale-out index (see the module docstring)."""

    def __init__(self, settings: Settings, manifest: Manifest, docstore: PostgresDocStore,
                 vectors: MilvusStore, embedder: Embedder | None, writable: bool) -> None:
        self.directory = Path(settings.index_dir)
        self.manifest = manifest
        self.docstore = docstore
        self.vectors = vectors
        self._embedder = embedder
        self._writable = writable
        self.rwlock = _NoLock()

    @classmethod
    def open(cls, settings: Settings, *, embedder: Embedder | None = None, writable: bool = True,
             create: bool = True) -> ScaleIndex:
        """Connect to PostgreSQL and Milvus; check (or record) what the index was built with."""
        try:
            docstore = PostgresDocStore(settings.postgres_dsn)
        except psycopg.Error as error:
            raise IndexProblem(f"cannot reach PostgreSQL at QA_POSTGRES_DSN ({error})") from None
        try:
            manifest = _manifest(docstore, settings, embedder, writable and create)
            manifest.check(settings, Path(docstore.path))
            if embedder is not None and embedder.dimension != manifest.dimension:
                raise IndexMismatchError(f"the index in {docstore.path} holds {manifest.dimension}-dimensional "
                                         f"vectors, the configured model makes {embedder.dimension}")
            try:
                vectors = MilvusStore.from_settings(settings, manifest.dimension)
            except Exception as error:  # pymilvus raises many kinds
                raise IndexProblem(f"cannot use Milvus at {settings.milvus_uri} ({error})") from None
            vectors.guarantee = docstore.milvus_ts  # the shared session (QA_MILVUS_CONSISTENCY=Session)
            index = cls(settings, manifest, docstore, vectors, embedder, writable)
            if writable:
                index.catch_up()
        except BaseException:
            docstore.close()
            raise
        return index

    @staticmethod
    def check_files(settings: Settings) -> None:
        """Nothing on local disk to check."""

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise IndexProblem("this operation needs the embedding model, which was not loaded")
        return self._embedder

    @property
    def writable(self) -> bool:
        return self._writable

    def close(self) -> None:
        self.docstore.close()

    def __enter__(self) -> ScaleIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def catch_up(self) -> int:
        """Delete from Milvus the vectors of chunks a write removed but an interrupted replica did
        not get to delete; returns how many."""
        done = 0
        while ids := self.docstore.pending_removals():
            self.vectors.remove(np.asarray(ids, dtype=np.int64))
            self.docstore.forget_removals(ids)
            done += len(ids)
        while articles := self.docstore.pending_metadata():
            self._sync_metadata(articles)
        self.docstore.record_milvus_ts(self.vectors.last_write_ts())
        return done

    def _sync_metadata(self, article_ids: Sequence[str]) -> None:
        """Give the Milvus rows of these articles their current source and date (Milvus 2.3 has no
        partial update: the rows are upserted whole, with the vectors PostgreSQL keeps)."""
        for article_id in article_ids:
            self.docstore.sync_metadata(article_id, self._push if self.vectors.has_scalars else _ignore)

    def _push(self, ids: np.ndarray, vectors: np.ndarray, scalars: list[tuple[str | None, str | None]]) -> None:
        self.vectors.add(ids, vectors, scalars)

    def save(self) -> None:
        """Nothing to save: both engines persist every acknowledged write."""

    def rebuild_vectors(self) -> None:
        """Write every vector kept in PostgreSQL into Milvus again (after losing the collection)."""
        for ids, vectors in self.docstore.iter_vectors():
            held = self.docstore.scalars_of(ids.tolist())
            self.vectors.add(ids, vectors, [held.get(int(i), (None, None)) for i in ids])

    # -- writes ---------------------------------------------------------------------------------
    def write(
        self,
        upserts: Sequence[tuple[StoredArticle, Sequence[Chunk], np.ndarray]] = (),
        metadata_updates: Sequence[StoredArticle] = (),
        deletions: Sequence[str] = (),
    ) -> int:
        """Commit a batch: vectors to Milvus, rows to PostgreSQL (one transaction), then drop the
        replaced vectors. Returns the write's sequence number."""
        if not self._writable:
            raise IndexProblem("the index was opened read-only")
        upserts = list(upserts)
        drawn = self.docstore.allocate_chunk_ids(sum(len(chunks) for _, chunks, _ in upserts))
        ids = np.asarray(drawn, dtype=np.int64)
        if len(ids):
            scalars = [(stored.article.source, stored.article.published)
                       for stored, chunks, _ in upserts for _ in chunks]
            self.vectors.add(ids, np.vstack([v for _, chunks, v in upserts if len(chunks)]), scalars)
        per_article, start = [], 0
        for _, chunks, _ in upserts:
            per_article.append(drawn[start:start + len(chunks)])
            start += len(chunks)
        try:
            seq, removed, _ = self.docstore.apply(upserts, metadata_updates, deletions, chunk_ids=per_article)
        except psycopg.Error as error:
            with contextlib.suppress(Exception):
                self.vectors.remove(ids)
            raise IndexStorageError(f"PostgreSQL refused the write ({error}); nothing of it was stored",
                                    disk_full="No space left" in str(error)) from None
        if removed:
            self.vectors.remove(np.asarray(removed, dtype=np.int64))
            self.docstore.forget_removals(removed)
        if metadata_updates:  # a replica killed before this leaves them in qa_metadata_sync: catch_up
            self._sync_metadata([stored.article.id for stored in metadata_updates])
        self.docstore.record_milvus_ts(self.vectors.last_write_ts())  # before the write is acknowledged
        return seq

    def delete(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles (their rows and vectors); returns the ids that existed."""
        existing = [a for a in article_ids if self.docstore.fingerprint(a) is not None]
        if existing:
            self.write(deletions=existing)
        return existing

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRow]:
        return self.docstore.get_chunks(chunk_ids)


def _ignore(*_: object) -> None:
    """A collection without scalar fields has nothing to update."""


def _manifest(docstore: PostgresDocStore, settings: Settings, embedder: Embedder | None, create: bool) -> Manifest:
    copy = docstore.meta("manifest")
    if copy is not None:
        return Manifest(**json.loads(copy))
    if not create:
        raise IndexMissingError(f"no index in {docstore.path}: run `qa ingest PATH` (or `qa migrate`) first")
    if embedder is None:
        raise IndexProblem("creating an index needs the embedding model")
    manifest = Manifest.for_settings(settings, embedder.dimension)
    docstore.set_meta("manifest", json.dumps(asdict(manifest), sort_keys=True))
    return manifest
