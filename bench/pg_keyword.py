"""The PostgreSQL keyword leg alone at N chunks, with no Milvus beside it: p50/p99 of
`PostgresDocStore.keyword_search` (100 candidates, 200 RealTime QA dev questions) for the shipped
`common_shares` and any others given, first with PostgreSQL's default 128 MB `shared_buffers`,
then after a restart with `--shared-buffers`.

Corpus: the real article text of bench/stores.py, written through `PostgresDocStore.apply` (zero
vectors: the keyword leg never reads them), then ANALYZE, as autovacuum would.

    PYTHONPATH=. python bench/pg_keyword.py --chunks 1000000 --shares 0.01,0.2 0.005,0.03,0.2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stores import WRITE_BATCH, chunks_of, corpus, dev_questions, keyword_times  # noqa: E402
from qa.docstore import StoredArticle  # noqa: E402
from qa.stores.postgres import PostgresDocStore  # noqa: E402
from tests.servers import Postgres, _pg_bin, postgres_server  # noqa: E402


def load(store: PostgresDocStore, n_chunks: int) -> float:
    """Write `n_chunks` chunks of real text; rows per second."""
    started, rows = time.perf_counter(), 0
    docs = corpus(n_chunks)
    for b in range(0, len(docs), WRITE_BATCH):
        upserts = []
        for article, pieces in docs[b:b + WRITE_BATCH]:
            upserts.append((StoredArticle(article, "t", "m", None), chunks_of(article, pieces),
                            np.zeros((len(pieces), 384), np.float32)))
            rows += len(pieces)
        store.apply(upserts)
    return rows / (time.perf_counter() - started)


def time_shares(store: PostgresDocStore, questions: list[str], label: str, settings: list[tuple[float, ...]]) -> None:
    for shares in settings:
        store.common_shares, store._shares = shares, None
        times = keyword_times(store, questions, 100)
        print(f"[{time.strftime('%H:%M:%S')}] {label}, shares {shares}: p50 {statistics.median(times):.1f} ms, "
              f"p99 {np.percentile(times, 99):.1f} ms (load {os.getloadavg()[0]:.1f})", flush=True)


def restart_with(pg: Postgres, store: PostgresDocStore, shared_buffers: str) -> PostgresDocStore:
    store._conn().execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
    store.close()
    as_user = {"user": pg.run_as} if pg.run_as else {}
    # -l: without a log file the server would hold the pipe open and run() would never return
    subprocess.run([str(_pg_bin() / "pg_ctl"), "-D", str(pg.data), "-w", "-l", str(pg.data.parent / "restart.log"),
                    "restart", "-m", "fast"], check=True, capture_output=True, **as_user)
    return PostgresDocStore(pg.dsn())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--shares", nargs="*", default=[], help="other common_shares (comma-separated) to time")
    parser.add_argument("--shared-buffers", default="6GB")
    args = parser.parse_args()
    questions = dev_questions(200)
    with tempfile.TemporaryDirectory() as tmp, postgres_server(Path(tmp) / "pg") as pg:
        store = PostgresDocStore(pg.dsn())
        settings = [store.common_shares, *(tuple(float(x) for x in s.split(",")) for s in args.shares)]
        print(f"{args.chunks} rows, {load(store, args.chunks):.0f} rows/s", flush=True)
        store._conn().execute("ANALYZE qa_chunks")
        size = store._conn().execute("SELECT pg_size_pretty(pg_relation_size('qa_chunks')),"
                                     " pg_size_pretty(pg_total_relation_size('qa_chunks'))").fetchone()
        print(f"table {size[0]}, {size[1]} with TOAST and indexes", flush=True)
        time_shares(store, questions, "shared_buffers 128MB", settings)
        store = restart_with(pg, store, args.shared_buffers)
        time_shares(store, questions, f"shared_buffers {args.shared_buffers}, cold", settings[:1])
        time_shares(store, questions, f"shared_buffers {args.shared_buffers}, warm", settings)
        store.close()


if __name__ == "__main__":
    main()
