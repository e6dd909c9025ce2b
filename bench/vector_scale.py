"""Dense search at scale on both stacks' vector stores, in one run: FAISS (`FaissStore`, flat =
the embedded default, and hnsw) against Milvus 2.3.5 (`MilvusStore`, HNSW, the real server
started here), same vectors, same queries. Rows, keyword search and the model are left out: this
is the part of a search that grows with the corpus.

Vectors: --real RealTime QA article chunks embedded with the bundled MiniLM (cached in --cache),
the rest synthetic from them (bench/stores.py `synthetic`: mixes of two real vectors plus noise).
Queries: RealTime QA dev questions, embedded for real. Recall@10 against exact search (numpy).

    PYTHONPATH=. nice -n 10 python bench/vector_scale.py --vectors 1000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stores import EVAL, corpus, synthetic  # noqa: E402

from qa.embed import load_embedder  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.stores.milvus import MilvusStore  # noqa: E402
from qa.vectorstore import FaissStore  # noqa: E402
from tests.servers import milvus_server  # noqa: E402

EF_SWEEP = (256, 512)  # search-time effort beyond the default 128, on the same built index


def real_vectors(n: int, cache: Path, embedder) -> np.ndarray:  # noqa: ANN001
    if cache.exists():
        held = np.load(cache)
        if len(held) >= n:
            return held[:n]
    texts = [p for _, pieces in corpus(n) for p in pieces][:n]
    vectors = embedder.encode(texts).astype(np.float32)
    np.save(cache, vectors)
    return vectors


def exact_top10(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    scores = np.full((len(queries), 0), 0, np.float32)
    best_ids = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(vectors), 200_000):
        block = queries @ vectors[start:start + 200_000].T
        ids = np.argpartition(-block, 10, axis=1)[:, :10]
        scores = np.hstack([scores, np.take_along_axis(block, ids, 1)])
        best_ids = np.hstack([best_ids, ids + start])
        keep = np.argsort(-scores, axis=1)[:, :10]
        scores, best_ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(best_ids, keep, 1)
    return best_ids + 1  # chunk ids start at 1


def measure(store, queries: np.ndarray, exact: np.ndarray) -> dict:  # noqa: ANN001
    for q in queries[:10]:
        store.search(q[None, :], 10)  # warm-up
    times, recalls = [], []
    for q, truth in zip(queries, exact):
        started = time.perf_counter()
        _, ids = store.search(q[None, :], 10)
        times.append((time.perf_counter() - started) * 1000)
        recalls.append(len(set(ids[0].tolist()) & set(truth.tolist())) / 10)
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(float(np.percentile(times, 99)), 2),
            "recall@10": round(float(np.mean(recalls)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=2000)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench-real-vectors.npy")
    parser.add_argument("--milvus-index-params", default='{"M": 32, "efConstruction": 200}')
    parser.add_argument("--milvus-ef", type=int, default=128)
    parser.add_argument("--skip-flat", action="store_true")
    args = parser.parse_args()
    embedder = load_embedder(Settings())
    real = real_vectors(args.real, args.cache, embedder)
    vectors = np.vstack([real, synthetic(real, args.vectors - len(real), args.sigma)])
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    with gzip.open(EVAL / "questions.jsonl.gz", "rt") as handle:
        questions = [q["question"] for q in map(json.loads, handle) if q["split"] == "dev"][: args.queries]
    queries = embedder.encode(questions).astype(np.float32)
    exact = exact_top10(queries, vectors)
    results: dict = {"vectors": len(vectors), "real": len(real), "queries": len(queries)}
    for index_type in ("hnsw",) if args.skip_flat else ("flat", "hnsw"):
        store = FaissStore(vectors.shape[1], index_type)
        started = time.perf_counter()
        for start in range(0, len(ids), 100_000):
            store.add(ids[start:start + 100_000], vectors[start:start + 100_000])
        rate = len(ids) / (time.perf_counter() - started)
        results[f"faiss_{index_type}"] = {"add_rows_per_s": round(rate), **measure(store, queries, exact)}
        if index_type == "hnsw":
            for ef in EF_SWEEP:
                store.hnsw_ef_search = ef
                results[f"faiss_hnsw_ef{ef}"] = measure(store, queries, exact)
        print(json.dumps(results), flush=True)
        del store
    with tempfile.TemporaryDirectory() as tmp, milvus_server(Path(tmp)) as uri:
        store = MilvusStore(uri, "bench", vectors.shape[1], index_type="HNSW",
                            index_params=json.loads(args.milvus_index_params),
                            search_params={"ef": args.milvus_ef}, consistency="Session")
        started = time.perf_counter()
        store.add(ids, vectors)
        inserted = time.perf_counter() - started
        store.client.flush("bench")
        while True:  # the HNSW index covers every row
            info = store.client.describe_index("bench", "vector")
            # indexed_rows only: Milvus 2.3.5 keeps reporting pending rows while compaction re-indexes
            if info.get("indexed_rows", 0) >= len(ids):
                break
            time.sleep(5)
        indexed = time.perf_counter() - started
        store.client.release_collection("bench")
        store.client.load_collection("bench")  # search the sealed, indexed segments
        results["milvus_hnsw"] = {"insert_rows_per_s": round(len(ids) / inserted),
                                  "insert_and_index_s": round(indexed), **measure(store, queries, exact),
                                  "index_params": json.loads(args.milvus_index_params), "ef": args.milvus_ef}
        for ef in EF_SWEEP:
            store.search_params = {"ef": ef}
            results[f"milvus_hnsw_ef{ef}"] = measure(store, queries, exact)
        print(json.dumps(results, indent=1), flush=True)


if __name__ == "__main__":
    main()
