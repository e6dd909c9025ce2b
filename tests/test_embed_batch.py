"""Micro-batched query encodes: concurrent callers share one encoder call and get their own vectors."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from qa.embed import Embedder
from qa.embed_batch import QueryBatcher, query_batcher

QUESTIONS = [f"question {i}: {topic}?" for i, topic in enumerate(
    ["Taiwan defence budget", "interest rates", "Moon water ice", "United beat Chelsea",
     "California wildfires", "Xi military modernization", "Ukraine business", "F-35 jets"])]


class GatedEmbedder:
    """The real embedder, but each call waits for `release` (so callers pile up) and is recorded."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dimension, self.max_tokens = inner, inner.name, inner.dimension, inner.max_tokens
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(30)
        if "boom" in texts:
            raise RuntimeError("encoder failed")
        return self.inner.encode(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)


def run_concurrently(batcher: QueryBatcher, gated: GatedEmbedder, texts: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}

    def call(text: str) -> None:
        try:
            results[text] = batcher.encode([text])
        except RuntimeError as error:
            results[text] = error

    first = threading.Thread(target=call, args=("first question",))
    first.start()
    assert gated.entered.wait(30)  # the first call is running: the others must wait for it
    others = [threading.Thread(target=call, args=(text,)) for text in texts]
    for thread in others:
        thread.start()
    while len(batcher._pending) < len(texts):
        threading.Event().wait(0.01)
    gated.release.set()
    for thread in [first, *others]:
        thread.join(30)
    return results


def test_callers_waiting_together_share_one_call_and_get_their_own_vectors(embedder: Embedder) -> None:
    gated = GatedEmbedder(embedder)
    batcher = QueryBatcher(gated)
    results = run_concurrently(batcher, gated, QUESTIONS)
    assert len(gated.calls) == 2 and sorted(gated.calls[1]) == sorted(QUESTIONS)
    assert batcher.calls == 2
    for text in ["first question", *QUESTIONS]:
        alone = embedder.encode([text])[0]
        got = results[text]
        assert isinstance(got, np.ndarray) and got.shape == (1, embedder.dimension)
        # batch-mates move an int8 vector a little; it stays the same text's vector
        assert float(got[0] @ alone) >= 0.98
        assert all(float(got[0] @ embedder.encode([other])[0]) < 0.98 for other in QUESTIONS if other != text)


def test_a_failed_call_fails_every_caller_in_it_and_the_next_call_works(embedder: Embedder) -> None:
    gated = GatedEmbedder(embedder)
    batcher = QueryBatcher(gated)
    results = run_concurrently(batcher, gated, ["boom", "innocent bystander"])
    assert isinstance(results["boom"], RuntimeError) and isinstance(results["innocent bystander"], RuntimeError)
    assert isinstance(results["first question"], np.ndarray)
    assert batcher.encode(["after the failure"]).shape == (1, embedder.dimension)


def test_a_batcher_wraps_an_embedder_once(embedder: Embedder) -> None:
    batcher = query_batcher(embedder)
    assert isinstance(batcher, QueryBatcher) and batcher.inner is embedder
    assert query_batcher(batcher) is batcher
    assert query_batcher(embedder).identity == embedder.identity
    with pytest.raises(AttributeError):
        query_batcher(embedder).missing_attribute  # noqa: B018 - only the Embedder surface is exposed
