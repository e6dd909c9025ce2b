"""Answering: rewrite a follow-up, retrieve, pack the prompt, generate, check every citation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import msgspec

from qa.answer_model import AnswerModel, load_answer_model
from qa.answer_types import (
    Answer,
    AnswerEvent,
    AskRequest,
    DeltaEvent,
    FinalEvent,
    PassagesEvent,
)
from qa.backends import REFUSAL, Backend, Backends, GenerationRequest, Passage, Refusal
from qa.citations import CheckedAnswer, check_answer
from qa.cpu_gate import FifoGate, cpu_gate
from qa.followup import standalone as resolve_follow_up
from qa.index import Index
from qa.prompts import delimit, load_prompt
from qa.question_shape import period_days
from qa.retrieve import Retriever, Searcher, published_within
from qa.settings import Settings
from qa.support import SupportScorer, make_scorer, relevance_scores
from qa.tokens import count_tokens, get_encoding
from qa.types import SearchHit

REFUSAL_MESSAGE = "The articles don't cover this: none of the retrieved passages answers the question."
PASSAGE_OVERHEAD_TOKENS = 24  # the <passage ...> wrapper around each passage in the prompt
PERIOD_OVERFETCH = 3  # a question about "this week" searches k x this many passages, then keeps its week's


class Answerer:
    """Composes cited answers from an index with a pluggable backend."""

    def __init__(self, index: Index, settings: Settings, *, backends: Backends | None = None,
                 retriever: Searcher | None = None, scorer: SupportScorer | None = None,
                 gate: FifoGate | None = None, answer_model: Callable[[], AnswerModel] | None = None) -> None:
        """Everything is handed down by the service (`qa.components`); what is not given is built
        here from `settings` and the index's embedder (scripts and tests)."""
        self.index = index
        self.settings = settings
        self.embedder = index.embedder  # the model the index was opened with: queries and checks agree
        self.answer_model = answer_model or _loader(settings)
        self._owns_backends = backends is None
        self.backends = backends or Backends(settings, self.embedder, self.answer_model)
        self.retriever: Searcher = retriever or Retriever(index, settings)
        self.scorer = scorer or make_scorer(settings, self.embedder, judge=self.backends.local)
        self.encoding = get_encoding(settings.tiktoken_encoding, settings.tiktoken_cache_dir)
        self.answer_prompt = load_prompt(settings.prompts_dir, "answer")
        self.rewrite_prompt = load_prompt(settings.prompts_dir, "rewrite")
        self.gate = gate or cpu_gate(settings.cpu_workers)
        if settings.model == "extractive":
            # built now, not on the first question (with QA_ANSWER_MODEL_WEIGHT > 0 it loads the model)
            self.backends.get(settings.model)

    def close(self) -> None:
        """Close the backends this answerer built itself (the service closes the ones it hands down)."""
        if self._owns_backends:
            self.backends.close()

    def __enter__(self) -> Answerer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ask(self, request: AskRequest) -> Answer:
        """The checked, cited answer to `request`."""
        final = None
        for event in self.stream(request):
            if isinstance(event, FinalEvent):
                final = event.answer
        assert final is not None
        return final

    def stream(self, request: AskRequest) -> Iterator[AnswerEvent]:
        """Events: the passages, the answer text as it is generated, then the checked answer."""
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()
        backend = self.backends.get(self.settings.model_for(request.model))

        standalone = self.standalone_question(request, backend)
        timings["rewrite_ms"] = _ms_since(clock)

        clock = time.perf_counter()
        k = request.k or self.settings.search_k
        period = period_days(standalone) if self.settings.period_slack_days >= 0 else None
        # "Who won this week?" is not answered from last month's article: more are searched, so that
        # k of them can come from the week
        result = self.retriever.search(standalone, k * PERIOD_OVERFETCH if period else k, request.filters)
        hits = result.hits
        if period:
            hits = published_within(hits, period + self.settings.period_slack_days, request.filters)[:k]
        passages = self.pack(hits)
        if backend.uses_llm and self.settings.llm_passage_floor > 0 and passages:
            passages = self.rerank(standalone, passages)
        timings["retrieve_ms"] = _ms_since(clock)
        yield PassagesEvent(passages=passages, standalone_question=standalone)

        # the extractive backend judges every question itself (QA_ANSWER_THRESHOLD); the cosine
        # pre-filter refused answerable ones ("Who is Wellington Koo?")
        refused_early = not passages or (
            backend.uses_llm and max(p.dense_score or 0.0 for p in passages) < self.settings.min_passage_score)
        clock = time.perf_counter()
        pieces: list[str] = []
        declined = False  # the backend said the passages do not answer
        if not refused_early:
            generation = GenerationRequest(
                messages=self.answer_prompt.render(
                    passages=[_prompt_passage(p) for p in passages], question=standalone, refusal=REFUSAL
                ),
                question=standalone,
                passages=passages,
                max_tokens=self.settings.answer_max_tokens,
                temperature=self.settings.temperature,
            )
            stream = iter(backend.stream(generation))
            while True:
                # Extractive answering is CPU work, done in turn (an LLM backend waits on a server or
                # holds the local model's own lock); never held while the consumer has the piece.
                with contextlib.nullcontext() if backend.uses_llm else self.gate.slot():
                    piece = next(stream, None)
                if piece is None:
                    break
                declined = declined or isinstance(piece, Refusal)
                if piece:
                    text = str(piece)  # plain str: msgspec encodes no str subclass
                    pieces.append(text)
                    yield DeltaEvent(text=text)
        timings["generate_ms"] = _ms_since(clock)

        clock = time.perf_counter()
        raw = "".join(pieces).strip()
        checked = None
        if raw and not declined:
            with self.gate.slot():
                checked = check_answer(raw, passages, self.scorer, self.settings.support_cutoff,
                                       written=backend.uses_llm)
        # The extractive backend only answers with sentences relevant enough; an LLM may stray.
        refused = checked is None or not checked.citations or (
            backend.uses_llm and not self._answers(standalone, checked, passages))
        answer_text, citations = ("", []) if refused or checked is None else (checked.text, checked.citations)
        timings["check_ms"] = _ms_since(clock)
        timings["total_ms"] = _ms_since(started)
        yield FinalEvent(
            answer=Answer(
                answer=REFUSAL_MESSAGE if refused else answer_text,
                refused=refused,
                citations=citations,
                passages=passages,
                timings={name: round(value, 1) for name, value in timings.items()},
                question=request.question,
                standalone_question=standalone,
                model=backend.name,
                prompt_version=self.answer_prompt.version,
                checks=checked.checks if checked else [],
            )
        )

    def _answers(self, question: str, checked: CheckedAnswer, passages: list[Passage]) -> bool:
        """Whether some supported sentence, read with the quote that supports it, is relevant to
        the question: a model that strays (or pads with a passage sentence beside the point) has
        not answered it, while a terse "By 7.2% [1]." is judged with its quote. A name of the
        question its passage lacks counts as it does for the extractive backend (absent_name_credit)."""
        quotes = {c.marker: c.quote for c in checked.citations}
        kept = [c for c in checked.checks if c.action != "dropped"]
        texts = [" ".join([c.sentence, *(quotes[n] for n in c.supported_by if n in quotes)]) for c in kept]
        contexts = ["\n".join(f"{p.title}\n{p.text}" for p in passages if p.number in c.supported_by) for c in kept]
        relevance = relevance_scores(self.embedder, question, texts, contexts, place_names=True,
                                     absent_credit=self.settings.absent_name_credit)
        return max(relevance, default=0.0) >= self.settings.refusal_threshold

    def standalone_question(self, request: AskRequest, backend: Backend) -> str:
        """A follow-up question rewritten to stand alone: by the LLM when there is one, else by
        `qa.followup` ("and Taiwan's?" after a question about China's budget asks about Taiwan's)."""
        previous = [m.content for m in request.history if m.role == "user"]
        if not previous:
            return request.question
        if backend.uses_llm:
            history = request.history[-6:]
            rewritten = backend.complete(
                GenerationRequest(
                    messages=self.rewrite_prompt.render(history=history, question=request.question),
                    question=request.question,
                    max_tokens=96,
                    temperature=0.0,
                )
            ).strip().splitlines()
            if rewritten and rewritten[0].strip():
                return rewritten[0].strip().strip('"')
        return resolve_follow_up(request.question, previous[-1])

    def rerank(self, question: str, passages: list[Passage]) -> list[Passage]:
        """Fewer, better passages for an LLM: ordered by the answer model's probability that one of
        their sentences answers the question, those below `llm_passage_floor` left out (the best
        one is always kept), renumbered [1]..[n]."""
        model = self.answer_model()
        best = [0.0] * len(passages)
        for score in model.score(question, [p.text for p in passages]):
            best[score.passage] = max(best[score.passage], score.probability)
        order = sorted(range(len(passages)), key=lambda i: -best[i])
        kept = [i for i in order if best[i] >= self.settings.llm_passage_floor] or order[:1]
        return [msgspec.structs.replace(passages[i], number=n) for n, i in enumerate(kept, start=1)]

    def pack(self, hits: list[SearchHit]) -> list[Passage]:
        """Number the hits [1]..[n], keeping as many as fit the prompt's token budget."""
        passages: list[Passage] = []
        used = 0
        for hit in hits:
            cost = count_tokens(hit.text, self.encoding) + PASSAGE_OVERHEAD_TOKENS
            if passages and used + cost > self.settings.context_tokens:
                break
            used += cost
            passages.append(Passage.from_hit(hit, len(passages) + 1))
        return passages


def _prompt_passage(passage: Passage) -> dict[str, object]:
    """A passage as the template sees it: text that cannot escape its delimiters."""
    return {
        "number": passage.number,
        "title": " ".join(delimit(passage.title).split()),
        "published": passage.published,
        "source": delimit(passage.source) if passage.source else None,
        "text": delimit(passage.text),
    }


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000



def _loader(settings: Settings) -> Callable[[], AnswerModel]:
    """Loads the answer model on first call, then returns that one."""
    loaded: list[AnswerModel] = []

    def load() -> AnswerModel:
        if not loaded:
            loaded.append(load_answer_model(str(settings.answer_model_dir or ""), settings.answer_model_threads))
        return loaded[0]

    return load
