"""The index on disk: manifest checks, the write lock, and crash safety (a killed ingest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.embed import SentenceTransformerEmbedder
from qa.index import Index, IndexLockedError, IndexMismatchError, IndexMissingError
from qa.ingest import Ingestor
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Article


def test_opening_with_another_model_is_a_clear_error(seeded_settings: Settings,
                                                     embedder: SentenceTransformerEmbedder) -> None:
    other = seeded_settings.replace(embedding_model="sentence-transformers/all-mpnet-base-v2")
    with pytest.raises(IndexMismatchError, match="all-MiniLM-L6-v2.*all-mpnet-base-v2"):
        Index.open(other, embedder=None, writable=False)


def test_opening_with_another_encoder_is_a_clear_error(seeded_settings: Settings) -> None:
    manifest = json.loads((seeded_settings.index_dir / "manifest.json").read_text())
    assert manifest["encoder"] == "onnx-int8:all-MiniLM-L6-v2"
    with pytest.raises(IndexMismatchError, match="built by encoder 'onnx-int8:all-MiniLM-L6-v2'.*QA_ENCODER=onnx"):
        Index.open(seeded_settings.replace(encoder="torch"), writable=False)


def test_an_index_from_before_the_encoder_setting_is_a_torch_index(seeded_settings: Settings) -> None:
    path = seeded_settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["encoder"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="'torch:all-MiniLM-L6-v2'.*QA_ENCODER=torch.*new --index"):
        Index.open(seeded_settings, writable=False)
    with Index.open(seeded_settings.replace(encoder="torch"), writable=False) as index:
        assert index.manifest.built_by == "torch:all-MiniLM-L6-v2"


def test_an_embedder_from_another_encoder_is_refused(seeded_settings: Settings) -> None:
    from qa.embed import get_embedder

    with pytest.raises(IndexMismatchError, match="must not be mixed"):
        Index.open(seeded_settings, embedder=get_embedder(seeded_settings.replace(encoder="torch")), writable=False)


def test_opening_with_other_chunk_settings_is_a_clear_error(seeded_settings: Settings) -> None:
    with pytest.raises(IndexMismatchError, match="chunk_tokens"):
        Index.open(seeded_settings.replace(chunk_tokens=99), writable=False)


def test_missing_index_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(IndexMissingError, match="qa ingest"):
        Index.open(settings, writable=False)


def test_second_writer_is_refused(seeded_index: Index, seeded_settings: Settings) -> None:
    with pytest.raises(IndexLockedError, match=f"pid {os.getpid()}"):
        Index.open(seeded_settings, writable=True)
    # readers are not blocked by the writer
    with Index.open(seeded_settings, writable=False) as reader:
        assert reader.docstore.count() == seeded_index.docstore.count()


def test_vector_file_lost_or_damaged_is_rebuilt(seeded_settings: Settings,
                                                embedder: SentenceTransformerEmbedder) -> None:
    vector_file = seeded_settings.index_dir / "vectors.faiss"
    with Index.open(seeded_settings, embedder=embedder) as index:
        n_chunks = index.docstore.count()[1]
        query = embedder.encode(["Taiwan defence budget"])
        expected = index.vectors.search(query, 3)[1].tolist()
    for damage in (lambda: vector_file.unlink(), lambda: vector_file.write_bytes(b"garbage")):
        damage()
        with Index.open(seeded_settings, embedder=embedder) as index:
            assert len(index.vectors) == n_chunks
            assert index.vectors.search(query, 3)[1].tolist() == expected
        assert vector_file.exists()


def test_vector_store_catches_up_after_unsaved_writes(seeded_settings: Settings,
                                                      embedder: SentenceTransformerEmbedder) -> None:
    index = Index.open(seeded_settings, embedder=embedder)
    Ingestor(index, seeded_settings).ingest_articles([
        Article(id="late", title="Late news", text="A late article about volcanic ash over Iceland.")
    ])
    # Simulate a crash: the SQLite commit happened, the vector file was never written.
    index._lock_file.close()
    index._lock_file = None
    with Index.open(seeded_settings, embedder=embedder) as reopened:
        assert len(reopened.vectors) == reopened.docstore.count()[1]
        chunk_id = reopened.docstore.chunks_of("late")[0].id
        _, ids = reopened.vectors.search(embedder.encode(["volcanic ash Iceland"]), 1)
        assert ids[0][0] == chunk_id


CRASH_SCRIPT = """
import json, sys
import qa.ingest
from qa.embed import get_embedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.settings import Settings
from qa.types import Article

qa.ingest.WINDOW_CHUNKS = 4  # commit often so the kill lands between and inside commits
settings = Settings.from_env({}, index_dir=sys.argv[1], tiktoken_cache_dir=sys.argv[2])
index = Index.open(settings, embedder=get_embedder(settings))
original_write = index.write
def write(upserts=(), metadata_updates=(), deletions=()):
    seq = original_write(upserts, metadata_updates, deletions)
    print(json.dumps([s.article.id for s, _, _ in upserts]), flush=True)  # acknowledged
    return seq
index.write = write
articles = [Article(id=f"n{i}", title=f"Story {i}", text=f"Version B of story {i}. " * 30) for i in range(200)]
Ingestor(index, settings).ingest_articles(articles)
index.close()
print("done", flush=True)
"""


@pytest.mark.parametrize("acknowledged_before_kill", [1, 6])
def test_killed_ingest_leaves_old_or_new_state(settings: Settings, embedder: SentenceTransformerEmbedder,
                                              tmp_path: Path, acknowledged_before_kill: int) -> None:
    with Index.open(settings, embedder=embedder) as index:
        Ingestor(index, settings).ingest_articles(
            [Article(id=f"n{i}", title=f"Story {i}", text=f"Version A of story {i}.") for i in range(200)]
        )
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(settings.index_dir), str(settings.tiktoken_cache_dir)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    acknowledged: list[str] = []
    deadline = time.monotonic() + 300
    while len([line for line in acknowledged]) < acknowledged_before_kill and time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line and line != "done\n", "the ingest finished before it could be killed"
        acknowledged.append(line)
    process.send_signal(signal.SIGKILL)
    process.wait()
    acknowledged_ids = {article_id for line in acknowledged for article_id in json.loads(line)}
    assert acknowledged_ids

    with Index.open(settings, embedder=embedder) as index:
        n_articles, n_chunks = index.docstore.count()
        assert n_articles == 200
        assert len(index.vectors) == n_chunks
        versions = {}
        for i in range(200):
            article = index.docstore.get_article(f"n{i}").article
            versions[article.id] = article.text.split()[1]
            chunks = index.docstore.chunks_of(article.id)
            assert chunks and all(article.text[c.start : c.end] == c.text for c in chunks)
        assert set(versions.values()) <= {"A", "B"}
        assert all(versions[i] == "B" for i in acknowledged_ids)
        assert any(v == "A" for v in versions.values()), "the kill came too late to test anything"
        stored = index.docstore.vectors_of([c.id for c in index.docstore.chunks_of("n0")])
        _, ids = index.vectors.search(np.vstack(list(stored.values())), 1)
        assert set(ids[:, 0].tolist()) == set(stored)


def test_ivf_index_is_retrained_when_it_outgrows_its_first_batch(settings: Settings,
                                                                embedder: SentenceTransformerEmbedder) -> None:
    ivf = settings.replace(index_type="ivf")
    articles = [Article(id=f"s{i}", title=f"Story {i}", text=f"Story number {i} is about topic {i % 7}.")
                for i in range(60)]
    with Index.open(ivf, embedder=embedder) as index:
        Ingestor(index, ivf).ingest_articles(articles[:10])
        first_nlist = faiss.extract_index_ivf(index.vectors._index.index).nlist
        Ingestor(index, ivf).ingest_articles(articles[10:])
        assert index.vectors.needs_retraining
        index.save()
        assert index.vectors.trained_on == 60 and not index.vectors.needs_retraining
        assert faiss.extract_index_ivf(index.vectors._index.index).nlist >= first_nlist
        _, ids = index.vectors.search(embedder.encode(["Story number 42 is about topic 0."]), 1)
        assert ids[0][0] == index.docstore.chunks_of("s42")[0].id
