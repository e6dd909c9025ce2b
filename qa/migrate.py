"""Copy an embedded index (FAISS + SQLite under --index DIR) into the scale-out stack (Milvus +
PostgreSQL) without re-embedding: the vectors come from docs.sqlite, which keeps every one.

Resumable: articles are copied in id order in batches, each batch one write; an article already
in the target with the same text and metadata hashes is skipped, and the last copied id is kept
as a checkpoint in PostgreSQL, so an interrupted copy continues where it stopped when run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from qa.docstore import Fingerprint, StoredArticle
from qa.index import Index, IndexMismatchError
from qa.settings import Settings
from qa.types import Chunk

CHECKPOINT_KEY = "migrate_checkpoint"


@dataclass
class MigrateReport:
    """What a copy did."""

    copied: int = 0
    skipped: int = 0
    chunks: int = 0
    seconds: float = 0.0


def migrate(source: Settings, target: Settings, *, batch: int = 200,
            progress: Callable[[int, int], None] | None = None) -> MigrateReport:
    """Copy the embedded index of `source` into the scale-out stack of `target`."""
    from qa.stores.postgres import PostgresDocStore
    from qa.stores.scale_index import ScaleIndex

    started = time.perf_counter()
    report = MigrateReport()
    with Index.open(source.replace(store="embedded"), writable=False, create=False) as src:
        _record_manifest(PostgresDocStore(target.postgres_dsn), asdict(src.manifest))
        with ScaleIndex.open(target, writable=True, create=False) as dst:
            source_id = src.docstore.index_id
            checkpoint = json.loads(dst.docstore.meta(CHECKPOINT_KEY) or "{}")
            after = checkpoint.get("last_id", "") if checkpoint.get("source") == source_id else ""
            total = src.docstore.count()[0]
            while ids := _article_ids(src, after, batch):
                upserts = []
                for article_id in ids:
                    stored = src.docstore.get_article(article_id)
                    if stored is None:
                        continue
                    source_print = Fingerprint(stored.text_hash, stored.meta_hash, stored.origin)
                    if dst.docstore.fingerprint(article_id) == source_print:
                        report.skipped += 1
                        continue
                    upserts.append(_copy_of(src, stored))
                if upserts:
                    dst.write(upserts=upserts)
                    report.copied += len(upserts)
                    report.chunks += sum(len(chunks) for _, chunks, _ in upserts)
                after = ids[-1]
                dst.docstore.set_meta(CHECKPOINT_KEY, json.dumps({"source": source_id, "last_id": after}))
                if progress is not None:
                    progress(report.copied + report.skipped, total)
    report.seconds = time.perf_counter() - started
    return report


def _record_manifest(docstore: object, manifest: dict) -> None:
    """The target records what the source was built with; a target built otherwise is refused."""
    from qa.stores.postgres import PostgresDocStore

    assert isinstance(docstore, PostgresDocStore)
    try:
        wanted = json.dumps(manifest, sort_keys=True)
        held = docstore.meta("manifest")
        if held is None:
            docstore.set_meta("manifest", wanted)
        elif json.loads(held) != manifest:
            raise IndexMismatchError(
                f"{docstore.path} holds an index built with {held}, the source was built with {wanted}: "
                "copy into an empty database (and Milvus collection)"
            )
    finally:
        docstore.close()


def _article_ids(index: Index, after: str, limit: int) -> list[str]:
    rows = index.docstore._conn().execute(  # SQLite: no public ordered-id listing to reuse
        "SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()
    return [row[0] for row in rows]


def _copy_of(index: Index, stored: StoredArticle) -> tuple[StoredArticle, list[Chunk], np.ndarray]:
    chunks = index.docstore.chunks_of(stored.article.id)
    by_id = index.docstore.vectors_of([c.id for c in chunks if c.id is not None])
    vectors = (np.vstack([by_id[c.id] for c in chunks if c.id is not None]) if chunks
               else np.zeros((0, index.manifest.dimension), dtype=np.float32))
    return stored, chunks, vectors

