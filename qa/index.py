"""The index on disk: a manifest, the SQLite document store and the FAISS vector store, kept
consistent under concurrent readers and crashes.

Layout of an index folder:
    manifest.json   what built it: encoder and embedding model, dimension, chunker settings, index type
    docs.sqlite     articles, chunks, vectors, keyword index (the source of truth)
    vectors.faiss   the vector store, replaced atomically; rebuilt from docs.sqlite when behind
    write.lock      held by the one process allowed to write
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import numpy as np

from qa.docstore import ChunkRow, DocStore, StoredArticle
from qa.embed import TORCH_EXTRA_HINT, Embedder, encoder_identity, model_identity
from qa.settings import Settings
from qa.types import Chunk
from qa.vectorstore import FaissStore, VectorStoreError

MANIFEST_VERSION = 1


class IndexError_(RuntimeError):
    """Base class for index problems a user can fix; the message says how."""


class IndexMismatchError(IndexError_):
    """The index was built with another embedding model or chunker than the one configured."""


class IndexLockedError(IndexError_):
    """Another process is writing to this index."""


class IndexMissingError(IndexError_):
    """There is no index at the configured location."""


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; an index only opens with the same model and chunker."""

    version: int
    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    tiktoken_encoding: str
    index_type: str
    # What computed the vectors (`encoder_identity`); manifests from before the ONNX encoder
    # have none and were built with torch.
    encoder: str = ""

    @property
    def built_by(self) -> str:
        return self.encoder or encoder_identity("torch", self.embedding_model)

    @classmethod
    def for_settings(cls, settings: Settings, dimension: int) -> "Manifest":
        return cls(
            version=MANIFEST_VERSION,
            embedding_model=model_identity(settings.embedding_model),
            dimension=dimension,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap_tokens=settings.chunk_overlap_tokens,
            tiktoken_encoding=settings.tiktoken_encoding,
            index_type=settings.index_type,
            encoder=encoder_identity(settings.encoder, settings.embedding_model),
        )

    def check(self, settings: Settings, where: Path) -> None:
        """Raise `IndexMismatchError` when `settings` would build a different index."""
        wanted = model_identity(settings.embedding_model)
        if wanted != self.embedding_model:
            raise IndexMismatchError(
                f"the index in {where} was built with embedding model {self.embedding_model!r}, "
                f"but {wanted!r} is configured. Use the same model (QA_EMBEDDING_MODEL), or another "
                "--index folder for the new model."
            )
        wanted_encoder = encoder_identity(settings.encoder, settings.embedding_model)
        if wanted_encoder != self.built_by:
            kind = self.built_by.split(":", 1)[0]
            setting = "onnx" if kind == "onnx-int8" else f"{kind} ({TORCH_EXTRA_HINT})" if kind == "torch" else kind
            raise IndexMismatchError(
                f"the index in {where} was built by encoder {self.built_by!r}, but {wanted_encoder!r} "
                f"is configured, and vectors from two encoders must not be mixed. Set QA_ENCODER={setting} "
                "to use this index, or ingest again into a new --index folder with the configured encoder."
            )
        for name in ("chunk_tokens", "chunk_overlap_tokens", "tiktoken_encoding"):
            if getattr(settings, name) != getattr(self, name):
                raise IndexMismatchError(
                    f"the index in {where} was built with {name}={getattr(self, name)!r}, but "
                    f"{getattr(settings, name)!r} is configured. Use the same setting, or another "
                    "--index folder."
                )


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
    ) -> "Index":
        """Open (or create) the index in `settings.index_dir`.

        A writer takes an exclusive lock on the folder; readers don't. The vector store catches
        up with the document store if a crash left it behind.
        """
        directory = Path(settings.index_dir)
        manifest_path = directory / "manifest.json"
        if not manifest_path.exists():
            if not (create and writable):
                raise IndexMissingError(
                    f"no index in {directory}: run `qa ingest PATH` first (or pass --index DIR)"
                )
            if embedder is None:
                raise IndexError_("creating an index needs the embedding model")
            directory.mkdir(parents=True, exist_ok=True)
            manifest = Manifest.for_settings(settings, embedder.dimension)
            _write_json_atomic(manifest_path, asdict(manifest))
        manifest = _read_manifest(manifest_path)
        manifest.check(settings, directory)
        if embedder is not None and embedder.dimension != manifest.dimension:
            raise IndexMismatchError(
                f"the index in {directory} holds {manifest.dimension}-dimensional vectors, the "
                f"configured model makes {embedder.dimension}"
            )
        if embedder is not None and getattr(embedder, "identity", manifest.built_by) != manifest.built_by:
            raise IndexMismatchError(
                f"the index in {directory} was built by encoder {manifest.built_by!r}, but the embedder "
                f"given is {embedder.identity!r}; vectors from two encoders must not be mixed"
            )
        lock_file = _take_write_lock(directory) if writable else None
        try:
            docstore = DocStore(directory / "docs.sqlite")
            vectors = _load_vectors(directory / "vectors.faiss", manifest)
            index = cls(directory, manifest, docstore, vectors, embedder, lock_file)
            index.catch_up()
        except BaseException:
            if lock_file is not None:
                lock_file.close()
            raise
        return index

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise IndexError_("this operation needs the embedding model, which was not loaded")
        return self._embedder

    @property
    def writable(self) -> bool:
        return self._lock_file is not None

    def close(self) -> None:
        """Persist the vector store (if writable and behind) and release the write lock."""
        if self.writable:
            self.save()
            self._lock_file.close()
            self._lock_file = None
        self.docstore.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- consistency ------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Apply document-store changes the vector store has not seen; returns how many."""
        changes = self.docstore.changes_since(self.vectors.synced_seq)
        if changes.seq == self.vectors.synced_seq:
            return 0
        with self.rwlock.writing():
            self.vectors.remove(changes.removed_ids)
            if len(changes.added_ids):
                self.vectors.add(changes.added_ids, changes.added_vectors)
            self.vectors.synced_seq = changes.seq
        return len(changes.added_ids) + len(changes.removed_ids)

    def save(self) -> None:
        """Write the vector store file if it is behind the document store."""
        if not self.writable:
            return
        if self.vectors.needs_retraining:
            self.rebuild_vectors()  # retrains on every vector, and saves
            return
        path = self.directory / "vectors.faiss"
        if path.exists() and _saved_seq(path) == self.vectors.synced_seq:
            return
        with self.rwlock.reading():
            self.vectors.save(path)
            synced = self.vectors.synced_seq
        self.docstore.prune_removed(synced)

    def rebuild_vectors(self) -> None:
        """Rebuild the vector store from the vectors kept in the document store."""
        fresh = FaissStore(self.manifest.dimension, self.manifest.index_type)
        ids_all, vectors_all = [], []
        for ids, vectors in self.docstore.iter_vectors():
            ids_all.append(ids)
            vectors_all.append(vectors)
        if ids_all:
            fresh.add(np.concatenate(ids_all), np.vstack(vectors_all))
        fresh.synced_seq = self.docstore.seq()
        with self.rwlock.writing():
            self.vectors = fresh
        if self.writable:
            self.vectors.save(self.directory / "vectors.faiss")

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
            seq, removed, inserted = self.docstore.apply(upserts, metadata_updates, deletions)
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
            raise IndexError_("the index was opened read-only")


def _take_write_lock(directory: Path) -> IO[str]:
    handle = open(directory / "write.lock", "a+")
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


def _read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text())
        return Manifest(**data)
    except (json.JSONDecodeError, TypeError) as error:
        raise IndexError_(f"{path} is not a valid index manifest ({error})") from None


def _load_vectors(path: Path, manifest: Manifest) -> FaissStore:
    if not path.exists():
        return FaissStore(manifest.dimension, manifest.index_type)
    try:
        store = FaissStore.load(path)
    except (VectorStoreError, ValueError, RuntimeError):
        # The vector file is derived data: a damaged one is rebuilt from the document store.
        return FaissStore(manifest.dimension, manifest.index_type)
    if store.dimension != manifest.dimension:
        return FaissStore(manifest.dimension, manifest.index_type)
    return store


def _saved_seq(path: Path) -> int | None:
    try:
        return FaissStore.read_header(path)["synced_seq"]
    except (OSError, VectorStoreError, ValueError, KeyError):
        return None


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
