"""The loaded service: the embedding model, the open index, the answerer and the ingestor, with
the blocking operations the routes run off the event loop. Nothing here knows about HTTP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from qa.answer import Answerer
from qa.answer_types import Answer, AnswerEvent, AskRequest, FinalEvent
from qa.api.metrics import Metrics
from qa.components import Components
from qa.docstore import StoredArticle
from qa.embed import Embedder
from qa.index import Index, IndexStorageError
from qa.ingest import Ingestor, IngestReport
from qa.retrieve import SearchResult
from qa.settings import Settings
from qa.types import Article, Filters

log = logging.getLogger("qa.api")


class ArticleNotCleanable(ValueError):
    """An article whose text is empty once boilerplate is removed; `position` is its index."""

    def __init__(self, position: int, article_id: str) -> None:
        super().__init__(
            f"articles[{position}] (id {article_id!r}): the text is empty once site boilerplate "
            "is removed; nothing was written"
        )
        self.position = position


@dataclass
class Service:
    """Everything a request needs, loaded once at startup."""

    settings: Settings
    components: Components
    index: Index
    answerer: Answerer
    ingestor: Ingestor
    metrics: Metrics
    closed: bool = False

    def __post_init__(self) -> None:
        # One write request at a time: ingest classifies articles (added/updated) before writing.
        self._write_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def start(cls, settings: Settings, metrics: Metrics, *, embedder: Embedder | None = None) -> Service:
        """Load the model, open the index writable (ingesting the seeds into an empty one)."""
        started = time.perf_counter()
        components = Components(settings, embedder=embedder)
        try:
            index = components.open_index(writable=True, create=True)
        except BaseException:
            components.close()
            raise
        try:
            ingestor = components.ingestor(index)
            if index.docstore.count()[0] == 0 and settings.seeds_dir.is_dir():
                report = ingestor.ingest_paths([settings.seeds_dir])
                index.save()
                log.info("empty index: ingested %d seed articles from %s", len(report.added), settings.seeds_dir)
            answerer = components.answerer(index)
        except BaseException:
            index.close()
            components.close()
            raise
        service = cls(settings, components, index, answerer, ingestor, metrics)
        metrics.watch_index(service.counts)
        articles, chunks = service.counts()
        log.info("ready in %.1f s: %d articles, %d chunks in %s", time.perf_counter() - started,
                 articles, chunks, settings.index_dir)
        return service

    def close(self) -> None:
        """Persist the vectors and release the index."""
        if self.closed:
            return
        self.closed = True
        self.metrics.watch_index(None)
        with self._write_lock:
            self.index.close()
        self.components.close()

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) in the index."""
        return self.index.docstore.count()

    # -- reads ------------------------------------------------------------------------------------
    def search(self, query: str, k: int, filters: Filters | None) -> SearchResult:
        """Hybrid search (blocking)."""
        started = time.perf_counter()
        result = self.answerer.retriever.search(query, k, filters)
        self.metrics.search_seconds.observe(time.perf_counter() - started)
        return result

    def ask(self, request: AskRequest) -> Answer:
        """The checked answer (blocking); BackendError propagates."""
        started = time.perf_counter()
        model = self.settings.model_for(request.model)
        try:
            answer = self.answerer.ask(request)
        except Exception:
            self.metrics.answers.labels(model, "error").inc()
            raise
        self._record(answer, started)
        return answer

    def stream(self, request: AskRequest) -> Iterator[AnswerEvent]:
        """The answer events (blocking generator), recording the answer metrics."""
        started = time.perf_counter()
        model = self.settings.model_for(request.model)
        try:
            for event in self.answerer.stream(request):
                if isinstance(event, FinalEvent):
                    self._record(event.answer, started)
                yield event
        except Exception:
            self.metrics.answers.labels(model, "error").inc()
            raise

    def get_article(self, article_id: str) -> StoredArticle | None:
        return self.index.docstore.get_article(article_id)

    def list_articles(self, limit: int, offset: int) -> tuple[list[StoredArticle], int, int]:
        """A page of articles and the totals (articles, chunks)."""
        articles, chunks = self.counts()
        return self.index.docstore.list_articles(limit=limit, offset=offset), articles, chunks

    # -- writes -----------------------------------------------------------------------------------
    def ingest(self, articles: list[Article]) -> IngestReport:
        """Ingest all of `articles` or none, in one transaction: each is checked to survive
        cleaning first. A full disk raises `IndexStorageError` and nothing is stored. Once the
        transaction has committed the write is durable (docs.sqlite is the source of truth), so
        it is acknowledged even if the vector file cannot be saved: that file is caught up from
        docs.sqlite at the next start."""
        for position, article in enumerate(articles):
            if not self.ingestor.prepare(article).text.strip():
                raise ArticleNotCleanable(position, article.id)
        with self._write_lock:
            report = self.ingestor.ingest_articles(articles, atomic=True)
            self._save_vectors()
        return report

    def delete(self, article_id: str) -> bool:
        """Delete an article; False when there is none with that id."""
        with self._write_lock:
            deleted = self.index.delete([article_id])
            if deleted:
                self._save_vectors()
        return bool(deleted)

    def _save_vectors(self) -> None:
        try:
            self.index.save()
        except IndexStorageError as error:
            log.warning("the write is committed, but the vector file was not saved: %s", error)

    def _record(self, answer: Answer, started: float) -> None:
        model = self.settings.model_for(answer.model)
        self.metrics.answer_seconds.labels(model).observe(time.perf_counter() - started)
        self.metrics.answers.labels(model, "refused" if answer.refused else "answered").inc()
