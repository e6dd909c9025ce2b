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
    article holds the answer too), and that share split: refused over the questions where no
    passage then retrieved holds a gold answer, answered with a gold answer over the others.
  - latency: p50 and p95 of every stage in `Answer.timings` (total_ms included).

Support ("does this evidence support this claim") is the scorer the answers are checked with
(`Answerer.scorer`: the trained support model by default, see `qa.support` for the others;
threshold `settings.support_cutoff`). The evidence score is the better of: the scorer's
best window of one or two sentences (exactly `citations.check_answer`'s check), and the whole
cited text (ALCE's concatenation, which lets facts from several passages combine). So
every sentence `check_answer` kept with a single citation counts as supported here; a change that
breaks markers, quotes or the check itself shows up as lost citation recall or precision.
"""

from qa.evaluate.judgements import (
    RecordingEmbedder,
    SentenceCitations,
    SupportCheck,
    citation_judgements,
    citation_precision,
    citation_recall,
    support_score,
)
from qa.evaluate.metrics import (
    NDCG_K,
    answer_recall_at_k,
    contains_gold,
    latency_summary,
    ndcg_at_k,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qa.evaluate.questions import (
    ANSWERABLE,
    SKIPPED,
    UNANSWERABLE,
    EvalQuestion,
    QuestionFileError,
    load_questions,
    select_questions,
)
from qa.evaluate.report import EvalReport, QuestionRecord
from qa.evaluate.run import LEAVE_OUT_MARGIN, run_eval

__all__ = [
    "ANSWERABLE", "LEAVE_OUT_MARGIN", "NDCG_K", "SKIPPED", "UNANSWERABLE", "EvalQuestion", "EvalReport",
    "QuestionFileError", "QuestionRecord", "RecordingEmbedder", "SentenceCitations", "SupportCheck",
    "answer_recall_at_k", "citation_judgements", "citation_precision", "citation_recall", "contains_gold",
    "latency_summary", "load_questions", "ndcg_at_k", "normalize_answer", "percentile", "recall_at_k",
    "reciprocal_rank", "run_eval", "select_questions", "support_score", "token_f1",
]
