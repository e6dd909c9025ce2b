"""The same ingest and search benchmarks on both stacks in one run: embedded (FAISS + SQLite) and
scale-out (Milvus 2.3.5 + PostgreSQL, real servers started here).

Corpus: real text, RealTime QA articles cut into ~600-character chunks. Vectors: --real chunks
are embedded with the bundled MiniLM (ONNX); the rest of the N vectors are those real vectors
perturbed (v + sigma * gaussian noise, renormalised): realistic neighbourhoods, not real
embeddings of the extra chunks. Queries: RealTime QA dev questions, embedded for real.

Measured per stack: ingest rows/s through the index's own write path (rows + vectors + keyword
index), dense search p50/p99 (k=10) and its recall@10 against exact search, the keyword leg alone
and hybrid retrieval (dense + keyword + fusion, as /v1/search does, query embedding excluded) p50;
on both also with every OR match ranked (`common_shares` (1,): the keyword search before common
words were pruned; the embedded stack prunes from `QA_KEYWORD_PRUNE_CHUNKS`), in the same run.

    PYTHONPATH=. nice -n 10 python bench/stores.py --chunks 100000 [--http] [--stacks embedded,scale]
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

from qa.docstore import StoredArticle  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.stores.base import DocumentStore  # noqa: E402
from qa.types import Article, Chunk, Filters  # noqa: E402
from tests.servers import milvus_server, postgres_server  # noqa: E402

EVAL = Path("/work/shared/eval/realtimeqa")
CHUNK_CHARS = 600
WRITE_BATCH = 200  # articles per write
# filtered searches (RealTime QA articles have dates, no sources): about a quarter / a third pass
FILTERS = {"from_2024": Filters(published_from="2024-01-01"), "as_of_2022_06": Filters(as_of="2022-06-30")}


def corpus(n_chunks: int) -> list[tuple[Article, list[str]]]:
    """Articles and their chunk texts, until n_chunks chunks (articles reused with new ids if short)."""
    out, total, rounds = [], 0, 0
    while total < n_chunks:
        with gzip.open(EVAL / "articles.jsonl.gz", "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                text = row["text"]
                pieces = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)][: n_chunks - total]
                if not pieces:
                    continue
                article = Article(id=f"{row['id']}~{rounds}", title=row["title"], text=text,
                                  published=row.get("published"), source=row.get("source"))
                out.append((article, pieces))
                total += len(pieces)
                if total >= n_chunks:
                    break
        rounds += 1
    return out


def dev_questions(n: int) -> list[str]:
    """The first n RealTime QA dev questions."""
    with gzip.open(EVAL / "questions.jsonl.gz", "rt") as handle:
        return [q["question"] for q in map(json.loads, handle) if q["split"] == "dev"][:n]


def vectors_for(texts: list[str], n_real: int, sigma: float, embedder) -> np.ndarray:  # noqa: ANN001
    """The first n_real texts embedded; each other vector mixes two random real ones (weights
    0.3-0.7) plus gaussian noise of norm ~sigma, renormalised: every vector distinct, spread
    along the real ones' neighbourhoods (copies of a few hundred vectors would form tight
    clusters of near-ties that no approximate index ranks exactly)."""
    real = embedder.encode(texts[:n_real]).astype(np.float32)
    return np.vstack([real, synthetic(real, len(texts) - n_real, sigma)])


def synthetic(real: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        w = rng.uniform(0.3, 0.7, (m, 1)).astype(np.float32)
        mixed = w * real[rng.integers(0, len(real), m)] + (1 - w) * real[rng.integers(0, len(real), m)]
        mixed += sigma * rng.standard_normal(mixed.shape).astype(np.float32) / np.sqrt(real.shape[1])
        out[start:start + m] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out


def chunks_of(article: Article, pieces: list[str]) -> list[Chunk]:
    """The article's pieces as consecutive chunks."""
    chunks, start = [], 0
    for position, piece in enumerate(pieces):
        chunks.append(Chunk(article_id=article.id, position=position, text=piece, start=start,
                            end=start + len(piece), n_tokens=len(piece) // 4))
        start += len(piece)
    return chunks


def ingest(index: Index, docs: list[tuple[Article, list[str]]], vectors: np.ndarray) -> float:
    """Rows per second through `index.write`."""
    started, offset = time.perf_counter(), 0
    for b in range(0, len(docs), WRITE_BATCH):
        upserts = []
        for article, pieces in docs[b:b + WRITE_BATCH]:
            upserts.append((StoredArticle(article, "t", "m", None), chunks_of(article, pieces),
                            vectors[offset:offset + len(pieces)]))
            offset += len(pieces)
        index.write(upserts=upserts)
    return offset / (time.perf_counter() - started)


def search_stats(index: Index, settings: Settings, queries: np.ndarray, texts: list[str], exact: np.ndarray,
                 shares: list[str] = ()) -> dict:
    times, recalls = [], []
    for q, truth in zip(queries, exact):
        started = time.perf_counter()
        _, ids = index.vectors.search(q[None, :], 10)
        times.append((time.perf_counter() - started) * 1000)
        recalls.append(len(set(ids[0].tolist()) & set(truth.tolist())) / 10)
    _progress("dense", times, recall=round(float(np.mean(recalls)), 4))
    retriever = Retriever(index, settings)
    hybrid = []
    cached = dict(zip(texts, queries))

    class Cached:  # the query vector is precomputed: the stacks are measured, not the model
        dimension = queries.shape[1]

        def encode(self, batch):  # noqa: ANN001, ANN202
            return np.vstack([cached[t] for t in batch])

    index._embedder = Cached()  # type: ignore[attr-defined]
    import qa.retrieve

    qa.retrieve.query_batcher = lambda embedder: embedder  # type: ignore[assignment]
    for text in texts:
        started = time.perf_counter()
        retriever.search(text, 10)
        hybrid.append((time.perf_counter() - started) * 1000)
    _progress("hybrid", hybrid)
    keyword = keyword_times(index.docstore, texts, max(10, settings.search_candidates))
    _progress("keyword", keyword)
    filtered = filtered_stats(retriever, queries, texts)
    _progress("filtered", [], **filtered)
    if getattr(index.vectors, "has_scalars", False):  # Milvus: the same with filters by chunk ids (before)
        index.vectors.has_scalars = False
        filtered |= {f"idlist_{k}": v for k, v in filtered_stats(retriever, queries, texts).items()}
        index.vectors.has_scalars = True
    stats = {"dense_p50_ms": round(statistics.median(times), 2),
             "dense_p99_ms": round(float(np.percentile(times, 99)), 2),
             "recall@10": round(float(np.mean(recalls)), 4),
             "keyword_p50_ms": round(statistics.median(keyword), 2),
             "keyword_p99_ms": round(float(np.percentile(keyword, 99)), 2),
             "hybrid_p50_ms": round(statistics.median(hybrid), 2),
             "hybrid_p99_ms": round(float(np.percentile(hybrid, 99)), 2)} | filtered
    if hasattr(index.docstore, "common_shares"):  # the same, every OR match ranked (before)
        pruned, index.docstore.common_shares = index.docstore.common_shares, (1.0,)
        keyword = keyword_times(index.docstore, texts, max(10, settings.search_candidates))
        hybrid = []
        for text in texts:
            started = time.perf_counter()
            retriever.search(text, 10)
            hybrid.append((time.perf_counter() - started) * 1000)
        for tiers in shares:  # the keyword leg with other `common_shares`
            index.docstore.common_shares = tuple(float(x) for x in tiers.split(","))
            stats[f"keyword_p50_ms_shares_{tiers}"] = round(statistics.median(
                keyword_times(index.docstore, texts, max(10, settings.search_candidates))), 2)
        index.docstore.common_shares = pruned
        stats |= {"unpruned_keyword_p50_ms": round(statistics.median(keyword), 2),
                  "unpruned_hybrid_p50_ms": round(statistics.median(hybrid), 2),
                  "unpruned_hybrid_p99_ms": round(float(np.percentile(hybrid, 99)), 2)}
    return stats


def _progress(phase: str, times: list[float], **figures: float) -> None:
    """A phase's figures as soon as it ends: a long run that is stopped keeps what it measured."""
    p50 = {"p50_ms": round(statistics.median(times), 2)} if times else {}
    print(f"[{time.strftime('%H:%M:%S')}] {phase}: {json.dumps(p50 | figures)}", flush=True)


def filtered_stats(retriever: Retriever, queries: np.ndarray, texts: list[str]) -> dict:
    """p50 ms of the dense leg (as the retriever runs it, 100 candidates) and of hybrid retrieval,
    for each of `FILTERS`."""
    out = {}
    for name, filters in FILTERS.items():
        dense, hybrid = [], []
        for q, text in zip(queries, texts):
            started = time.perf_counter()
            retriever._dense(q[None, :], 100, filters)
            dense.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            retriever.search(text, 10, filters)
            hybrid.append((time.perf_counter() - started) * 1000)
        out |= {f"dense_p50_ms_{name}": round(statistics.median(dense), 2),
                f"hybrid_p50_ms_{name}": round(statistics.median(hybrid), 2)}
    return out


def keyword_times(docstore: DocumentStore, texts: list[str], n: int) -> list[float]:
    """Milliseconds of a store's keyword leg alone (as the retriever calls it, `n` candidates)."""
    times = []
    for text in texts:
        started = time.perf_counter()
        docstore.keyword_search(text, n)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=2000, help="chunks embedded for real")
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embedded-index", default="hnsw")
    parser.add_argument("--shares", nargs="*", default=[],
                        help="other PostgresDocStore.common_shares (comma-separated) to time the keyword leg at")
    parser.add_argument("--http", action="store_true", help="also /v1/search throughput, 1 and 2 replicas")
    parser.add_argument("--stacks", default="embedded,scale", help="which stacks to measure (comma-separated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = Settings.from_env({}, index_dir=root / "index", tiktoken_cache_dir=root / "tiktoken",
                                 seeds_dir=root / "none", index_type=args.embedded_index, recency_weight=0.0)
        embedder = load_embedder(base)
        docs = corpus(args.chunks)
        texts = [p for _, pieces in docs for p in pieces]
        started = time.perf_counter()
        vectors = vectors_for(texts, args.real, args.sigma, embedder)
        print(f"{len(texts)} chunks, {args.real} embedded in {time.perf_counter() - started:.0f} s", flush=True)
        questions = dev_questions(args.queries)
        queries = embedder.encode(questions)
        exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]  # row i = chunk id i + 1 (ids from 1)
        results = {"chunks": len(texts), "real_vectors": args.real, "sigma": args.sigma}
        if "embedded" in args.stacks:
            with Index.open(base, embedder=embedder) as index:
                results["embedded"] = {"ingest_rows_per_s": round(ingest(index, docs, vectors))}
                exact_ids = _ids_in_order(index, docs)[exact]
                results["embedded"] |= search_stats(index, base, queries, questions, exact_ids)
            print(json.dumps(results), flush=True)
        if "scale" not in args.stacks:
            return
        with postgres_server(root / "pg") as pg, milvus_server(root / "milvus") as uri:
            scale = base.replace(store="scale", postgres_dsn=pg.dsn(), milvus_uri=uri)
            with Index.open(scale, embedder=embedder) as index:
                results["scale"] = {"ingest_rows_per_s": round(ingest(index, docs, vectors))}
                _progress("ingest", [], rows_per_s=results["scale"]["ingest_rows_per_s"])
                _wait_for_index(index)
                index.docstore._conn().execute("ANALYZE qa_chunks")  # as autovacuum would by then
                exact_ids = _ids_in_order(index, docs)[exact]
                results["scale"] |= search_stats(index, scale, queries, questions, exact_ids, args.shares)
            print(json.dumps(results), flush=True)
            if args.http:
                from replicas import throughput  # bench/ is on sys.path when run as a script

                env = {"QA_STORE": "scale", "QA_POSTGRES_DSN": pg.dsn(), "QA_MILVUS_URI": uri,
                       "QA_RECENCY_WEIGHT": "0"}
                results["scale"]["http_search"] = throughput(env, questions, root)
                embedded_env = {"QA_INDEX_DIR": str(root / "index"), "QA_INDEX_TYPE": args.embedded_index,
                                "QA_RECENCY_WEIGHT": "0"}
                if "embedded" in results:
                    results["embedded"]["http_search"] = throughput(embedded_env, questions, root, replicas=(1,))
        print(json.dumps(results, indent=1), flush=True)


def _ids_in_order(index: Index, docs: list[tuple[Article, list[str]]]) -> np.ndarray:
    """Chunk ids in corpus order (the order of `vectors`)."""
    ids = []
    for article, _ in docs:
        ids += [c.id for c in index.docstore.chunks_of(article.id)]
    return np.asarray(ids, dtype=np.int64)


def _wait_for_index(index: Index, timeout: float = 1800) -> None:
    """Milvus: flush, then wait until the HNSW index covers every row (else search is brute force
    over growing segments)."""
    client, name = index.vectors.client, index.vectors.collection
    client.flush(name)
    deadline, report = time.monotonic() + timeout, time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.describe_index(name, "vector")
        done = info.get("indexed_rows", 0) >= info.get("total_rows", 1)  # pending rows: see vector_scale.py
        if done or time.monotonic() >= report:
            _progress("milvus index", [], indexed_rows=info.get("indexed_rows", 0))
            report = time.monotonic() + 60
        if done:
            return
        time.sleep(2)
    print("warning: the Milvus index was not complete", flush=True)


if __name__ == "__main__":
    main()
