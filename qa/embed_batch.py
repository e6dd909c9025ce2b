"""Micro-batching of query encodes: concurrent callers share one encoder call.

A caller that finds the encoder idle becomes the leader: it takes every request waiting at that
moment (oldest first, up to `max_texts` texts) and encodes them in one call, then hands the
results out. Callers that arrive meanwhile wait and go in the next call. One call at a time also
means ONNX Runtime's intra-op threads are never oversubscribed by concurrent runs.

Dynamic int8 quantizes activations per call, so a vector encoded beside others differs from the
same text encoded alone by about as much as int8 differs from fp32 (cosine ~0.99).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from qa.embed import Embedder


class _Request:
    __slots__ = ("texts", "vectors", "error", "done")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class QueryBatcher:
    """An `Embedder` whose `encode` batches concurrent calls into one call of `inner`."""

    def __init__(self, inner: Embedder, *, max_texts: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        if hasattr(inner, "identity"):
            self.identity = inner.identity
        self.max_texts = max_texts
        self.calls = 0  # encoder calls made, for tests and metrics
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._busy = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(list(texts))
        if not request.texts:
            return self.inner.encode([])
        with self._cond:
            self._pending.append(request)
            while self._busy and not request.done:
                self._cond.wait()
            if not request.done:
                self._busy = True
                batch = self._take()
        if request.done:
            return self._result(request)
        try:
            vectors = self.inner.encode([text for r in batch for text in r.texts])
            offset = 0
            for r in batch:
                r.vectors = vectors[offset : offset + len(r.texts)]
                offset += len(r.texts)
        except BaseException as error:  # every caller in the batch sees the failure
            for r in batch:
                r.error = error
        finally:
            with self._cond:
                self.calls += 1
                for r in batch:
                    r.done = True
                self._busy = False
                self._cond.notify_all()
        return self._result(request)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def _take(self) -> list[_Request]:
        """The oldest waiting requests, at least one, up to `max_texts` texts."""
        batch: list[_Request] = []
        total = 0
        while self._pending and (not batch or total + len(self._pending[0].texts) <= self.max_texts):
            total += len(self._pending[0].texts)
            batch.append(self._pending.pop(0))
        return batch

    @staticmethod
    def _result(request: _Request) -> np.ndarray:
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors


def query_batcher(embedder: Embedder) -> QueryBatcher:
    """`embedder` as a `QueryBatcher` (itself when it is one already). Share the one batcher:
    concurrent queries batch only through the same one."""
    return embedder if isinstance(embedder, QueryBatcher) else QueryBatcher(embedder)
