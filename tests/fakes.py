"""Test doubles shared by the tests: an embedder that loads no model and a scripted backend.
Register a fake backend through the `fake_backends` fixture (tests/conftest.py), which removes it
again after the module."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from qa.backends.base import GenerationRequest
from qa.settings import Settings

OPENAI_MODEL = "gpt-4o-mini"
DIMENSION = 384  # MiniLM's, so an index built with the fake has the shape of a real one


class FakeEmbedder:
    """Deterministic unit vectors from a hash of the text: equal texts get equal vectors, others
    are nearly orthogonal. Loads no model, so a process using it starts in about a second."""

    name = "hash"
    dimension = DIMENSION
    max_tokens = 256

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, DIMENSION), np.float32)
        vectors = np.vstack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(DIMENSION)
                             for t in texts]).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


class FakeBackend:
    """A backend that streams `pieces` (waiting `delay` seconds before each), then raises
    `error()`; with `endless`, it repeats them until the consumer stops listening. `closed` is set
    once a stream ends, however it ends."""

    uses_llm = False

    def __init__(self, name: str, pieces: Sequence[str] = (), *, delay: float = 0.0,
                 error: Callable[[], BaseException] | None = None, endless: bool = False) -> None:
        self.name = name
        self.pieces = list(pieces)
        self.delay = delay
        self.error = error
        self.endless = endless
        self.closed = threading.Event()

    def factory(self, settings: Settings) -> FakeBackend:
        """What the registry calls: this very backend, whatever the settings."""
        return self

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        try:
            while True:
                for piece in self.pieces:
                    if self.delay:
                        time.sleep(self.delay)
                    yield piece
                if not self.endless:
                    break
            if self.error is not None:
                raise self.error()
        finally:
            self.closed.set()

    def complete(self, request: GenerationRequest) -> str:
        if self.error is not None:
            raise self.error()
        return "".join(self.pieces)


def completion_payload(text: str, *, model: str = OPENAI_MODEL) -> dict:
    """A `chat.completion` object as OpenAI returns it, answering `text`."""
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }
