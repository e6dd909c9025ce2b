"""The evaluation run: ask every question, score retrieval, answers, citations and refusals."""

from __future__ import annotations

import contextlib
import itertools
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from qa.answer_types import AskRequest
from qa.evaluate.judgements import (
    RecordingEmbedder,
    SupportCheck,
    citation_judgements,
    citation_precision,
    citation_recall,
)
from qa.evaluate.metrics import (
    NDCG_K,
    answer_recall_at_k,
    contains_gold,
    latency_summary,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qa.evaluate.questions import SKIPPED, UNANSWERABLE, EvalQuestion
from qa.evaluate.report import EvalReport, QuestionRecord, mean_or_none
from qa.progress import progress_bar
from qa.types import Filters

if TYPE_CHECKING:
    from qa.answer import Answerer
    from qa.components import Components
    from qa.index import Index
    from qa.ingest import IngestReport
    from qa.settings import Settings
    from qa.support import SupportScorer
    from qa.types import Article, LoadProblem


def run_eval(
    index: Index,
    settings: Settings,
    questions: Iterable[EvalQuestion | Mapping[str, Any]],
    *,
    k: int = 5,
    model: str | None = None,
    limit: int | None = None,
    progress: bool | None = True,
    answerer: Answerer | None = None,
    components: Components | None = None,
    question_dates: bool = False,
    split: str | None = None,
    leave_out_gold: bool = False,
    records_path: str | Path | None = None,
    independent: SupportScorer | None = None,
    independent_threshold: float = 0.5,
) -> EvalReport:
    """Ask every question through `answerer` (default: built by `components`, or from `settings`
    alone) and score the answers.

    With `question_dates`, a question with a `date` is asked as of that day (`Filters.as_of`): as
    its asker would have, without later articles, and with "this week" meaning that week.

    `k` passages per question (recall@k); `model` the answer backend (default: settings.model).
    Skipped questions (answers without gold_ids) are counted but not asked; `limit` caps the
    number of questions asked (the first ones, in file order); `split` is only reported.

    With `leave_out_gold`, every answerable question with `gold_ids` is asked a second time with
    its gold article(s) left out of the retrieved passages: it should then be refused.
    `records_path`: one JSON line per question, written (and flushed) as each is answered.
    `independent`: a second support scorer the answerer does not use (the local LLM judge), whose
    citation recall and precision (support >= `independent_threshold`) are reported beside the
    answerer's own: the answerer's check cannot be the only judge of its own citations."""
    from qa.answer import Answerer
    from qa.support import LexicalSemanticScorer

    recorder = None
    if answerer is None:
        answerer = components.answerer(index) if components is not None else Answerer(index, settings)
        if type(answerer.scorer) is LexicalSemanticScorer:  # the same scorer, remembering its vectors
            recorder = RecordingEmbedder(answerer.scorer.embedder)
            answerer.scorer = LexicalSemanticScorer(recorder)
    check = SupportCheck(answerer.scorer, settings.support_cutoff)
    independent_check = SupportCheck(independent, independent_threshold) if independent is not None else None
    independent_recalls: list[float] = []
    independent_precisions: list[float] = []
    items = [q if isinstance(q, EvalQuestion) else EvalQuestion.from_mapping(q) for q in questions]
    selected = [q for q in items if q.kind != SKIPPED]
    if limit is not None:
        selected = selected[:limit]
    report = EvalReport(k=k, model=settings.model_for(model), n_skipped=sum(q.kind == SKIPPED for q in items),
                        split=split, question_dates=question_dates, limit=limit)
    records_file = open(records_path, "w", encoding="utf-8") if records_path is not None else None  # noqa: SIM115
    gold_index = index if index is not None else getattr(answerer, "index", None)
    contained_where_present: list[float] = []
    refused_where_present: list[float] = []
    refused_left_out: list[float] = []
    refused_unanswered: list[float] = []  # left out, and no passage then retrieved holds a gold answer
    answered_elsewhere: list[float] = []  # left out, another passage holds it: answered with it?
    started = time.perf_counter()
    depth = max(k, NDCG_K)
    retrieval: dict[str, list[float]] = {"recall": [], "answer_recall": [], "rr": [], "ndcg": []}
    contained, f1s, refused_unanswerable, refused_answerable = [], [], [], []
    recalls, precisions = [], []
    for question in progress_bar(selected, desc="eval", unit="q", show=progress):
        if recorder is not None:
            recorder.clear()
        filters = Filters(as_of=question.as_of) if question_dates and question.as_of else None
        answer = answerer.ask(AskRequest(question=question.question, k=k, model=model, filters=filters))
        if recorder is not None:
            recorder.serving = True
        report.model = answer.model or report.model
        record = QuestionRecord(
            id=question.id, question=question.question, kind=question.kind, answers=question.answers,
            gold_ids=question.gold_ids, retrieved_ids=[], answer=answer.answer, refused=answer.refused,
            cited_articles=list(dict.fromkeys(c.article_id for c in answer.citations)),
            timings=dict(answer.timings), as_of=filters.as_of if filters else None,
            passages=[{"number": p.number, "article_id": p.article_id, "chunk_id": p.chunk_id, "text": p.text}
                      for p in answer.passages],
            checks=[msgspec.to_builtins(check) for check in answer.checks],
        )
        if question.kind == UNANSWERABLE:
            refused_unanswerable.append(float(answer.refused))
        else:
            refused_answerable.append(float(answer.refused))
            if question.gold_ids:
                hits = answerer.retriever.search(answer.standalone_question or question.question, depth, filters).hits
                record.retrieved_ids = [hit.article_id for hit in hits]
                record.recall_at_k = recall_at_k(record.retrieved_ids, question.gold_ids, k)
                record.reciprocal_rank = reciprocal_rank(record.retrieved_ids, question.gold_ids, NDCG_K)
                record.ndcg_at_10 = ndcg_at_k(record.retrieved_ids, question.gold_ids, NDCG_K)
                retrieval["recall"].append(record.recall_at_k)
                if question.answers:
                    record.answer_recall_at_k = answer_recall_at_k([hit.text for hit in hits], question.answers, k)
                    retrieval["answer_recall"].append(record.answer_recall_at_k)
                retrieval["rr"].append(record.reciprocal_rank)
                retrieval["ndcg"].append(record.ndcg_at_10)
            if question.answers:
                text = "" if answer.refused else answer.answer
                record.contains_gold = contains_gold(text, question.answers)
                record.token_f1 = round(token_f1(text, question.answers), 4)
                contained.append(float(record.contains_gold))
                f1s.append(record.token_f1)
                if question.gold_ids and gold_index is not None:
                    record.gold_has_answer = any(contains_gold(text, question.answers)
                                                 for text in _article_texts(gold_index, question.gold_ids))
                    if record.gold_has_answer:
                        contained_where_present.append(float(record.contains_gold))
                        refused_where_present.append(float(answer.refused))
            if leave_out_gold and question.gold_ids:
                kept = answerer.retriever
                answerer.retriever = _WithoutArticles(kept, set(question.gold_ids))
                try:
                    without = answerer.ask(AskRequest(question=question.question, k=k, model=model, filters=filters))
                finally:
                    answerer.retriever = kept
                record.refused_without_gold = without.refused
                record.answer_without_gold = without.answer
                refused_left_out.append(float(without.refused))
                if question.answers:
                    record.answer_elsewhere = any(contains_gold(p.text, question.answers) for p in without.passages)
                    if record.answer_elsewhere:
                        answered_elsewhere.append(float(
                            not without.refused and contains_gold(without.answer, question.answers)))
                    else:
                        refused_unanswered.append(float(without.refused))
        if not answer.refused:
            judgements = citation_judgements(answer, check)
            record.citation_recall = round(citation_recall(judgements), 4)
            record.citation_precision = round(citation_precision(judgements), 4)
            recalls.append(record.citation_recall)
            precisions.append(record.citation_precision)
            record.sentences = len(judgements)
            record.supported_sentences = sum(j.supported for j in judgements)
            record.citations = sum(j.n_citations for j in judgements)
            record.relevant_citations = sum(sum(j.relevant) for j in judgements)
            if independent_check is not None:
                independent_judgements = citation_judgements(answer, independent_check)
                record.independent_citation_recall = round(citation_recall(independent_judgements), 4)
                record.independent_citation_precision = round(citation_precision(independent_judgements), 4)
                record.independent_unsupported = [j.sentence for j in independent_judgements if not j.supported]
                independent_recalls.append(record.independent_citation_recall)
                independent_precisions.append(record.independent_citation_precision)
            report.n_cited_answers += 1
        report.records.append(record)
        if records_file is not None:
            records_file.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            records_file.flush()
    if records_file is not None:
        records_file.close()

    report.n_questions = len(selected)
    report.n_answerable = len(refused_answerable)
    report.n_unanswerable = len(refused_unanswerable)
    report.n_retrieval = len(retrieval["recall"])
    report.n_answers = len(contained)
    report.recall_at_k = mean_or_none(retrieval["recall"])
    report.answer_recall_at_k = mean_or_none(retrieval["answer_recall"])
    report.mrr = mean_or_none(retrieval["rr"])
    report.ndcg_at_10 = mean_or_none(retrieval["ndcg"])
    report.contains_gold = mean_or_none(contained)
    report.token_f1 = mean_or_none(f1s)
    report.n_sentences = sum(r.sentences for r in report.records)
    report.n_citations = sum(r.citations for r in report.records)
    report.citation_recall = mean_or_none(recalls)
    report.citation_precision = mean_or_none(precisions)
    if independent is not None:
        report.independent_judge = independent.name
        report.independent_citation_recall = mean_or_none(independent_recalls)
        report.independent_citation_precision = mean_or_none(independent_precisions)
    report.unanswerable_refused = mean_or_none(refused_unanswerable)
    report.answerable_refused = mean_or_none(refused_answerable)
    report.n_gold_has_answer = len(contained_where_present)
    report.contains_gold_gold_has_answer = mean_or_none(contained_where_present)
    report.answerable_refused_gold_has_answer = mean_or_none(refused_where_present)
    report.n_left_out = len(refused_left_out)
    report.left_out_refused = mean_or_none(refused_left_out)
    report.n_left_out_unanswered = len(refused_unanswered)
    report.left_out_unanswered_refused = mean_or_none(refused_unanswered)
    report.n_left_out_elsewhere = len(answered_elsewhere)
    report.left_out_elsewhere_answered = mean_or_none(answered_elsewhere)
    report.latency_ms = latency_summary([r.timings for r in report.records])
    report.seconds = time.perf_counter() - started
    return report


LEAVE_OUT_MARGIN = 20  # extra passages searched so that k remain once the gold ones are dropped


class _WithoutArticles:
    """A retriever that never returns the given articles: the gold left out of the index."""

    def __init__(self, retriever: Any, excluded: set[str]) -> None:
        self.retriever = retriever
        self.excluded = excluded

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> Any:
        result = self.retriever.search(query, k + LEAVE_OUT_MARGIN, filters)
        hits = [h for h in result.hits if h.article_id not in self.excluded][:k]
        if is_dataclass(result) and not isinstance(result, type):
            return replace(result, hits=hits)
        result.hits = hits
        return result


def _article_texts(index: Any, article_ids: Sequence[str]) -> list[str]:
    texts = []
    for article_id in article_ids:
        stored = index.docstore.get_article(article_id)
        if stored is not None:
            texts.append(stored.article.text)
    return texts


def corpus_articles(path: Path, first: int | None, on_problem: Callable[[LoadProblem], None]) -> Iterator[Article]:
    """The articles of a corpus file or folder, streamed (never all in memory), the first `first`
    of each file; lines that cannot be loaded go to `on_problem`."""
    from qa.loaders import iter_paths
    from qa.types import LoadProblem

    for item in iter_paths([path]):
        if isinstance(item, LoadProblem):
            on_problem(item)
            continue
        loaded = _loaded(item, on_problem)
        yield from itertools.islice(loaded, first) if first else loaded


def _loaded(path: Path, on_problem: Callable[[LoadProblem], None]) -> Iterator[Article]:
    from qa.loaders import load_path
    from qa.types import LoadProblem

    for item in load_path(path):
        if isinstance(item, LoadProblem):
            on_problem(item)
        else:
            yield item


def ingest_corpora(components: Components, index: Index, corpora: Sequence[Path], limits: Sequence[int | None],
                   *, progress: bool | None, on_problem: Callable[[LoadProblem], None],
                   on_ingested: Callable[[Path, IngestReport], None]) -> None:
    """Fill the scratch index of a run with each corpus (`limits`: the first N articles of each)."""
    ingestor = components.ingestor(index, progress=progress)
    for path, first in zip(corpora, limits):
        report = ingestor.ingest_articles(corpus_articles(path, first, on_problem), origin=str(path.resolve()))
        on_ingested(path, report)


@contextlib.contextmanager
def eval_index(settings: Settings, corpora: Sequence[Path], limits: Sequence[int | None], keep_index: Path | None,
               *, progress: bool | None, on_problem: Callable[[LoadProblem], None],
               on_ingested: Callable[[Path, IngestReport], None]) -> Iterator[tuple[Settings, Components, Index]]:
    """The index a run reads, with its settings and components: with `corpora`, a scratch index built
    from them (in `keep_index`, kept, or a temporary folder); else `settings.index_dir`, read-only."""
    from qa.components import Components

    with contextlib.ExitStack() as stack:
        if corpora:
            folder = keep_index or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-eval-")))
            settings = settings.replace(index_dir=folder / "index" if keep_index is None else folder)
            components = stack.enter_context(Components(settings))
            index = stack.enter_context(components.open_index(writable=True, create=True))
            ingest_corpora(components, index, corpora, limits, progress=progress, on_problem=on_problem,
                           on_ingested=on_ingested)
        else:
            components = stack.enter_context(Components(settings))
            index = stack.enter_context(components.open_index(writable=False))
        yield settings, components, index
