"""The ingest pipeline: load -> clean -> chunk -> skip what is unchanged -> embed -> commit.

Work is done in windows of chunks: a window is embedded in length-sorted batches (little padding
waste) and committed in one transaction, so a crash keeps each article either old or new.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
from tqdm import tqdm

from qa.chunk import Chunker, ChunkerConfig
from qa.clean import clean_text
from qa.docstore import StoredArticle
from qa.index import Index
from qa.loaders import iter_paths, load_path
from qa.progress import progress_bar
from qa.settings import Settings
from qa.tokens import count_tokens, get_encoding
from qa.types import Article, Chunk, LoadProblem

WINDOW_CHUNKS = 2048  # chunks per commit; also the unit of length-sorting before encoding
ENCODE_GROUP = 256  # chunks per encode call: the granularity of the progress bar


@dataclass
class IngestReport:
    """What an ingest did, for the CLI table and the API response."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    metadata_updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return len(self.added) + len(self.updated) + len(self.metadata_updated) + len(self.unchanged)


def text_hash(article: Article) -> str:
    return hashlib.sha256(article.text.encode()).hexdigest()


def meta_hash(article: Article) -> str:
    fields = [article.title, article.url, article.published, article.source]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


class Ingestor:
    """Ingests articles into an open, writable `Index`."""

    def __init__(self, index: Index, settings: Settings, *, progress: bool | None = False) -> None:
        self.index = index
        encoding = get_encoding(settings.tiktoken_encoding, settings.tiktoken_cache_dir)
        embedder = index.embedder
        self.chunker = Chunker(
            ChunkerConfig(max_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens),
            count_model_tokens=embedder.count_tokens,
            model_token_limit=embedder.max_tokens,
            count_tiktoken=lambda text: count_tokens(text, encoding),
        )
        # None: shown on a terminal only; True: also in logs (qa.progress)
        self.progress = progress

    # -- entry points -------------------------------------------------------------------------
    def ingest_paths(self, paths: Sequence[Path], *, sync: bool = True) -> IngestReport:
        """Ingest files and folders. With `sync`, articles that came from these paths before
        but are no longer there are deleted (never those of a file that had problems)."""
        report = IngestReport()
        started = time.perf_counter()
        roots = [str(Path(p).resolve()) for p in paths]
        seen: set[str] = set()
        troubled_origins: set[str] = set()
        with self._progress_bar() as bar:
            batch = _Window()
            for item in iter_paths([Path(p) for p in paths]):
                if isinstance(item, LoadProblem):
                    report.problems.append(item)
                    continue
                origin = str(item.resolve())
                for loaded in load_path(item):
                    if isinstance(loaded, LoadProblem):
                        report.problems.append(loaded)
                        troubled_origins.add(origin)
                        continue
                    seen.add(loaded.id)
                    self._consider(loaded, origin, batch, report)
                    if batch.n_chunks >= WINDOW_CHUNKS:
                        self._flush(batch, report, bar)
            self._flush(batch, report, bar)
        if sync:
            self._delete_vanished(roots, seen, troubled_origins, report)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_articles(self, articles: Iterable[Article], *, origin: str | None = None,
                        atomic: bool = False) -> IngestReport:
        """Ingest articles given directly (e.g. through the HTTP API). With `atomic`, all of them
        are committed in one transaction however many windows they fill: a crash or a full disk
        keeps all or none of them (they are held in memory until then)."""
        report = IngestReport()
        started = time.perf_counter()
        batch = _Window()
        pending = _Window() if atomic else None
        with self._progress_bar() as bar:
            for article in articles:
                self._consider(article, origin, batch, report)
                if batch.n_chunks >= WINDOW_CHUNKS:
                    self._flush(batch, report, bar, pending)
            self._flush(batch, report, bar, pending)
        if pending is not None and not pending.is_empty():
            self.index.write(upserts=list(pending.upserts.values()), metadata_updates=pending.metadata)
        report.seconds = time.perf_counter() - started
        return report

    # -- steps --------------------------------------------------------------------------------
    def prepare(self, article: Article) -> Article:
        """The article as stored: boilerplate removed, glued sentences split."""
        return msgspec.structs.replace(article, text=clean_text(article.text))

    def _consider(self, raw: Article, origin: str | None, batch: _Window, report: IngestReport) -> None:
        article = self.prepare(raw)
        if not article.text.strip():
            report.problems.append(
                LoadProblem(path=origin or article.id, line=None,
                            message=f"article {article.id!r} is empty once boilerplate is removed")
            )
            return
        stored = StoredArticle(article, text_hash(article), meta_hash(article), origin)
        existing = self.index.docstore.fingerprint(article.id)
        if existing is not None and existing.text_hash == stored.text_hash:
            if existing.meta_hash == stored.meta_hash and (origin is None or existing.origin == origin):
                report.unchanged.append(article.id)
            else:
                batch.metadata.append(stored)
                report.metadata_updated.append(article.id)
            return
        (report.updated if existing is not None else report.added).append(article.id)
        batch.add(stored, self.chunker.chunk(article))

    def _flush(self, batch: _Window, report: IngestReport, bar: tqdm,
               pending: _Window | None = None) -> None:
        """Embed the window and commit it, or with `pending` move it there (committed later)."""
        if batch.is_empty():
            return
        texts = [chunk.text for _, chunks in batch.upserts.values() for chunk in chunks]
        bar.total = (bar.total or 0) + len(texts)
        bar.refresh()
        started = time.perf_counter()
        vectors = self._encode_sorted(texts, bar)
        report.embed_seconds += time.perf_counter() - started
        report.chunks_embedded += len(texts)
        upserts, offset = [], 0
        for stored, chunks in batch.upserts.values():
            upserts.append((stored, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        if pending is not None:
            for stored, chunks, vectors in upserts:
                pending.add(stored, chunks, vectors)
            pending.metadata.extend(batch.metadata)
        else:
            self.index.write(upserts=upserts, metadata_updates=batch.metadata)
        batch.clear()

    def _encode_sorted(self, texts: list[str], bar: tqdm) -> np.ndarray:
        """Encode longest-first in groups so batches hold similar lengths; original order out."""
        embedder = self.index.embedder
        vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), ENCODE_GROUP):
            group = order[start : start + ENCODE_GROUP]
            vectors[group] = embedder.encode([texts[i] for i in group])
            bar.update(len(group))
        return vectors

    def _delete_vanished(
        self, roots: list[str], seen: set[str], troubled: set[str], report: IngestReport
    ) -> None:
        vanished = {
            article_id
            for root in roots
            for article_id, origin in self.index.docstore.origins_under(root).items()
            if article_id not in seen and origin not in troubled
        }
        if vanished:
            report.deleted = self.index.delete(sorted(vanished))

    def _progress_bar(self) -> tqdm:
        return progress_bar(total=0, unit="chunk", desc="embedding", show=self.progress, leave=True)


class _Window:
    """Articles waiting to be embedded and committed together."""

    def __init__(self) -> None:
        # id -> (article, chunks) or, once embedded, (article, chunks, vectors)
        self.upserts: dict[str, tuple] = {}
        self.metadata: list[StoredArticle] = []
        self.n_chunks = 0

    def add(self, stored: StoredArticle, chunks: list[Chunk], *vectors: np.ndarray) -> None:
        previous = self.upserts.pop(stored.article.id, None)
        if previous is not None:  # the same id twice in one window: the later one wins
            self.n_chunks -= len(previous[1])
        self.upserts[stored.article.id] = (stored, chunks, *vectors)
        self.n_chunks += len(chunks)

    def is_empty(self) -> bool:
        return not self.upserts and not self.metadata

    def clear(self) -> None:
        self.upserts.clear()
        self.metadata.clear()
        self.n_chunks = 0
