"""The composition root: the long-lived objects of a service (or a CLI command), built once from
the settings and handed down by constructor. No module keeps a process-wide instance."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from qa.answer import Answerer
from qa.answer_model import AnswerModel, load_answer_model
from qa.backends import Backends
from qa.cpu_gate import FifoGate, cpu_gate
from qa.embed import Embedder, load_embedder
from qa.embed_batch import QueryBatcher
from qa.index import Index
from qa.ingest import Ingestor
from qa.retrieve import Retriever, keyword_pool
from qa.settings import Settings
from qa.support import SupportScorer, make_scorer


class Components:
    """The embedding model, backends, support scorer, CPU gate and keyword-search threads of one
    service; `answerer(index)` and friends wire them into the objects that use them."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        """Loads the embedding model (unless `embedder` is given, already loaded)."""
        self.settings = settings
        self.embedder = embedder if embedder is not None else load_embedder(settings)
        self.query_encoder = QueryBatcher(self.embedder)  # concurrent queries share encoder calls
        self.backends = Backends(settings, self.embedder, self.answer_model)
        self.gate: FifoGate = cpu_gate(settings.cpu_workers)
        self.keyword_pool: ThreadPoolExecutor = keyword_pool()
        self._answer_model: AnswerModel | None = None
        self._lock = threading.Lock()
        self.scorer: SupportScorer = make_scorer(settings, self.embedder, judge=self.backends.local)

    def answer_model(self) -> AnswerModel:
        """The answer-sentence model, loaded on first use."""
        with self._lock:
            if self._answer_model is None:
                self._answer_model = load_answer_model(str(self.settings.answer_model_dir or ""),
                                                       self.settings.answer_model_threads)
            return self._answer_model

    def open_index(self, *, writable: bool, create: bool = False) -> Index:
        return Index.open(self.settings, embedder=self.embedder, writable=writable, create=create)

    def retriever(self, index: Index) -> Retriever:
        return Retriever(index, self.settings, pool=self.keyword_pool, query_encoder=self.query_encoder)

    def answerer(self, index: Index) -> Answerer:
        return Answerer(index, self.settings, backends=self.backends, retriever=self.retriever(index),
                        scorer=self.scorer, gate=self.gate, answer_model=self.answer_model)

    def ingestor(self, index: Index, *, progress: bool | None = False) -> Ingestor:
        return Ingestor(index, self.settings, progress=progress)

    def close(self) -> None:
        """Stop the backends (worker processes, HTTP clients) and the keyword threads."""
        self.backends.close()
        self.keyword_pool.shutdown(wait=False)

    def __enter__(self) -> Components:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
