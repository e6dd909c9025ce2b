"""Evaluation: retrieval, answers, citations, refusals and latency over a question set.

Question sets are JSONL (optionally gzipped), one question per line:
    {"id", "question", "answers": [str], "gold_ids": [article ids], "date", "split", ...}

How a question counts (`EvalQuestion.kind`):
  - "unanswerable": `"answerable": false`, or no `answers` and no `gold_ids`. The system should refuse.
  - "answerable": `gold_ids` given (or `"answerable": true`). Retrieval metrics use `gold_ids`,
    answer metrics use `answers` (each only when given).
  - "skipped": `answers` but no `gold_ids` and no explicit `answerable` flag. Without gold evidence
    it is not known whether the corpus can answer it (RealTime QA has 1,215 dev questions whose
    evidence was never collected), so it is neither scored as answerable nor as unanswerable. The
    report counts these.

Metrics (pure functions below, averaged over the questions they apply to):
  - retrieval, over answerable questions with `gold_ids`: recall@k (a passage of a gold article
    among the top k retrieved passages), MRR and nDCG@10 (binary relevance over the article
    ranking, duplicates removed). The ranking is the retriever's, for the question as asked.
    Answer recall@k (DPR's top-k accuracy, Karpukhin et al. 2020): a top-k passage contains a
    gold answer (normalized as below), whichever article it comes from. Where `gold_ids` name one
    passage among several that answer (RealTime QA's distractors were found by searching for the
    question), it tells a miss from a different passage that answers.
  - answers, over answerable questions with `answers`: SQuAD-normalized "contains gold" and token
    F1 (markers stripped). A refusal scores 0 on both.
  - citations, ALCE (Gao et al. 2023) with the answers' own support check instead of an NLI model:
    citation recall = share of answer sentences supported by the concatenation of the passages
    they cite; citation precision = share of citations that are relevant (the passage alone
    supports the sentence, or without it the rest no longer does; a citation of an unsupported
    sentence is not relevant). Both are computed per answer and averaged over the answers, as
    ALCE does. Refused answers are excluded.
  - answers where the answer is there to quote: "contains gold" again over the questions whose
    gold passage (article) text contains a gold answer, with their count. RealTime QA's answers are
    quiz choices that only ~60% of its evidence passages state, which caps the plain figure.
  - refusals: share of unanswerable questions refused, share of answerable questions refused, and
    with `leave_out_gold`, the share of answerable questions refused when asked again with their
    gold article(s) left out of the results (unanswerable by construction, except where another
    article holds the answer too).
  - latency: p50 and p95 of every stage in `Answer.timings` (total_ms included).

Support ("does this evidence support this claim") is the scorer the answers are checked with
(`Answerer.scorer`: lexical-semantic by default, the LLM judge with QA_SUPPORT_SCORER=judge;
threshold `settings.support_threshold`). The evidence score is the better of: the scorer's
best window of one or two sentences (exactly `citations.check_answer`'s check), and the whole
cited text (ALCE's concatenation, which lets facts from several passages combine). So
every sentence `check_answer` kept with a single citation counts as supported here; a change that
breaks markers, quotes or the check itself shows up as lost citation recall or precision.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from qa.answer_types import Answer, AskRequest
from qa.citations import split_answer, strip_markers
from qa.loaders import ArticleError, normalize_date
from qa.support import SupportScorer
from qa.types import Filters

if TYPE_CHECKING:
    from qa.answer import Answerer
    from qa.index import Index
    from qa.settings import Settings

ANSWERABLE = "answerable"
UNANSWERABLE = "unanswerable"
SKIPPED = "skipped"
NDCG_K = 10


class QuestionFileError(ValueError):
    """A question file that cannot be read; the message says where and what to fix."""


# --- questions ---------------------------------------------------------------------------------


@dataclass
class EvalQuestion:
    """One question of an evaluation set."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    date: str | None = None
    split: str | None = None
    answerable: bool | None = None  # explicit flag from the file, if any

    @property
    def as_of(self) -> str | None:
        """`date` as YYYY-MM-DD, or None when it is missing or not a date."""
        try:
            return normalize_date(self.date, "date") if self.date else None
        except ArticleError:
            return None

    @property
    def kind(self) -> str:
        """answerable | unanswerable | skipped (see the module docstring)."""
        if self.answerable is False:
            return UNANSWERABLE
        if self.gold_ids or self.answerable is True:
            return ANSWERABLE
        if not self.answers:
            return UNANSWERABLE
        return SKIPPED

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "question") -> EvalQuestion:
        question = data.get("question")
        if not isinstance(question, str) or not question.strip():
            raise QuestionFileError(f'{where}: missing "question" (a non-empty string)')
        answers = data.get("answers") or []
        gold_ids = data.get("gold_ids") or []
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not isinstance(gold_ids, list):
            raise QuestionFileError(f'{where}: "answers" and "gold_ids" must be lists')
        answerable = data.get("answerable")
        return cls(
            id=str(data.get("id", where)),
            question=question.strip(),
            answers=[str(a) for a in answers if str(a).strip()],
            gold_ids=[str(g) for g in gold_ids],
            date=data.get("date"),
            split=data.get("split"),
            answerable=answerable if isinstance(answerable, bool) else None,
        )


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from a .jsonl or .jsonl.gz file (blank lines ignored)."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    questions = []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as error:
                    raise QuestionFileError(f"{where}: not valid JSON ({error})") from None
                if not isinstance(data, dict):
                    raise QuestionFileError(f"{where}: expected a JSON object per line")
                questions.append(EvalQuestion.from_mapping(data, where))
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise QuestionFileError(f"cannot read {path}: {error}") from None
    return questions


def select_questions(
    questions: Iterable[EvalQuestion], split: str | None = None
) -> tuple[list[EvalQuestion], int]:
    """Questions of `split`; by default every question whose split isn't "heldout".
    Returns (kept, how many heldout questions were left out)."""
    kept, heldout = [], 0
    for question in questions:
        if split is not None:
            if question.split == split:
                kept.append(question)
            elif question.split == "heldout":
                heldout += 1
        elif question.split == "heldout":
            heldout += 1
        else:
            kept.append(question)
    return kept, heldout


# --- retrieval metrics -------------------------------------------------------------------------


def _dedupe(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """1.0 if any gold article is among the top `k` retrieved ids, else 0.0.

    `retrieved_ids` holds the article id of each retrieved passage, best first (repeats allowed:
    `k` counts passages, as the answerer reads `k` passages)."""
    gold = set(gold_ids)
    return 1.0 if gold and any(i in gold for i in list(retrieved_ids)[:k]) else 0.0


def answer_recall_at_k(passage_texts: Sequence[str], answers: Iterable[str], k: int) -> float:
    """1.0 if one of the top `k` passages contains a gold answer (SQuAD-normalized), else 0.0."""
    answers = list(answers)
    return 1.0 if any(contains_gold(text, answers) for text in list(passage_texts)[:k]) else 0.0


def reciprocal_rank(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int | None = None) -> float:
    """1 / the rank of the first retrieved passage from a gold article (0.0 if none in the top k)."""
    gold = set(gold_ids)
    ranked = list(retrieved_ids) if k is None else list(retrieved_ids)[:k]
    for rank, article_id in enumerate(ranked, start=1):
        if article_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int = NDCG_K) -> float:
    """nDCG@k with binary relevance over the article ranking (repeated article ids removed,
    keeping the first): DCG = sum of 1/log2(rank + 1) over gold articles in the top k, divided
    by the DCG of the ideal ranking (all gold articles first)."""
    gold = set(gold_ids)
    if not gold:
        return 0.0
    ranked = _dedupe(retrieved_ids)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, i in enumerate(ranked, start=1) if i in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# --- answer metrics ----------------------------------------------------------------------------


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, remove punctuation (ASCII and Unicode, e.g. curly quotes),
    remove the articles a/an/the, collapse whitespace."""
    text = "".join(c for c in text.lower() if not _is_punctuation(c))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_gold(answer: str, golds: Iterable[str]) -> bool:
    """Whether a normalized gold answer occurs in the normalized answer (markers stripped), on word
    boundaries: "us" is not found in "business"."""
    normalized = f" {normalize_answer(strip_markers(answer))} "
    for gold in golds:
        target = normalize_answer(gold)
        if target and f" {target} " in normalized:
            return True
    return False


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """SQuAD token F1 of the prediction (citation markers stripped) against the best gold."""
    predicted = normalize_answer(strip_markers(prediction)).split()
    best = 0.0
    for gold in golds:
        expected = normalize_answer(gold).split()
        common = Counter(predicted) & Counter(expected)
        overlap = sum(common.values())
        if not predicted or not expected or overlap == 0:
            continue
        precision, recall = overlap / len(predicted), overlap / len(expected)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


# --- citation metrics --------------------------------------------------------------------------


def support_score(scorer: SupportScorer, claim: str, evidence: Sequence[str]) -> float:
    """How well the evidence texts together support `claim` (0.0 without evidence): the better
    of the scorer's own best-window check (what `check_answer` applies to each cited passage) on
    the concatenated texts, and its score of the whole concatenation (ALCE's premise)."""
    texts = [t for t in evidence if t.strip()]
    if not texts:
        return 0.0
    joined = "\n".join(texts)
    window, _ = scorer.best_support(claim, joined)
    return max(window, scorer.scores(claim, [joined])[0])


@dataclass
class SentenceCitations:
    """The ALCE judgement of one answer sentence."""

    sentence: str
    markers: list[int]
    supported: bool  # citation recall: the cited passages together support the sentence
    relevant: list[bool]  # citation precision: per marker, is that citation relevant

    @property
    def n_citations(self) -> int:
        return len(self.markers)


class SupportCheck:
    """`support_score >= threshold` with a cache (ALCE asks about the same evidence repeatedly)."""

    def __init__(self, scorer: SupportScorer, threshold: float) -> None:
        self.scorer = scorer
        self.threshold = threshold
        self._cache: dict[tuple[str, tuple[str, ...]], bool] = {}

    def __call__(self, claim: str, evidence: Sequence[str]) -> bool:
        key = (claim, tuple(evidence))
        if key not in self._cache:
            self._cache[key] = bool(evidence) and support_score(self.scorer, claim, evidence) >= self.threshold
        return self._cache[key]


def citation_judgements(answer: Answer, check: SupportCheck) -> list[SentenceCitations]:
    """ALCE's per-sentence judgements for an answer (marker n cites `answer.passages` number n;
    a marker pointing to no passage is an irrelevant citation)."""
    by_number = {p.number: p.text for p in answer.passages}
    judgements = []
    for sentence in split_answer(answer.answer):
        markers = list(dict.fromkeys(sentence.markers))
        texts = [by_number[n] for n in markers if n in by_number]
        # as ALCE: a sentence with no citation, or one pointing to no passage, is unsupported
        supported = bool(markers) and len(texts) == len(markers) and check(sentence.text, texts)
        relevant = []
        for n in markers:
            if not supported or n not in by_number:
                relevant.append(False)
            elif len(markers) == 1:
                relevant.append(True)
            elif check(sentence.text, [by_number[n]]):
                relevant.append(True)  # condition A: it alone supports the sentence
            else:  # condition B: without it, the rest no longer supports the sentence
                rest = [by_number[m] for m in markers if m != n and m in by_number]
                relevant.append(not check(sentence.text, rest))
        judgements.append(SentenceCitations(sentence.text, markers, supported, relevant))
    return judgements


def citation_recall(judgements: Sequence[SentenceCitations]) -> float:
    """Share of sentences supported by what they cite (a sentence without citations is not)."""
    return sum(j.supported for j in judgements) / len(judgements) if judgements else 0.0


def citation_precision(judgements: Sequence[SentenceCitations]) -> float:
    """Share of citations that are relevant."""
    total = sum(j.n_citations for j in judgements)
    return sum(sum(j.relevant) for j in judgements) / total if total else 0.0


class RecordingEmbedder:
    """Wraps an embedder to remember the vectors it computes, and to reuse them only while
    `serving` is on. Answers are produced with `serving` off (every vector computed as in
    production, so the timings are real); the citation metrics then run with it on and reuse the
    vectors of the check the answer just went through. Cleared per question."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.max_tokens = embedder.max_tokens
        self.serving = False
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not self.serving:
            vectors = self.embedder.encode(texts)
            self._vectors.update(zip(texts, vectors))
            return vectors
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.embedder.encode(missing)))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._vectors[t] for t in texts])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.embedder.count_tokens(texts)

    def clear(self) -> None:
        self._vectors.clear()
        self.serving = False


# --- latency -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation, as numpy)."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else 0.0


def latency_summary(timings: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50 and p95 per stage (milliseconds), stages in first-seen order; a total_ms stage is
    added (the sum of the stages) when the timings have none."""
    stages: dict[str, list[float]] = {}
    for timing in timings:
        values = dict(timing)
        if "total_ms" not in values and values:
            values["total_ms"] = sum(values.values())
        for stage, value in values.items():
            stages.setdefault(stage, []).append(float(value))
    return {
        stage: {"p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1)}
        for stage, v in stages.items()
    }


# --- the run -----------------------------------------------------------------------------------


@dataclass
class QuestionRecord:
    """What happened to one question."""

    id: str
    question: str
    kind: str
    answers: list[str]
    gold_ids: list[str]
    retrieved_ids: list[str]  # article id of each retrieved passage, best first
    answer: str
    refused: bool
    cited_articles: list[str]
    recall_at_k: float | None = None
    answer_recall_at_k: float | None = None
    reciprocal_rank: float | None = None
    ndcg_at_10: float | None = None
    contains_gold: bool | None = None
    token_f1: float | None = None
    sentences: int = 0
    supported_sentences: int = 0
    citations: int = 0
    relevant_citations: int = 0
    citation_recall: float | None = None  # of this answer (None when refused)
    citation_precision: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    as_of: str | None = None  # the date the question was asked as of (None: today)
    gold_has_answer: bool | None = None  # a gold article's text contains a gold answer
    refused_without_gold: bool | None = None  # asked again with the gold left out (leave_out_gold)
    answer_without_gold: str | None = None
    passages: list[dict[str, Any]] = field(default_factory=list)  # what the answer was drawn from


@dataclass
class EvalReport:
    """Metrics of a run (None where no question applied), counts, and per-question records."""

    k: int
    model: str
    n_questions: int = 0  # evaluated
    n_answerable: int = 0
    n_unanswerable: int = 0
    n_skipped: int = 0  # answers but no gold_ids (see the module docstring)
    n_retrieval: int = 0  # answerable with gold_ids
    n_answers: int = 0  # answerable with answers
    n_cited_answers: int = 0  # answers not refused
    n_sentences: int = 0
    n_citations: int = 0
    recall_at_k: float | None = None
    answer_recall_at_k: float | None = None
    mrr: float | None = None
    ndcg_at_10: float | None = None
    contains_gold: float | None = None
    token_f1: float | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    unanswerable_refused: float | None = None
    answerable_refused: float | None = None
    n_gold_has_answer: int = 0  # answerable questions whose gold text contains a gold answer
    contains_gold_gold_has_answer: float | None = None  # contains gold over those
    n_left_out: int = 0  # answerable questions asked again without their gold article(s)
    left_out_refused: float | None = None
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    split: str | None = None  # what the run asked: the split, as-of mode and limit
    question_dates: bool = False
    limit: int | None = None
    records: list[QuestionRecord] = field(default_factory=list)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """The metrics grouped as the CLI prints them."""
        return {
            "retrieval": {f"recall@{self.k}": self.recall_at_k, f"answer_recall@{self.k}": self.answer_recall_at_k,
                          "mrr@10": self.mrr,
                          "ndcg@10": self.ndcg_at_10, "n": self.n_retrieval},
            "answers": {"contains_gold": self.contains_gold, "token_f1": self.token_f1, "n": self.n_answers,
                        "contains_gold_where_gold_has_answer": self.contains_gold_gold_has_answer,
                        "n_gold_has_answer": self.n_gold_has_answer},
            "citations": {"recall": self.citation_recall, "precision": self.citation_precision,
                          "n_answers": self.n_cited_answers, "n_sentences": self.n_sentences,
                          "n_citations": self.n_citations},
            "refusals": {"unanswerable_refused": self.unanswerable_refused, "n_unanswerable": self.n_unanswerable,
                         "answerable_refused": self.answerable_refused, "n_answerable": self.n_answerable,
                         "gold_left_out_refused": self.left_out_refused, "n_gold_left_out": self.n_left_out},
        }

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """JSON-ready: counts, grouped metrics, latency, and (optionally) the per-question records."""
        data: dict[str, Any] = {
            "model": self.model,
            "k": self.k,
            "run": {"split": self.split, "as_of": "question dates" if self.question_dates else "today",
                    "limit": self.limit},
            "counts": {"questions": self.n_questions, "answerable": self.n_answerable,
                       "unanswerable": self.n_unanswerable, "skipped_no_gold": self.n_skipped},
            **self.metrics(),
            "latency_ms": self.latency_ms,
            "seconds": round(self.seconds, 1),
        }
        if records:
            data["records"] = [asdict(r) for r in self.records]
        return data


def _mean(values: Sequence[float]) -> float | None:
    return round(float(sum(values)) / len(values), 4) if values else None


def run_eval(
    index: Index,
    settings: Settings,
    questions: Iterable[EvalQuestion | Mapping[str, Any]],
    *,
    k: int = 5,
    model: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    answerer: Answerer | None = None,
    question_dates: bool = False,
    split: str | None = None,
    leave_out_gold: bool = False,
    records_path: str | Path | None = None,
) -> EvalReport:
    """Ask every question through `Answerer(index, settings)` (or `answerer`) and score the answers.

    With `question_dates`, a question with a `date` is asked as of that day (`Filters.as_of`): as
    its asker would have, without later articles, and with "this week" meaning that week.

    `k` passages per question (recall@k); `model` the answer backend (default: settings.model).
    Skipped questions (answers without gold_ids) are counted but not asked; `limit` caps the
    number of questions asked (the first ones, in file order); `split` is only reported.

    With `leave_out_gold`, every answerable question with `gold_ids` is asked a second time with
    its gold article(s) left out of the retrieved passages: it should then be refused.
    `records_path`: one JSON line per question, written (and flushed) as each is answered."""
    from qa.answer import Answerer
    from qa.support import LexicalSemanticScorer

    recorder = None
    if answerer is None:
        answerer = Answerer(index, settings)
        if type(answerer.scorer) is LexicalSemanticScorer:  # the same scorer, remembering its vectors
            recorder = RecordingEmbedder(answerer.scorer.embedder)
            answerer.scorer = LexicalSemanticScorer(recorder)
    check = SupportCheck(answerer.scorer, settings.support_threshold)
    items = [q if isinstance(q, EvalQuestion) else EvalQuestion.from_mapping(q) for q in questions]
    selected = [q for q in items if q.kind != SKIPPED]
    if limit is not None:
        selected = selected[:limit]
    report = EvalReport(k=k, model=model or settings.model, n_skipped=sum(q.kind == SKIPPED for q in items),
                        split=split, question_dates=question_dates, limit=limit)
    records_file = open(records_path, "w", encoding="utf-8") if records_path is not None else None  # noqa: SIM115
    gold_index = index if index is not None else getattr(answerer, "index", None)
    contained_where_present: list[float] = []
    refused_left_out: list[float] = []
    started = time.perf_counter()
    depth = max(k, NDCG_K)
    retrieval: dict[str, list[float]] = {"recall": [], "answer_recall": [], "rr": [], "ndcg": []}
    contained, f1s, refused_unanswerable, refused_answerable = [], [], [], []
    recalls, precisions = [], []
    for question in tqdm(selected, desc="eval", unit="q", disable=not progress, dynamic_ncols=True):
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
    report.recall_at_k = _mean(retrieval["recall"])
    report.answer_recall_at_k = _mean(retrieval["answer_recall"])
    report.mrr = _mean(retrieval["rr"])
    report.ndcg_at_10 = _mean(retrieval["ndcg"])
    report.contains_gold = _mean(contained)
    report.token_f1 = _mean(f1s)
    report.n_sentences = sum(r.sentences for r in report.records)
    report.n_citations = sum(r.citations for r in report.records)
    report.citation_recall = _mean(recalls)
    report.citation_precision = _mean(precisions)
    report.unanswerable_refused = _mean(refused_unanswerable)
    report.answerable_refused = _mean(refused_answerable)
    report.n_gold_has_answer = len(contained_where_present)
    report.contains_gold_gold_has_answer = _mean(contained_where_present)
    report.n_left_out = len(refused_left_out)
    report.left_out_refused = _mean(refused_left_out)
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
