"""The index on disk: a manifest, the SQLite document store and the FAISS vector store, kept
consistent under concurrent readers and crashes.

Layout of an index folder:
    manifest.json   what built it: encoder and embedding model, dimension, chunker settings, index type
                    (docs.sqlite keeps a copy, from which an unreadable manifest is recovered)
    docs.sqlite     articles, chunks, vectors, keyword index (the source of truth), and the
                    index identity and sequence number
    vectors.faiss   the vector store, replaced atomically; it carries the same identity and the
                    sequence number it reflects. Behind: caught up; short, garbled, non-finite,
                    ahead of or foreign to docs.sqlite: rebuilt from docs.sqlite, with a warning
    write.lock      held by the one process allowed to write

A missing or unreadable docs.sqlite is an error naming the file and the way out, never a silent
start from nothing next to old vectors. A write the disk refuses is an `IndexStorageError`
(`disk_full` says whether space ran out), and nothing of it is stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from qa.docstore import ChunkRow, DocStore, StoredArticle
from qa.embed import Embedder
from qa.index_errors import (
    IndexDamagedError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexProblem,
    IndexStorageError,
    storage_error,
)
from qa.manifest import MANIFEST_FILE, Manifest, load_manifest, read_manifest
from qa.settings import Settings
from qa.types import Chunk
from qa.vectorstore import FaissStore, VectorStoreError

__all__ = [  # the errors are raised through Index, and imported from here
    "DOCS_FILE", "VECTORS_FILE", "Index", "IndexDamagedError", "IndexProblem", "IndexLockedError",
    "IndexMismatchError", "IndexMissingError", "IndexStorageError", "Manifest",
]

DOCS_FILE = "docs.sqlite"
VECTORS_FILE = "vectors.faiss"
LEFTOVER_PATTERNS = (f"{VECTORS_FILE}.tmp*", f"{MANIFEST_FILE}.tmp*")  # of a writer that died mid-save
log = logging.getLogger("qa.index")


class _ReadWriteLock:
    """Many readers or one writer; writers are not starved by a stream of readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Index:
    """An open index: document store plus vector store, with the embedder that fills them."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        docstore: DocStore,
        vectors: FaissStore,
        embedder: Embedder | None,
        lock_file: IO[str] | None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.docstore = docstore
        self.vectors = vectors
        self._embedder = embedder
        self._lock_file = lock_file
        self.rwlock = _ReadWriteLock()

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        writable: bool = True,
        create: bool = True,
    ) -> Index:
        """Open (or create) the index in `settings.index_dir`.

        A writer takes an exclusive lock on the folder; readers don't. The vector store catches
        up with the document store if a crash left it behind. With QA_STORE=scale the index is
        the shared Milvus + PostgreSQL one (`qa.stores.scale_index.ScaleIndex`).
        """
        if settings.store == "scale":
            from qa.stores.scale_index import ScaleIndex  # the `scale` extra

            return ScaleIndex.open(settings, embedder=embedder, writable=writable, create=create)  # type: ignore[return-value]
        directory = Path(settings.index_dir)
        manifest_path = directory / MANIFEST_FILE
        docs_path, vectors_path = directory / DOCS_FILE, directory / VECTORS_FILE
        if not manifest_path.exists() and not docs_path.exists():
            if vectors_path.exists():
                raise _docstore_missing(docs_path, vectors_path)
            if not (create and writable):
                raise IndexMissingError(
                    f"no index in {directory}: run `qa ingest PATH` first (or pass --index DIR)"
                )
            if embedder is None:
                raise IndexProblem("creating an index needs the embedding model")
            directory.mkdir(parents=True, exist_ok=True)
        if not docs_path.exists() and vectors_path.exists():
            raise _docstore_missing(docs_path, vectors_path)
        lock_file = _take_write_lock(directory) if writable else None
        docstore: DocStore | None = None
        try:
            if writable:
                _remove_leftovers(directory)
            docstore = _open_docstore(docs_path, settings.keyword_prune_chunks)
            manifest = load_manifest(manifest_path, docstore, settings, embedder, writable)
            manifest.check(settings, directory)
            if embedder is not None and embedder.dimension != manifest.dimension:
                raise IndexMismatchError(
                    f"the index in {directory} holds {manifest.dimension}-dimensional vectors, the "
                    f"configured model makes {embedder.dimension}"
                )
            identity = getattr(embedder, "identity", manifest.built_by)
            if embedder is not None and identity != manifest.built_by:
                raise IndexMismatchError(
                    f"the index in {directory} was built by encoder {manifest.built_by!r}, but the embedder "
                    f"given is {identity!r}; vectors from two encoders must not be mixed"
                )
            vectors, damage = _load_vectors(vectors_path, manifest, docstore)
            index = cls(directory, manifest, docstore, vectors, embedder, lock_file)
            if damage:
                log.warning("%s; rebuilding it from %s", damage, docs_path)
                index.rebuild_vectors()
            else:
                index.catch_up()
        except BaseException as error:
            if docstore is not None:
                docstore.close()
            if lock_file is not None:
                lock_file.close()
            if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
                raise _docstore_unreadable(docs_path, error) from None  # e.g. damaged pages
            raise
        return index

    @staticmethod
    def check_files(settings: Settings) -> None:
        """The file-level checks of `open`, without loading anything: `IndexDamagedError` for a
        missing or unreadable docs.sqlite or an unrecoverable manifest (so `qa serve` can say so in
        one line before it starts). Nothing there yet is fine: the index will be created."""
        if settings.store == "scale":
            return  # nothing on local disk
        directory = Path(settings.index_dir)
        manifest_path, docs_path = directory / MANIFEST_FILE, directory / DOCS_FILE
        if not docs_path.exists():
            if (directory / VECTORS_FILE).exists():
                raise _docstore_missing(docs_path, directory / VECTORS_FILE)
            return
        try:
            with contextlib.closing(sqlite3.connect(f"file:{docs_path}?mode=ro", uri=True)) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.DatabaseError as error:
            if "locked" in str(error):
                return  # a writer is busy: `open` waits for it
            raise _docstore_unreadable(docs_path, error) from None
        if manifest_path.exists() and row is None:
            try:
                read_manifest(manifest_path)
            except IndexProblem as error:
                raise IndexDamagedError(f"{error}: restore it from a backup") from None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise IndexProblem("this operation needs the embedding model, which was not loaded")
        return self._embedder

    @property
    def writable(self) -> bool:
        return self._lock_file is not None

    def close(self) -> None:
        """Persist the vector store (if writable and behind) and release the write lock."""
        try:
            if self.writable:
                self.save()
        finally:
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
            self.docstore.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- consistency ------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Apply document-store changes the vector store has not seen; returns how many."""
        changes = self.docstore.changes_since(self.vectors.synced_seq)
        if changes.seq == self.vectors.synced_seq:
            return 0
        added_ids, added_vectors = self._finite(changes.added_ids, changes.added_vectors)
        with self.rwlock.writing():
            self.vectors.remove(changes.removed_ids)
            if len(added_ids):
                self.vectors.add(added_ids, added_vectors)
            self.vectors.synced_seq = changes.seq
        return len(changes.added_ids) + len(changes.removed_ids)

    def save(self) -> None:
        """Write the vector store file if it is behind the document store."""
        if not self.writable:
            return
        if self.vectors.needs_retraining:
            self.rebuild_vectors()  # retrains on every vector, and saves
            return
        path = self.directory / VECTORS_FILE
        if path.exists() and _saved_seq(path) == self.vectors.synced_seq:
            return
        with self.rwlock.reading():
            self._save_vectors(path)
            synced = self.vectors.synced_seq
        try:
            self.docstore.prune_removed(synced)
        except sqlite3.Error as error:  # housekeeping: the records are pruned at a later save
            log.warning("could not prune removal records in %s: %s", self.docstore.path, error)

    def _save_vectors(self, path: Path) -> None:
        try:
            self.vectors.save(path)
        except OSError as error:
            raise storage_error(
                error, path, f"the articles are safe in {self.docstore.path}, and the vectors are "
                "caught up from it when the index next opens"
            ) from None

    def rebuild_vectors(self) -> None:
        """Rebuild the vector store from the vectors kept in the document store."""
        fresh = FaissStore(self.manifest.dimension, self.manifest.index_type)
        fresh.index_id = self.docstore.index_id
        seq = self.docstore.seq()
        ids_all, vectors_all = [], []
        for ids, vectors in self.docstore.iter_vectors():
            ids, vectors = self._finite(ids, vectors)
            ids_all.append(ids)
            vectors_all.append(vectors)
        if ids_all:
            fresh.add(np.concatenate(ids_all), np.vstack(vectors_all))
        fresh.synced_seq = seq
        with self.rwlock.writing():
            self.vectors = fresh
        if self.writable:
            self._save_vectors(self.directory / VECTORS_FILE)

    def _finite(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`vectors` from the document store with any non-finite one re-embedded from its chunk's
        text (and repaired in the store when writable); without the model it is left out."""
        if not len(ids):
            return ids, vectors
        bad = ~np.isfinite(vectors).all(axis=1)
        if not bad.any():
            return ids, vectors
        bad_ids = [int(i) for i in ids[bad]]
        if self._embedder is None:
            log.warning("%d stored vectors in %s are not finite; left out of search until the index "
                        "is opened with the embedding model", len(bad_ids), self.docstore.path)
            return ids[~bad], vectors[~bad]
        chunks = self.docstore.get_chunks(bad_ids)
        fresh = self.embedder.encode([chunks[i].chunk.text for i in bad_ids])
        log.warning("%d stored vectors in %s were not finite: re-embedded from their chunk texts",
                    len(bad_ids), self.docstore.path)
        if self.writable:
            self.docstore.replace_vectors(bad_ids, fresh)
        vectors = vectors.copy()
        vectors[bad] = fresh
        return ids, vectors

    # -- writes -----------------------------------------------------------------------------------
    def write(
        self,
        upserts: Sequence[tuple[StoredArticle, Sequence[Chunk], np.ndarray]] = (),
        metadata_updates: Sequence[StoredArticle] = (),
        deletions: Sequence[str] = (),
    ) -> int:
        """Commit a batch atomically, then update the in-memory vector store. Returns the seq."""
        self._require_writable()
        with self.rwlock.writing():
            try:
                seq, removed, inserted = self.docstore.apply(upserts, metadata_updates, deletions)
            except sqlite3.OperationalError as error:
                raise storage_error(error, self.docstore.path, "nothing of this write was stored") from None
            self.vectors.remove(np.asarray(removed, dtype=np.int64))
            if inserted:
                ids = np.array([c.id for c in inserted], dtype=np.int64)
                self.vectors.add(ids, np.vstack([vectors for _, _, vectors in upserts if len(vectors)]))
            self.vectors.synced_seq = seq
        return seq

    def delete(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles (their text and vectors); returns the ids that existed."""
        existing = [a for a in article_ids if self.docstore.fingerprint(a) is not None]
        if existing:
            self.write(deletions=existing)
        return existing

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRow]:
        return self.docstore.get_chunks(chunk_ids)

    def _require_writable(self) -> None:
        if not self.writable:
            raise IndexProblem("the index was opened read-only")


def _take_write_lock(directory: Path) -> IO[str]:
    handle = open(directory / "write.lock", "a+")  # noqa: SIM115 - held (locked) until the index closes
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise IndexLockedError(
            f"the index in {directory} is being written by {holder}; wait for it to finish, or "
            "write through the running service's API"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def _docstore_missing(docs_path: Path, vectors_path: Path) -> IndexDamagedError:
    return IndexDamagedError(
        f"the document store {docs_path} is missing, but the vectors in {vectors_path} are there: "
        f"restore {docs_path.name} from a backup, or rebuild the index: move {docs_path.parent} away "
        "and run `qa ingest` on your articles"
    )


def _open_docstore(path: Path, prune_min_chunks: int) -> DocStore:
    try:
        return DocStore(path, prune_min_chunks)
    except sqlite3.DatabaseError as error:
        if "locked" in str(error):
            raise IndexProblem(f"{path} is locked by another program ({error}); retry when it is done") from None
        raise _docstore_unreadable(path, error) from None


def _docstore_unreadable(path: Path, error: BaseException) -> IndexDamagedError:
    return IndexDamagedError(
        f"{path} is not a readable SQLite database ({error}): restore it from a backup, or rebuild "
        f"the index: move {path.parent} away and run `qa ingest` on your articles"
    )


def _load_vectors(path: Path, manifest: Manifest, docstore: DocStore) -> tuple[FaissStore, str | None]:
    """The saved vector store, or an empty one and why the saved one can't be used (then it is
    rebuilt: the vector file is derived data)."""
    fresh = FaissStore(manifest.dimension, manifest.index_type)
    fresh.index_id = docstore.index_id
    if not path.exists():
        return fresh, (f"{path} is missing" if docstore.count()[1] else None)
    try:
        store = FaissStore.load(path)
    except (VectorStoreError, OSError, ValueError, RuntimeError) as error:
        return fresh, str(error)
    seq = docstore.seq()
    if store.dimension != manifest.dimension:
        return fresh, f"{path} holds {store.dimension}-dimensional vectors, the index {manifest.dimension}"
    if store.index_id is not None and store.index_id != docstore.index_id:
        return fresh, (f"{path} belongs to another index (id {store.index_id}; {docstore.path} is "
                       f"{docstore.index_id})")
    if store.synced_seq > seq:
        return fresh, (f"{path} is ahead of {docstore.path} (sequence {store.synced_seq} > {seq}): it "
                       "belongs to another copy of the index")
    store.index_id = docstore.index_id
    return store, None


def _remove_leftovers(directory: Path) -> None:
    """Temporary files of a writer that died mid-save (the write lock says none is running)."""
    for pattern in LEFTOVER_PATTERNS:
        for leftover in directory.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()
                log.info("removed %s, left behind by an interrupted save", leftover)


def _saved_seq(path: Path) -> int | None:
    try:
        return FaissStore.read_header(path)["synced_seq"]
    except (OSError, VectorStoreError, ValueError, KeyError):
        return None

