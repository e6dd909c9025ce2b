"""The index manifest: what built an index (encoder, model, dimension, chunker, index type), so
that it only opens with the same. docs.sqlite keeps a copy, from which a lost one is recovered."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.docstore import DocStore
from qa.embed import TORCH_EXTRA_HINT, Embedder, encoder_identity, model_identity
from qa.index_errors import IndexDamagedError, IndexMismatchError, IndexMissingError, IndexProblem, storage_error
from qa.settings import Settings

MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"
log = logging.getLogger("qa.index")


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
    def for_settings(cls, settings: Settings, dimension: int) -> Manifest:
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


def load_manifest(path: Path, docstore: DocStore, settings: Settings, embedder: Embedder | None,
                   writable: bool) -> Manifest:
    """The manifest; an unreadable or lost one is recovered from the copy in the document store."""
    copy = docstore.meta("manifest")
    try:
        manifest = read_manifest(path) if path.exists() else None
        problem = None if manifest is not None else f"{path} is missing"
    except IndexProblem as error:
        manifest, problem = None, str(error)
    if manifest is None and copy is not None:
        with contextlib.suppress(TypeError, ValueError):  # a copy this version can't read is no copy
            manifest = Manifest(**json.loads(copy))
            log.warning("%s; recovered it from the copy in %s", problem, docstore.path)
            if writable:
                write_json_atomic(path, asdict(manifest))
    if manifest is None and problem is not None and path.exists():
        raise IndexDamagedError(
            f"{problem}: restore it from a backup, or delete it to have it written again from the "
            "current settings (they must be the ones the index was built with)"
        )
    if manifest is None:  # a new index, or one from before docs.sqlite kept a copy
        if not writable:
            raise IndexMissingError(f"no index manifest in {path.parent}: run `qa ingest PATH` first")
        if embedder is None:
            raise IndexProblem("creating an index needs the embedding model")
        manifest = Manifest.for_settings(settings, embedder.dimension)
        write_json_atomic(path, asdict(manifest))
    if writable and copy != json.dumps(asdict(manifest), sort_keys=True):
        try:
            docstore.set_meta("manifest", json.dumps(asdict(manifest), sort_keys=True))
        except sqlite3.OperationalError as error:  # e.g. a full disk: the copy is kept next time
            log.warning("could not keep a copy of the manifest in %s: %s", docstore.path, error)
    return manifest


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        return Manifest(**data)
    except UnicodeDecodeError as error:
        raise IndexProblem(f"{path} is not a valid index manifest (not UTF-8 text: {error})") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise IndexProblem(f"{path} is not a valid index manifest ({error})") from None


def write_json_atomic(path: Path, data: dict) -> None:
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
