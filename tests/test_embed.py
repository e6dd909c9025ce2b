"""The sentence-transformers embedder: vectors and word-piece counts."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from qa.embed import SentenceTransformerEmbedder


def test_encode_gives_unit_vectors_that_rank_by_meaning(embedder: SentenceTransformerEmbedder) -> None:
    vectors = embedder.encode(["Taiwan raised its defence budget.", "Taipei spends more on its military.",
                               "The recipe needs two eggs."])
    assert vectors.shape == (3, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_counting_a_long_text_is_quiet(embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    # The chunker counts whole paragraphs; transformers warned about "indexing errors" on the
    # first one longer than the model's 256-piece window, on the user's terminal.
    # transformers warns once per tokenizer: forget earlier tests' counts, so this one can fail
    getattr(embedder._tokenizer, "deprecation_warnings", {}).clear()
    with caplog.at_level(logging.WARNING):
        assert embedder.count_tokens(["word " * 600, "two words"]) == [600, 2]
    assert "sequence length" not in caplog.text + capfd.readouterr().err
