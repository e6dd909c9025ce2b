"""Ingest throughput against the raw embedding rate, in one run.

    python bench/ingest.py CORPUS.jsonl.gz [N]

Ingests the first N articles (default 300) into a scratch index with the full pipeline (load,
clean, chunk, embed, commit to SQLite + FAISS), then encodes the very same chunk texts with plain
`model.encode` and prints chunks/s of both and their ratio (target: >= 0.9).
"""

from __future__ import annotations

import gzip
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console
from rich.table import Table

from qa.embed import SentenceTransformerEmbedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.settings import Settings


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    corpus = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    settings = Settings.from_env()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.embed_batch_size)
    embedder.encode(["warm up the model"] * 8)
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "sample.jsonl"
        with gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus) as src, open(sample, "w") as dst:
            dst.writelines(itertools.islice(src, n))
        settings = settings.replace(index_dir=Path(scratch) / "index")
        with Index.open(settings, embedder=embedder) as index:
            started = time.perf_counter()
            report = Ingestor(index, settings, progress=True).ingest_paths([sample])
            index.save()
            pipeline_seconds = time.perf_counter() - started
            texts = [c.text for a in index.docstore.list_articles(limit=n) for c in index.docstore.chunks_of(a.article.id)]
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True)
    encode_seconds = time.perf_counter() - started

    chunks = len(texts)
    pipeline_rate, encode_rate = chunks / pipeline_seconds, chunks / encode_seconds
    table = Table(title=f"Ingest of {len(report.added)} articles from {corpus.name} ({chunks} chunks)")
    for column in ("measure", "seconds", "chunks/s"):
        table.add_column(column, justify="right")
    table.add_row("qa ingest pipeline", f"{pipeline_seconds:.1f}", f"{pipeline_rate:.1f}")
    table.add_row("  of which embedding", f"{report.embed_seconds:.1f}", "")
    table.add_row("raw model.encode, same chunks", f"{encode_seconds:.1f}", f"{encode_rate:.1f}")
    Console().print(table)
    print(f"ratio pipeline / raw encode: {pipeline_rate / encode_rate:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
