"""The process tests/test_crash.py kills with SIGKILL: `ingest` writes through the Ingestor and
prints `begin`/`ack` around every commit; `serve` runs the real app under uvicorn. Both use a
hashing embedder (same dimension as MiniLM) so a process starts in about a second: the crash loop
tests storage, not the model.

    python -m tests.crash_worker ingest INDEX_DIR TIKTOKEN_DIR SEED
    python -m tests.crash_worker serve INDEX_DIR TIKTOKEN_DIR PORT
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from qa.settings import Settings
from qa.types import Article
from tests.fakes import FakeEmbedder

POOL = 60  # article ids a run draws from, so later runs update and delete earlier articles


def settings_for(index_dir: str, tiktoken_dir: str, **overrides: object) -> Settings:
    return Settings.from_env({}, index_dir=Path(index_dir), tiktoken_cache_dir=Path(tiktoken_dir),
                             seeds_dir=Path("/nonexistent"), **overrides)


def article(rng: random.Random, label: str) -> Article:
    """An article of the pool; its title is the version label the test checks."""
    n = rng.randrange(POOL)
    words = rng.randint(3, 60)
    return Article(id=f"c{n}", title=f"c{n} {label}", text=f"Story {n} in version {label}, sentence {words}. " * words)


def ingest(index_dir: str, tiktoken_dir: str, seed: str) -> None:
    import qa.ingest
    from qa.index import Index
    from qa.ingest import Ingestor

    qa.ingest.WINDOW_CHUNKS = 16  # commit often: kills land between and inside commits
    settings = settings_for(index_dir, tiktoken_dir)
    index = Index.open(settings, embedder=FakeEmbedder())
    original = index.write

    def write(upserts=(), metadata_updates=(), deletions=()):  # noqa: ANN001, ANN202
        entry = {"put": {s.article.id: s.article.title for s, _, _ in upserts}, "del": list(deletions)}
        print("begin " + json.dumps(entry), flush=True)
        seq = original(upserts=upserts, metadata_updates=metadata_updates, deletions=deletions)
        print("ack " + json.dumps(entry), flush=True)
        return seq

    index.write = write  # type: ignore[method-assign]
    ingestor = Ingestor(index, settings)
    rng = random.Random(seed)
    print("ready", flush=True)
    for batch in range(10_000):
        if rng.random() < 0.2:
            index.delete([f"c{rng.randrange(POOL)}"])
        else:
            ingestor.ingest_articles([article(rng, f"{seed}.{batch}.{i}") for i in range(rng.randint(1, 6))])
        if batch % 3 == 0:
            index.save()


def serve(index_dir: str, tiktoken_dir: str, port: str) -> None:
    import uvicorn

    from qa.api import create_app

    embedder = FakeEmbedder()  # the app hands it down everywhere: no model is loaded
    settings = settings_for(index_dir, tiktoken_dir, rate_limit_per_minute=0, host="127.0.0.1", port=int(port))
    uvicorn.run(create_app(settings, embedder=embedder), host="127.0.0.1", port=int(port),
                log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    {"ingest": ingest, "serve": serve}[sys.argv[1]](*sys.argv[2:])
