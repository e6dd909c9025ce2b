"""The index on disk: manifest checks, the write lock, and crash safety (a killed ingest)."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.embed import SentenceTransformerEmbedder
from qa.index import (
    Index,
    IndexDamagedError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexStorageError,
)
from qa.ingest import Ingestor
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Article
from qa.vectorstore import FaissStore
from tests.helpers import cap_docstore


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
    from qa.embed import load_embedder

    with pytest.raises(IndexMismatchError, match="must not be mixed"):
        Index.open(seeded_settings, embedder=load_embedder(seeded_settings.replace(encoder="torch")), writable=False)


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
from qa.embed import load_embedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.settings import Settings
from qa.types import Article

qa.ingest.WINDOW_CHUNKS = 4  # commit often so the kill lands between and inside commits
settings = Settings.from_env({}, index_dir=sys.argv[1], tiktoken_cache_dir=sys.argv[2])
index = Index.open(settings, embedder=load_embedder(settings))
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


# --- every stored thing verifiable -----------------------------------------------------------
def search_ids(index: Index, embedder: SentenceTransformerEmbedder, query: str = "Taiwan defence budget") -> list:
    return index.vectors.search(embedder.encode([query]), 3)[1].tolist()


def damage_inside(path: Path) -> None:
    """4 KB of garbage in the middle of the vector data."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = os.urandom(4096)
    path.write_bytes(bytes(data))


def nan_vectors(path: Path) -> None:
    """A well-formed file (right id, sequence and checksum) whose vectors are NaN."""
    store = FaissStore.load(path)
    ids = faiss.vector_to_array(store._index.id_map).astype(np.int64)
    poisoned = FaissStore(store.dimension, store.index_type)
    poisoned.add(ids, np.full((len(ids), store.dimension), np.nan, dtype=np.float32))
    poisoned.synced_seq, poisoned.index_id = store.synced_seq, store.index_id
    poisoned.save(path)


@pytest.mark.parametrize(("damage", "warning"), [
    (lambda p: p.write_bytes(p.read_bytes()[:10]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    (damage_inside, "checksum"),
    (nan_vectors, "not finite"),
    (lambda p: p.write_bytes(b"\xff" * 5000), "not a vector store file"),
])
def test_damaged_vector_file_is_rebuilt_with_a_warning(seeded_settings: Settings, embedder: SentenceTransformerEmbedder,
                                                       caplog: pytest.LogCaptureFixture, damage, warning: str) -> None:
    vector_file = seeded_settings.index_dir / "vectors.faiss"
    with Index.open(seeded_settings, embedder=embedder) as index:
        n_chunks, expected = index.docstore.count()[1], search_ids(index, embedder)
    damage(vector_file)
    with (caplog.at_level(logging.WARNING, logger="qa.index"),
          Index.open(seeded_settings, embedder=embedder, writable=False) as index):  # readers too
        assert len(index.vectors) == n_chunks and search_ids(index, embedder) == expected
    assert any(warning in r.getMessage() and "rebuilding it from" in r.getMessage() for r in caplog.records)
    with Index.open(seeded_settings, embedder=embedder) as index:  # a writer repairs the file
        assert search_ids(index, embedder) == expected
    assert FaissStore.load(vector_file).vectors_are_finite()


def test_vector_file_of_another_index_is_not_used(seeded_settings: Settings, settings: Settings,
                                                  embedder: SentenceTransformerEmbedder,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with Index.open(settings, embedder=embedder) as other:
        Ingestor(other, settings).ingest_articles([Article(id="o", title="Other", text="Volcanic ash over Iceland.")])
    with Index.open(seeded_settings, embedder=embedder) as index:
        expected = search_ids(index, embedder)
    shutil.copy(settings.index_dir / "vectors.faiss", seeded_settings.index_dir / "vectors.faiss")
    with caplog.at_level(logging.WARNING, logger="qa.index"), Index.open(seeded_settings, embedder=embedder) as index:
        assert search_ids(index, embedder) == expected
    assert any("belongs to another index" in r.getMessage() for r in caplog.records)


def test_docstore_restored_from_an_older_backup_gets_matching_vectors(seeded_settings: Settings,
                                                                     embedder: SentenceTransformerEmbedder,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    docs = seeded_settings.index_dir / "docs.sqlite"
    backup = docs.with_name("backup.sqlite")
    with Index.open(seeded_settings, embedder=embedder) as index:
        index.docstore._conn().execute(f"VACUUM INTO '{backup}'")
        Ingestor(index, seeded_settings).ingest_articles(
            [Article(id=f"new{i}", title=f"New {i}", text=f"Fresh story {i} about harbours.") for i in range(3)])
    for suffix in ("-wal", "-shm"):
        Path(str(docs) + suffix).unlink(missing_ok=True)
    os.replace(backup, docs)
    with caplog.at_level(logging.WARNING, logger="qa.index"), Index.open(seeded_settings, embedder=embedder) as index:
        assert len(index.vectors) == index.docstore.count()[1]
        assert index.docstore.get_article("new0") is None
        _, ids = index.vectors.search(embedder.encode(["Fresh story about harbours"]), 3)
        assert set(index.get_chunks([int(i) for i in ids[0]])) == {int(i) for i in ids[0]}  # no stale ids
    assert any("is ahead of" in r.getMessage() for r in caplog.records)


def test_missing_docstore_is_a_clear_error_not_a_silent_mix(seeded_settings: Settings,
                                                           embedder: SentenceTransformerEmbedder) -> None:
    docs = seeded_settings.index_dir / "docs.sqlite"
    for path in (docs, Path(str(docs) + "-wal"), Path(str(docs) + "-shm")):
        path.unlink(missing_ok=True)
    for writable in (True, False):
        with pytest.raises(IndexDamagedError, match=r"docs.sqlite is missing.*restore docs.sqlite.*`qa ingest`"):
            Index.open(seeded_settings, embedder=embedder, writable=writable)
    assert not docs.exists()  # nothing was created next to the old vectors


def test_docstore_that_is_not_sqlite_is_a_clear_error(seeded_settings: Settings,
                                                     embedder: SentenceTransformerEmbedder) -> None:
    docs = seeded_settings.index_dir / "docs.sqlite"
    for path in (Path(str(docs) + "-wal"), Path(str(docs) + "-shm")):
        path.unlink(missing_ok=True)
    docs.write_bytes(os.urandom(8192))
    with pytest.raises(IndexDamagedError, match=r"docs.sqlite is not a readable SQLite database.*backup.*`qa ingest`"):
        Index.open(seeded_settings, embedder=embedder)


def test_manifest_with_invalid_utf8_is_recovered_or_a_clear_error(seeded_settings: Settings,
                                                                  embedder: SentenceTransformerEmbedder,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    manifest = seeded_settings.index_dir / "manifest.json"
    original = manifest.read_bytes()
    with Index.open(seeded_settings, embedder=embedder):
        pass  # a writer records the manifest's copy in docs.sqlite
    manifest.write_bytes(b'{"version": 1, "embedding_model": "\xff\xfe"}')
    with caplog.at_level(logging.WARNING, logger="qa.index"), Index.open(seeded_settings, embedder=embedder) as index:
        assert index.docstore.count()[0] == 2
    assert any("not UTF-8" in r.getMessage() and "recovered" in r.getMessage() for r in caplog.records)
    assert json.loads(manifest.read_bytes()) == json.loads(original)
    # without the copy (an index from before it was kept): a clear error naming the file
    with Index.open(seeded_settings, embedder=embedder) as index:
        index.docstore._conn().execute("DELETE FROM meta WHERE key = 'manifest'")
        manifest.write_bytes(b"\xff\xfe garbage")
        with pytest.raises(IndexDamagedError, match=r"manifest.json is not a valid index manifest \(not UTF-8"):
            Index.open(seeded_settings, embedder=embedder, writable=False)


def test_leftover_temporary_files_are_removed_when_the_index_opens(seeded_settings: Settings,
                                                                   embedder: SentenceTransformerEmbedder) -> None:
    leftovers = [seeded_settings.index_dir / name for name in ("vectors.faiss.tmp4242", "manifest.json.tmp77")]
    for path in leftovers:
        path.write_bytes(b"half a save")
    with Index.open(seeded_settings, embedder=embedder, writable=False):
        assert all(path.exists() for path in leftovers)  # a reader never touches a writer's files
    with Index.open(seeded_settings, embedder=embedder):
        assert not any(path.exists() for path in leftovers)


# --- disk full -------------------------------------------------------------------------------
def test_disk_full_is_reported_as_such_and_stores_nothing(seeded_settings: Settings,
                                                         embedder: SentenceTransformerEmbedder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    big = [Article(id=f"big{i}", title=f"Big {i}", text=f"Long story number {i}. " * 400) for i in range(3)]
    with Index.open(seeded_settings, embedder=embedder) as index:
        before = index.docstore.count()
        cap_docstore(monkeypatch, spare_pages=2)
        with pytest.raises(IndexStorageError, match="the disk is full") as caught:
            Ingestor(index, seeded_settings).ingest_articles(big, atomic=True)
        assert caught.value.disk_full and "cannot rollback" not in str(caught.value)
        assert "nothing of this write was stored" in str(caught.value)
        assert index.docstore.count() == before and len(index.vectors) == before[1]
        monkeypatch.undo()
        index.docstore._conn().execute("PRAGMA max_page_count = 1073741823")  # space again
        Ingestor(index, seeded_settings).ingest_articles(big[:1])
        assert index.docstore.count()[0] == before[0] + 1


def test_failed_vector_save_leaves_no_temp_file_and_the_old_file(seeded_settings: Settings,
                                                                 embedder: SentenceTransformerEmbedder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    vector_file = seeded_settings.index_dir / "vectors.faiss"
    with Index.open(seeded_settings, embedder=embedder) as index:
        Ingestor(index, seeded_settings).ingest_articles([Article(id="x", title="X", text="Harbour news.")])

        def no_space(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        old = vector_file.read_bytes()
        monkeypatch.setattr("qa.vectorstore.os.fsync", no_space)
        with pytest.raises(IndexStorageError, match="the disk is full") as caught:
            index.save()
        assert caught.value.disk_full and "safe in" in str(caught.value)
        assert vector_file.read_bytes() == old
        assert not list(seeded_settings.index_dir.glob("vectors.faiss.tmp*"))
        monkeypatch.undo()
    with Index.open(seeded_settings, embedder=embedder) as reopened:  # caught up from docs.sqlite
        assert reopened.docstore.get_article("x") is not None
        assert len(reopened.vectors) == reopened.docstore.count()[1]


def test_atomic_ingest_commits_once_however_many_windows(index: Index, settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa.ingest.WINDOW_CHUNKS", 2)
    writes = []
    original = index.write
    monkeypatch.setattr(index, "write", lambda **kw: writes.append(kw) or original(**kw))
    articles = [Article(id=f"a{i}", title=f"A {i}", text=f"Story {i} about the harbour. " * 40) for i in range(4)]
    Ingestor(index, settings).ingest_articles(articles, atomic=True)
    assert len(writes) == 1 and len(writes[0]["upserts"]) == 4
    assert index.docstore.count()[0] == 4


def test_non_finite_vectors_in_sqlite_are_re_embedded_from_the_chunk_text(
        seeded_settings: Settings, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture) -> None:
    with Index.open(seeded_settings, embedder=embedder) as index:
        chunk = index.docstore.chunks_of("eaa377af9f908790")[0]
        nan = np.full(index.manifest.dimension, np.nan, dtype=np.float32).tobytes()
        index.docstore._conn().execute("UPDATE chunks SET vector = ? WHERE id = ?", (nan, chunk.id))
    (seeded_settings.index_dir / "vectors.faiss").unlink()
    with caplog.at_level(logging.WARNING, logger="qa.index"), Index.open(seeded_settings, embedder=embedder) as index:
        repaired = index.docstore.vectors_of([chunk.id])[chunk.id]
        assert np.allclose(repaired, embedder.encode([chunk.text])[0], atol=1e-5)
        _, ids = index.vectors.search(repaired, 1)
        assert ids[0][0] == chunk.id
    assert any("re-embedded from their chunk texts" in r.getMessage() for r in caplog.records)


def test_docstore_damaged_past_its_header_is_a_clear_error(tmp_path: Path) -> None:
    from tests.crash_worker import article, settings_for
    from tests.fakes import FakeEmbedder

    settings = settings_for(str(tmp_path / "index"), str(tmp_path / "tiktoken"))
    rng = random.Random(1)
    with Index.open(settings, embedder=FakeEmbedder()) as index:
        Ingestor(index, settings).ingest_articles([article(rng, str(i)) for i in range(40)])
        index.docstore._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    docs = settings.index_dir / "docs.sqlite"
    data = bytearray(docs.read_bytes())
    for page in range(3, len(data) // 4096, 2):  # the header page stays intact
        data[page * 4096 + 100 : page * 4096 + 1100] = b"\xa5" * 1000
    docs.write_bytes(bytes(data))
    with pytest.raises(IndexDamagedError, match=r"docs.sqlite is not a readable SQLite database \(database disk "
                                                r"image is malformed\).*`qa ingest`"):
        Index.open(settings, embedder=FakeEmbedder())
