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
import errno
import fcntl
import json
import logging
import os
import sqlite3
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
MANIFEST_FILE = "manifest.json"
DOCS_FILE = "docs.sqlite"
VECTORS_FILE = "vectors.faiss"
LEFTOVER_PATTERNS = (f"{VECTORS_FILE}.tmp*", f"{MANIFEST_FILE}.tmp*")  # of a writer that died mid-save
log = logging.getLogger("qa.index")


class IndexError_(RuntimeError):
    """Base class for index problems a user can fix; the message says how."""


class IndexMismatchError(IndexError_):
    """The index was built with another embedding model or chunker than the one configured."""


class IndexLockedError(IndexError_):
    """Another process is writing to this index."""


class IndexMissingError(IndexError_):
    """There is no index at the configured location."""


class IndexDamagedError(IndexError_):
    """A file of the index is missing or unreadable; the message names it and the way out."""


class IndexStorageError(IndexError_):
    """The disk refused a write (full, read-only, failing, locked); nothing of that write was stored."""

    def __init__(self, message: str, *, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def storage_error(error: BaseException, path: Path, what: str) -> IndexStorageError:
    """`error` (an OSError or SQLite error) from writing `path`, as an `IndexStorageError`."""
    full = (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(error, sqlite3.Error)
        and (getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error))
    )
    locked = isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
    reason = "the disk is full" if full else "another program holds it locked" if locked else \
        "the disk refused the write"
    return IndexStorageError(f"cannot write {path}: {reason} ({error}); {what}", disk_full=full)


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
                raise IndexError_("creating an index needs the embedding model")
            directory.mkdir(parents=True, exist_ok=True)
        if not docs_path.exists() and vectors_path.exists():
            raise _docstore_missing(docs_path, vectors_path)
        lock_file = _take_write_lock(directory) if writable else None
        docstore: DocStore | None = None
        try:
            if writable:
                _remove_leftovers(directory)
            docstore = _open_docstore(docs_path)
            manifest = _load_manifest(manifest_path, docstore, settings, embedder, writable)
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
                _read_manifest(manifest_path)
            except IndexError_ as error:
                raise IndexDamagedError(f"{error}: restore it from a backup") from None

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
        try:
            if self.writable:
                self.save()
        finally:
            if self._lock_file is not None:
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


def _docstore_missing(docs_path: Path, vectors_path: Path) -> IndexDamagedError:
    return IndexDamagedError(
        f"the document store {docs_path} is missing, but the vectors in {vectors_path} are there: "
        f"restore {docs_path.name} from a backup, or rebuild the index: move {docs_path.parent} away "
        "and run `qa ingest` on your articles"
    )


def _open_docstore(path: Path) -> DocStore:
    try:
        return DocStore(path)
    except sqlite3.DatabaseError as error:
        if "locked" in str(error):
            raise IndexError_(f"{path} is locked by another program ({error}); retry when it is done") from None
        raise _docstore_unreadable(path, error) from None


def _docstore_unreadable(path: Path, error: BaseException) -> IndexDamagedError:
    return IndexDamagedError(
        f"{path} is not a readable SQLite database ({error}): restore it from a backup, or rebuild "
        f"the index: move {path.parent} away and run `qa ingest` on your articles"
    )


def _load_manifest(path: Path, docstore: DocStore, settings: Settings, embedder: Embedder | None,
                   writable: bool) -> Manifest:
    """The manifest; an unreadable or lost one is recovered from the copy in the document store."""
    copy = docstore.meta("manifest")
    try:
        manifest = _read_manifest(path) if path.exists() else None
        problem = None if manifest is not None else f"{path} is missing"
    except IndexError_ as error:
        manifest, problem = None, str(error)
    if manifest is None and copy is not None:
        with contextlib.suppress(TypeError, ValueError):  # a copy this version can't read is no copy
            manifest = Manifest(**json.loads(copy))
            log.warning("%s; recovered it from the copy in %s", problem, docstore.path)
            if writable:
                _write_json_atomic(path, asdict(manifest))
    if manifest is None and problem is not None and path.exists():
        raise IndexDamagedError(
            f"{problem}: restore it from a backup, or delete it to have it written again from the "
            "current settings (they must be the ones the index was built with)"
        )
    if manifest is None:  # a new index, or one from before docs.sqlite kept a copy
        if not writable:
            raise IndexMissingError(f"no index manifest in {path.parent}: run `qa ingest PATH` first")
        if embedder is None:
            raise IndexError_("creating an index needs the embedding model")
        manifest = Manifest.for_settings(settings, embedder.dimension)
        _write_json_atomic(path, asdict(manifest))
    if writable and copy != json.dumps(asdict(manifest), sort_keys=True):
        try:
            docstore.set_meta("manifest", json.dumps(asdict(manifest), sort_keys=True))
        except sqlite3.OperationalError as error:  # e.g. a full disk: the copy is kept next time
            log.warning("could not keep a copy of the manifest in %s: %s", docstore.path, error)
    return manifest


def _read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        return Manifest(**data)
    except UnicodeDecodeError as error:
        raise IndexError_(f"{path} is not a valid index manifest (not UTF-8 text: {error})") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise IndexError_(f"{path} is not a valid index manifest ({error})") from None


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


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(error, path, "the index was not changed") from None
