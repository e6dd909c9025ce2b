"""What an evaluation run produces: a record per question and the report of metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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
    independent_citation_recall: float | None = None  # judged by the independent scorer, if any
    independent_citation_precision: float | None = None
    independent_unsupported: list[str] = field(default_factory=list)  # answer sentences it did not support
    timings: dict[str, float] = field(default_factory=dict)
    as_of: str | None = None  # the date the question was asked as of (None: today)
    gold_has_answer: bool | None = None  # a gold article's text contains a gold answer
    refused_without_gold: bool | None = None  # asked again with the gold left out (leave_out_gold)
    answer_without_gold: str | None = None
    # another retrieved article holds a gold answer too: answering it is right, not a failed refusal
    answer_elsewhere: bool | None = None
    passages: list[dict[str, Any]] = field(default_factory=list)  # what the answer was drawn from
    # every sentence the model wrote, what it cited, its support score and the check's action
    # (kept, recited, dropped): why an LLM answer lost a sentence, or was refused
    checks: list[dict[str, Any]] = field(default_factory=list)


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
    independent_judge: str | None = None  # the scorer of the independent citation figures
    independent_citation_recall: float | None = None
    independent_citation_precision: float | None = None
    unanswerable_refused: float | None = None
    answerable_refused: float | None = None
    n_gold_has_answer: int = 0  # answerable questions whose gold text contains a gold answer
    contains_gold_gold_has_answer: float | None = None  # contains gold over those
    answerable_refused_gold_has_answer: float | None = None  # refused over those
    n_left_out: int = 0  # answerable questions asked again without their gold article(s)
    left_out_refused: float | None = None
    n_left_out_unanswered: int = 0  # of those, none of the passages then retrieved holds a gold answer
    left_out_unanswered_refused: float | None = None  # refused over those: the honest unanswerable figure
    n_left_out_elsewhere: int = 0  # of those, another passage then retrieved holds a gold answer
    left_out_elsewhere_answered: float | None = None  # answered with a gold answer over those
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
                          "n_citations": self.n_citations,
                          "independent_judge": self.independent_judge,
                          "independent_recall": self.independent_citation_recall,
                          "independent_precision": self.independent_citation_precision},
            "refusals": {"unanswerable_refused": self.unanswerable_refused, "n_unanswerable": self.n_unanswerable,
                         "answerable_refused": self.answerable_refused, "n_answerable": self.n_answerable,
                         "answerable_refused_where_gold_has_answer": self.answerable_refused_gold_has_answer,
                         "gold_left_out_refused": self.left_out_refused, "n_gold_left_out": self.n_left_out,
                         "gold_left_out_unanswered_refused": self.left_out_unanswered_refused,
                         "n_gold_left_out_unanswered": self.n_left_out_unanswered,
                         "gold_left_out_answered_elsewhere": self.left_out_elsewhere_answered,
                         "n_gold_left_out_elsewhere": self.n_left_out_elsewhere},
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


def mean_or_none(values: Sequence[float]) -> float | None:
    return round(float(sum(values)) / len(values), 4) if values else None
