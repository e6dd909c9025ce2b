"""FAISS vector stores of every supported type: search, filters, removal and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.vectorstore import FaissStore, VectorStoreError, factory_string

DIM = 32


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=["flat", "hnsw", "ivf"])
def store(request: pytest.FixtureRequest) -> FaissStore:
    store = FaissStore(DIM, request.param)
    store.add(np.arange(100, 2100, dtype=np.int64), unit_vectors(2000))
    return store


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return (np.argsort(-(vectors @ query))[:k] + 100).tolist()


def test_search_finds_the_exact_neighbours(store: FaissStore) -> None:
    vectors = unit_vectors(2000)
    query = vectors[7]
    scores, ids = store.search(query, 10)
    assert ids[0][0] == 107 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    recall = len(set(ids[0].tolist()) & set(exact_top(vectors, query, 10))) / 10
    assert recall >= 0.8


def test_search_respects_allowed_ids(store: FaissStore) -> None:
    allowed = np.arange(500, 600, dtype=np.int64)
    _, ids = store.search(unit_vectors(2000)[7], 5, allowed_ids=allowed)
    found = [i for i in ids[0].tolist() if i >= 0]
    assert found and all(500 <= i < 600 for i in found)


def test_removed_ids_are_never_returned(store: FaissStore) -> None:
    vectors = unit_vectors(2000)
    store.remove(np.array([107, 108], dtype=np.int64))
    _, ids = store.search(vectors[7], 10)
    assert 107 not in ids[0] and 108 not in ids[0]
    assert len(store) == 1998


def test_save_and_load_round_trip(store: FaissStore, tmp_path: Path) -> None:
    store.synced_seq = 42
    store.remove(np.array([150], dtype=np.int64))
    store.save(tmp_path / "v.faiss")
    loaded = FaissStore.load(tmp_path / "v.faiss")
    query = unit_vectors(2000)[150]
    assert loaded.synced_seq == 42 and len(loaded) == len(store)
    assert loaded.search(query, 5)[1].tolist() == store.search(query, 5)[1].tolist()
    assert not list(tmp_path.glob("*.tmp*"))


def test_hnsw_compacts_when_tombstones_pile_up() -> None:
    store = FaissStore(DIM, "hnsw")
    store.add(np.arange(100, dtype=np.int64), unit_vectors(100))
    store.remove(np.arange(30, dtype=np.int64))
    assert len(store) == 70 and not store._tombstones  # compacted: rebuilt without them
    _, ids = store.search(unit_vectors(100)[50], 1)
    assert ids[0][0] == 50


def test_empty_store_and_bad_input() -> None:
    store = FaissStore(DIM)
    scores, ids = store.search(unit_vectors(1)[0], 3)
    assert ids.tolist() == [[-1, -1, -1]]
    with pytest.raises(VectorStoreError, match="dimensions"):
        store.add(np.array([1]), np.zeros((1, DIM + 1), np.float32))
    with pytest.raises(VectorStoreError, match="unsupported index type"):
        FaissStore(DIM, "NoSuchIndex").add(np.array([1]), unit_vectors(1))


def test_factory_strings() -> None:
    assert factory_string("flat", 10) == "Flat"
    assert factory_string("hnsw", 10) == "HNSW32"
    assert factory_string("ivf", 1_000_000) == "IVF4000,Flat"
    assert factory_string("IVF256,PQ16", 10) == "IVF256,PQ16"


def test_ivf_asks_for_retraining_once_it_outgrows_its_training(tmp_path: Path) -> None:
    store = FaissStore(DIM, "ivf")
    store.add(np.arange(100, dtype=np.int64), unit_vectors(100))
    assert store.trained_on == 100 and not store.needs_retraining
    store.add(np.arange(100, 1000, dtype=np.int64), unit_vectors(900, seed=1))
    assert store.needs_retraining
    store.save(tmp_path / "v.faiss")
    assert FaissStore.load(tmp_path / "v.faiss").needs_retraining


def test_a_single_query_searches_on_one_thread_and_restores_the_count() -> None:
    import faiss

    store = FaissStore(DIM, "flat")
    vectors = unit_vectors(2000)
    store.add(np.arange(2000, dtype=np.int64), vectors)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        queries = unit_vectors(3, seed=5)
        together = store.search(queries, 10)
        alone = [store.search(q, 10) for q in queries]
        assert faiss.omp_get_max_threads() == 2
        for i, (scores, ids) in enumerate(alone):
            assert ids[0].tolist() == together[1][i].tolist()
            assert np.allclose(scores[0], together[0][i], atol=1e-5)
    finally:
        faiss.omp_set_num_threads(before)
