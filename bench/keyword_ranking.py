"""Keyword leg alone: SQLite FTS5 BM25 (the embedded stack) against PostgreSQL full text search
rankings (the scale-out stack), on the same chunks and the same RealTime QA dev questions.

Corpus: the RealTime QA gold evidence passages plus the first --distractors articles, chunked by
the service's chunker (vectors are zeros: only keyword search is measured). For each question
with a gold passage: is the gold article among the top k keyword results (recall@k)? The SQL
rankings rank every chunk matching the OR of the content words; the services' own searches
(`DocStore.keyword_search`, BM25, and `PostgresDocStore.keyword_search`, norm 2) rank only those
holding a word below --shares of the chunks (`1`: every match, the search before pruning).

    PYTHONPATH=. nice -n 10 python bench/keyword_ranking.py --questions 300 --distractors 3000
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.embed import load_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import Ingestor  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.stores import postgres as pg  # noqa: E402
from qa.types import Article  # noqa: E402
from tests.servers import postgres_server  # noqa: E402

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "realtimeqa"
if not EVAL.exists():
    EVAL = Path("/work/shared/eval/realtimeqa")
CHOSEN = {"ts_rank norm 2 (length)": "ts_rank('{W}', c.tsv, q, 2)"}
RANKINGS = {
    "ts_rank norm 0": "ts_rank('{W}', c.tsv, q)",
    "ts_rank norm 1 (log length)": "ts_rank('{W}', c.tsv, q, 1)",
    "ts_rank norm 2 (length)": "ts_rank('{W}', c.tsv, q, 2)",
    "ts_rank_cd norm 0": "ts_rank_cd('{W}', c.tsv, q)",
    "ts_rank_cd norm 1": "ts_rank_cd('{W}', c.tsv, q, 1)",
    "ts_rank_cd norm 4 (extent distance)": "ts_rank_cd('{W}', c.tsv, q, 4)",
}


class ZeroEmbedder:
    """The real tokenizer (the chunker counts word pieces with it), zero vectors."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens  # type: ignore[attr-defined]
        self.identity = getattr(inner, "identity", "")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dimension), np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)  # type: ignore[attr-defined]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--distractors", type=int, default=3000)
    parser.add_argument("--only-chosen", action="store_true", help="only SQLite and the chosen ranking (+ --shares)")
    parser.add_argument("--shares", nargs="*", default=["1", ",".join(map(str, pg.COMMON_SHARES))],
                        help="PostgresDocStore.common_shares to measure keyword_search with (comma-separated)")
    parser.add_argument("--limit", type=int, default=300,
                        help="rows each service keyword search returns (the service asks for 100)")
    args = parser.parse_args()
    if args.only_chosen:
        RANKINGS.clear()
        RANKINGS.update(CHOSEN)
    fields = ("id", "title", "text", "url", "published", "source")
    corpus = [Article(**{k: r.get(k) for k in fields}) for r in
              read_jsonl(EVAL / "evidence.jsonl.gz") + read_jsonl(EVAL / "articles.jsonl.gz", args.distractors)]
    questions = [q for q in read_jsonl(EVAL / "questions.jsonl.gz")
                 if q["split"] == "dev" and q.get("gold_ids")][: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings.from_env({}, index_dir=root / "index", tiktoken_cache_dir=root / "tiktoken",
                                     seeds_dir=root / "none")
        embedder = ZeroEmbedder(load_embedder(settings))
        with Index.open(settings, embedder=embedder) as index:  # type: ignore[arg-type]
            started = time.perf_counter()
            Ingestor(index, settings).ingest_articles(corpus)
            print(f"chunked {index.docstore.count()} in {time.perf_counter() - started:.0f} s", flush=True)
            with postgres_server(root / "pg") as server:
                store = pg.PostgresDocStore(server.dsn())
                copy(index, store)
                print(json.dumps(measure(index, store, questions, args.shares, args.limit), indent=1))
                store.close()


def copy(index: Index, store: pg.PostgresDocStore) -> None:
    ids = [r[0] for r in index.docstore._conn().execute("SELECT id FROM articles ORDER BY id")]
    for start in range(0, len(ids), 500):
        upserts = []
        for article_id in ids[start:start + 500]:
            stored = index.docstore.get_article(article_id)
            chunks = index.docstore.chunks_of(article_id)
            upserts.append((stored, chunks, np.zeros((len(chunks), 4), np.float32)))
        # the SQLite chunk ids, so results of both stores map to articles the same way
        store.apply(upserts, chunk_ids=[[c.id for c in chunks] for _, chunks, _ in upserts])
    store._conn().execute("ANALYZE")


def measure(index: Index, store: pg.PostgresDocStore, questions: list[dict], shares: Sequence[str],
            limit: int = 300) -> dict:
    ks = (5, 10, 50, 100)

    def article_of(chunk_ids: list[int], rows: dict) -> list[str]:
        return list(dict.fromkeys(rows[i].chunk.article_id for i in chunk_ids if i in rows))

    def score(search) -> dict:  # noqa: ANN001
        hits = {k: 0 for k in ks}
        times = []
        for q in questions:
            started = time.perf_counter()
            ranked = search(q["question"])
            times.append((time.perf_counter() - started) * 1000)
            articles = article_of(ranked, index.docstore.get_chunks(ranked))
            for k in ks:
                hits[k] += any(g in articles[:k] for g in q["gold_ids"])  # k articles (chunks deduplicated)
        return {**{f"recall@{k}": round(hits[k] / len(questions), 3) for k in ks},
                "p50_ms": round(statistics.median(times), 1)}

    index.docstore.prune_min_chunks = 0  # --shares apply at any size (the service prunes from 50k chunks)
    index.docstore.common_shares = (1.0,)  # every OR match ranked
    results = {"SQLite FTS5 bm25(0.5, 1.0)": score(lambda text: index.docstore.keyword_search(text, 300))}
    for name, expression in RANKINGS.items():
        rank = expression.replace("{W}", pg.RANK_WEIGHTS)

        def search(text: str, rank: str = rank) -> list[int]:
            terms = pg.ts_query(text)
            if not terms:
                return []
            rows = store._conn().execute(
                f"SELECT c.id FROM qa_chunks c, websearch_to_tsquery('{pg.TS_CONFIG}', %s) q WHERE c.tsv @@ q"
                f" ORDER BY {rank} DESC, c.id LIMIT 300", (terms,)).fetchall()
            return [r[0] for r in rows]

        results["PostgreSQL " + name] = score(search)
        print(name, results["PostgreSQL " + name], flush=True)

    for tiers in shares:  # the services' own keyword searches, candidates pruned of common words
        for name, docstore in (("DocStore", index.docstore), ("PostgresDocStore", store)):
            docstore.common_shares = tuple(float(x) for x in tiers.split(","))
            label = f"{name}.keyword_search, common shares {tiers}"
            results[label] = score(lambda text, docstore=docstore: docstore.keyword_search(text, limit))
            print(label, results[label], flush=True)
    results["questions"] = len(questions)
    return results


if __name__ == "__main__":
    main()
