"""Vector stores: the `VectorStore` protocol and a FAISS implementation (flat, HNSW, IVF).

The document store is the source of truth (it keeps every vector); a vector store is a derived,
rebuildable search structure, persisted in one file that is replaced atomically. The file's
header names the index it belongs to (`index_id`), the document-store sequence number it
reflects, and the length and CRC-32 of its body, so a short, garbled or foreign file is detected
on load (`VectorStoreError`) instead of searched.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol, cast

import faiss
import numpy as np

from qa.types import Filters

_MAGIC = b"QAVS1\n"


class VectorStoreError(RuntimeError):
    """The vector store file is unreadable or was built for other vectors."""


class VectorStore(Protocol):
    """Inner-product search over normalized vectors keyed by int64 chunk ids."""

    dimension: int
    synced_seq: int  # the document store sequence number this store reflects

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search_filtered(
        self, queries: np.ndarray, k: int, filters: Filters
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Top-k among the rows that pass `filters`, if the store holds what they test; else None."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...


FACTORY_ALIASES = {"flat": "Flat", "hnsw": "HNSW32", "ivf": "IVF{nlist},Flat"}


def factory_string(index_type: str, n_vectors: int) -> str:
    """The FAISS index_factory string for a configured index type."""
    spec = FACTORY_ALIASES.get(index_type.lower(), index_type)
    if "{nlist}" in spec:
        # ~4*sqrt(n) lists, and at least 39 training points per list as FAISS recommends.
        nlist = max(1, min(int(4 * math.sqrt(max(n_vectors, 1))), n_vectors // 39 or 1))
        spec = spec.format(nlist=nlist)
    return spec


class FaissStore:
    """A `VectorStore` on a FAISS index wrapped in an id map.

    Index types that cannot delete in place (HNSW) keep tombstones that searches skip; the
    store compacts itself when tombstones pile up.
    """

    def __init__(self, dimension: int, index_type: str = "flat") -> None:
        self.dimension = dimension
        self.index_type = index_type
        self.synced_seq = 0
        self.index_id: str | None = None  # the document store this store mirrors
        self.trained_on = 0  # vectors the index was trained on (0: needs no training)
        self.ivf_nprobe = 16
        self.hnsw_ef_search = 128
        self._index: faiss.IndexIDMap2 | None = None
        self._tombstones: set[int] = set()

    # -- building -------------------------------------------------------------------------
    def _new_index(self, training: np.ndarray | None) -> faiss.IndexIDMap2:
        spec = factory_string(self.index_type, 0 if training is None else len(training))
        try:
            inner = faiss.index_factory(self.dimension, spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as error:
            raise VectorStoreError(f"unsupported index type {self.index_type!r}: {error}") from None
        if not inner.is_trained:
            if training is None or len(training) == 0:
                raise VectorStoreError(f"index type {self.index_type!r} needs vectors to train on")
            inner.train(training)
            self.trained_on = len(training)
        return faiss.IndexIDMap2(inner)

    @property
    def needs_retraining(self) -> bool:
        """A trained index (IVF) that now holds 4x the vectors it was trained on: its lists no
        longer fit the data, and it should be rebuilt from all vectors."""
        return bool(self.trained_on) and len(self) > 4 * self.trained_on

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under their chunk ids (ids must be new)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise VectorStoreError(
                f"vectors have {vectors.shape[1]} dimensions, the store holds {self.dimension}"
            )
        if self._index is None:
            self._index = self._new_index(vectors)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by chunk id; unknown ids are ignored."""
        if self._index is None or len(ids) == 0:
            return
        ids = np.asarray(ids, dtype=np.int64)
        try:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
        except RuntimeError:  # e.g. HNSW: no in-place removal
            self._tombstones.update(int(i) for i in ids)
            if len(self._tombstones) > 0.2 * self._index.ntotal:
                self.compact()

    def compact(self) -> None:
        """Rebuild the index without tombstoned vectors."""
        if self._index is None or not self._tombstones:
            return
        all_ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        keep = np.array([i for i in all_ids if int(i) not in self._tombstones], dtype=np.int64)
        vectors = (
            np.vstack([self._index.reconstruct(int(i)) for i in keep])
            if len(keep)
            else np.zeros((0, self.dimension), dtype=np.float32)
        )
        self._index = None
        self._tombstones = set()
        self.add(keep, vectors)

    # -- searching ------------------------------------------------------------------------
    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal) - len(self._tombstones)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; missing results have id -1."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(queries)
        if self._index is None or self._index.ntotal == 0 or k <= 0:
            return np.full((n, max(k, 0)), -np.inf, np.float32), np.full((n, max(k, 0)), -1, np.int64)
        fetch = min(k + len(self._tombstones), int(self._index.ntotal))
        params = self._search_params(allowed_ids)
        # One query gains nothing from FAISS's OpenMP threads, and waking the sleeping second one
        # (OMP_WAIT_POLICY=PASSIVE) cost 4.8 of 6.0 ms on 19k flat vectors (bench/README.md).
        # omp_set_num_threads applies to the calling thread only.
        threads = faiss.omp_get_max_threads()
        if n == 1:
            faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(queries, fetch, params=params)
        finally:
            if n == 1:
                faiss.omp_set_num_threads(threads)
        if self._tombstones:
            scores, ids = self._drop_tombstones(scores, ids, k)
        return scores[:, :k], ids[:, :k]

    def search_filtered(
        self, queries: np.ndarray, k: int, filters: Filters
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """None: FAISS holds no article metadata (the document store filters)."""
        return None

    def _search_params(self, allowed_ids: np.ndarray | None) -> faiss.SearchParameters | None:
        assert self._index is not None  # search() returns early without an index
        inner = faiss.downcast_index(self._index.index)
        selector = (
            faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            if allowed_ids is not None
            else None
        )
        if isinstance(inner, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(efSearch=self.hnsw_ef_search)  # type: ignore[attr-defined]  # not in faiss's stubs
        elif isinstance(inner, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(nprobe=self.ivf_nprobe)  # type: ignore[call-arg]  # SWIG takes keywords
        elif selector is None:
            return None
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
            params._selector_ref = selector  # keep it alive while FAISS uses it
        return params

    def _drop_tombstones(
        self, scores: np.ndarray, ids: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        out_scores = np.full((len(ids), k), -np.inf, np.float32)
        out_ids = np.full((len(ids), k), -1, np.int64)
        for row, (row_scores, row_ids) in enumerate(zip(scores, ids)):
            keep = [j for j, i in enumerate(row_ids) if i >= 0 and int(i) not in self._tombstones][:k]
            out_scores[row, : len(keep)] = row_scores[keep]
            out_ids[row, : len(keep)] = row_ids[keep]
        return out_scores, out_ids

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the store to `path` atomically (temp file, fsync, rename). On failure (a full
        disk) the temp file is removed and the previous file stays as it was."""
        body = (
            faiss.serialize_index(self._index).tobytes() if self._index is not None else b""
        )
        header = json.dumps(
            {
                "dimension": self.dimension,
                "index_type": self.index_type,
                "synced_seq": self.synced_seq,
                "index_id": self.index_id,
                "trained_on": self.trained_on,
                "tombstones": sorted(self._tombstones),
                "body_bytes": len(body),
                "crc32": zlib.crc32(body),
            }
        ).encode()
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(_MAGIC + struct.pack("<Q", len(header)) + header)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)

    @staticmethod
    def read_header(path: Path) -> dict:
        """The metadata of a saved store, without reading its vectors."""
        with open(path, "rb") as handle:
            return _read_header(handle, path)

    @classmethod
    def load(cls, path: Path) -> FaissStore:
        """Read a store written by `save`; `VectorStoreError` when the file is short, garbled
        (checksum) or holds non-finite vectors."""
        with open(path, "rb") as handle:
            header = _read_header(handle, path)
            body = handle.read()
        expected = header.get("body_bytes")
        if expected is not None and len(body) != expected:
            raise VectorStoreError(f"{path} is truncated: {len(body)} of {expected} bytes of vectors")
        if "crc32" in header and zlib.crc32(body) != header["crc32"]:
            raise VectorStoreError(f"{path} is damaged: its vectors do not match their checksum")
        try:
            store = cls(int(header["dimension"]), str(header["index_type"]))
            store.synced_seq = int(header["synced_seq"])
            store.index_id = header.get("index_id")
            store.trained_on = int(header.get("trained_on", 0))
            store._tombstones = set(header["tombstones"])
            if body:
                store._index = cast(faiss.IndexIDMap2, faiss.deserialize_index(np.frombuffer(body, dtype=np.uint8)))
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise VectorStoreError(f"{path} is damaged: {error}") from None
        if not store.vectors_are_finite():
            raise VectorStoreError(f"{path} holds vectors that are not finite numbers (NaN or infinity)")
        return store

    def vectors_are_finite(self) -> bool:
        """False when a stored vector holds NaN or infinity (checked where FAISS keeps raw vectors:
        flat and HNSW indexes)."""
        if self._index is None:
            return True
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexHNSW):
            inner = faiss.downcast_index(inner.storage)
        if not isinstance(inner, faiss.IndexFlat):
            return True
        codes = faiss.vector_to_array(inner.codes)
        return bool(np.isfinite(codes.view(np.float32)).all())


def _read_header(handle: BinaryIO, path: Path) -> dict:
    if handle.read(len(_MAGIC)) != _MAGIC:
        raise VectorStoreError(f"{path} is not a vector store file")
    size = handle.read(8)
    if len(size) != 8:
        raise VectorStoreError(f"{path} is truncated: its header is cut short")
    (header_len,) = struct.unpack("<Q", size)
    raw = handle.read(min(header_len, 1 << 30))
    if len(raw) != header_len:
        raise VectorStoreError(f"{path} is truncated: its header is cut short")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VectorStoreError(f"{path} is damaged: unreadable header ({error})") from None
    if not isinstance(header, dict):
        raise VectorStoreError(f"{path} is damaged: unreadable header")
    return header


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
