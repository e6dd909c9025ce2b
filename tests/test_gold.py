"""The CI gate: the gold question set over the seeded index, with the default (extractive) model.

tests/gold/seeds.jsonl holds questions about the two seed articles (answers copied verbatim from
them, gold_ids = the article) and questions they don't answer, some of them near misses. The
thresholds sit just below what the system achieved when they were set (figures beside each), so a
change that hurts retrieval, answers, citations or refusals fails the build. Raise a threshold
when the system improves; never lower one to make a change pass without saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.evaluate import EvalReport, load_questions, run_eval
from qa.index import Index
from qa.settings import Settings
from tests.helpers import TAIWAN_ID, TRUMP_ID

GOLD = Path(__file__).parent / "gold" / "seeds.jsonl"
# Paraphrases a new user would ask (not the articles' wording), a quarter of them unanswerable,
# including near misses (Taiwan's growth where the seeds give China's). Its BBC companion set,
# over articles that cannot ship, is bench/paraphrase/bbc.jsonl (README, "Evaluation").
PARAPHRASE = Path(__file__).parent / "gold" / "paraphrase.jsonl"

# Thresholds, and what the system achieved when they were set (extractive, k=5, support_threshold
# 0.68, refusal_threshold 0.42 as calibrated by bench/calibrate.py).
MIN_RECALL_AT_5 = 0.95  # 1.000 (14/14); one miss (0.929) fails
MIN_MRR = 0.95  # 1.000
MIN_NDCG_AT_10 = 0.95  # 1.000
MIN_CONTAINS_GOLD = 0.9  # 0.929 (13/14: "Who is Taiwan's Defence Minister?" gets the Vice Foreign Minister)
MIN_CITATION_RECALL = 0.95  # 1.000
MIN_CITATION_PRECISION = 0.95  # 1.000
MIN_UNANSWERABLE_REFUSED = 0.95  # 1.000 (6/6)
MAX_ANSWERABLE_REFUSED = 0.0  # 0.000 (0/14)


@pytest.fixture(scope="module")
def report(seeded_dir: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> EvalReport:  # noqa: ANN001
    """One run over the gold set (a read-only view of the session's seeded index)."""
    settings = Settings.from_env({}, index_dir=seeded_dir, tiktoken_cache_dir=tmp_path_factory.mktemp("tiktoken"))
    with Index.open(settings, embedder=embedder, writable=False) as index:
        return run_eval(index, settings, load_questions(GOLD), k=5, progress=False)


def failures(report: EvalReport, field: str) -> str:
    """The questions that lost a metric, for the assertion message."""
    lost = [f"{r.id}: {r.question!r} -> {r.answer[:100]!r}" for r in report.records
            if getattr(r, field) not in (None, True, 1.0)]
    return "\n  ".join(["questions that lost it:", *lost])


def test_gold_set_is_well_formed() -> None:
    questions = load_questions(GOLD)
    seeds = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "seeds").glob("*.md"))
    assert len(questions) == len({q.id for q in questions}) >= 20
    unanswerable = [q for q in questions if q.kind == "unanswerable"]
    assert len(unanswerable) >= 6
    for question in questions:
        assert set(question.gold_ids) <= {TAIWAN_ID, TRUMP_ID}
        for answer in question.answers:
            assert answer in seeds, f"{question.id}: {answer!r} is not verbatim in the seeds"


def test_retrieval(report: EvalReport) -> None:
    assert report.recall_at_k >= MIN_RECALL_AT_5, failures(report, "recall_at_k")
    assert report.mrr >= MIN_MRR, failures(report, "reciprocal_rank")
    assert report.ndcg_at_10 >= MIN_NDCG_AT_10, failures(report, "ndcg_at_10")


def test_answers_contain_gold(report: EvalReport) -> None:
    assert report.contains_gold >= MIN_CONTAINS_GOLD, failures(report, "contains_gold")


def test_citations(report: EvalReport) -> None:
    assert report.citation_recall >= MIN_CITATION_RECALL, failures(report, "citation_recall")
    assert report.citation_precision >= MIN_CITATION_PRECISION, failures(report, "citation_precision")


def test_refusals(report: EvalReport) -> None:
    wrongly_refused = [r.id for r in report.records if r.kind == "answerable" and r.refused]
    answered = [f"{r.id} -> {r.answer[:80]!r}" for r in report.records if r.kind == "unanswerable" and not r.refused]
    assert report.answerable_refused <= MAX_ANSWERABLE_REFUSED, f"wrongly refused: {wrongly_refused}"
    assert report.unanswerable_refused >= MIN_UNANSWERABLE_REFUSED, f"answered anyway: {answered}"


def test_latency_is_reported(report: EvalReport) -> None:
    assert {"retrieve_ms", "generate_ms", "check_ms", "total_ms"} <= set(report.latency_ms)
    assert all(v["p50"] <= v["p95"] for v in report.latency_ms.values())


# The paraphrase gate (extractive, k=5, answer model weight 0.5, answer_threshold 0.30 with rank
# penalty 0.05: 0.33 before stop 32, 0.36 without the penalty until stop 27); figures beside.
# The targets are 0.90 and 1.00: not met, these hold today's level. Before the stage-3
# answer model: 0.758 (25/33) right and 0.273 (3/11) refused; at answer_threshold 0.30, 0.697 (23/33)
# and 0.636 (7/11): 0.36 refuses two more near misses and one answer scored 0.307 (taxi services).
# "Who is Wellington Koo?" is answered since stop 26 (a question that only names its subject). Stop 28:
# "Where is the Financial Times based?" counts ("London-based" contains "London"), and the question's
# wording answers "Who is Taiwan's defence minister?" and "What percentage rise ... did China announce?"
# Stop 29: the answer model multiplies its int8 weights in float, scoring as trained on every CPU; int8
# activations had lifted two answers on an AVX2 machine ("What percentage rise ...": the 7.2% sentence
# 0.82 -> 0.51 beside Taiwan's 80%, which the model reads as answering too; "Where is the Financial
# Times based?": confidence 0.34 -> 0.29, under the threshold), so 0.818 -> 0.758 here, while RealTime QA
# dev and SQuAD's train half held or improved (bench/README.md, stop 29).
# Stop 32, the answer model's stage 5 at 0.30: 0.758 -> 0.727, "Which newspaper reported the arms
# purchase?" now refused (the Financial Times sentence scores under the threshold).
MIN_PARAPHRASE_CONTAINS_GOLD = 0.72  # 0.727 (24/33); misses listed by the assertion
# 0.727 (8/11); 9/11 at threshold 0.36, before the rank penalty: "How many F-35 jets has Taiwan already
# received?" scores 0.347 on relevance alone (answer model 0.01). On 479 RealTime QA dev questions asked
# with their gold left out, refused 0.754 -> 0.772 (bench/README.md, stop 27)
# Stage 5 (stop 32): 0.727 -> 0.818 (9/11), "Who is China's current defence minister?" now refused.
MIN_PARAPHRASE_UNANSWERABLE_REFUSED = 0.81


@pytest.fixture(scope="module")
def paraphrase_report(seeded_dir: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> EvalReport:  # noqa: ANN001
    settings = Settings.from_env({}, index_dir=seeded_dir, tiktoken_cache_dir=tmp_path_factory.mktemp("tiktoken"))
    with Index.open(settings, embedder=embedder, writable=False) as index:
        return run_eval(index, settings, load_questions(PARAPHRASE), k=5, progress=False)


def test_paraphrase_set_is_well_formed() -> None:
    questions = load_questions(PARAPHRASE)
    seeds = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "seeds").glob("*.md"))
    assert len(questions) == len({q.id for q in questions}) >= 40
    unanswerable = [q for q in questions if q.kind == "unanswerable"]
    assert len(unanswerable) >= len(questions) // 4
    for question in questions:
        assert set(question.gold_ids) <= {TAIWAN_ID, TRUMP_ID}
        for answer in question.answers:
            assert answer in seeds, f"{question.id}: {answer!r} is not verbatim in the seeds"


def test_paraphrased_questions_are_answered_right(paraphrase_report: EvalReport) -> None:
    assert paraphrase_report.contains_gold >= MIN_PARAPHRASE_CONTAINS_GOLD, failures(paraphrase_report, "contains_gold")
    assert paraphrase_report.citation_precision >= MIN_CITATION_PRECISION


def test_paraphrased_questions_the_seeds_do_not_answer_are_refused(paraphrase_report: EvalReport) -> None:
    answered = [f"{r.id} -> {r.answer[:80]!r}" for r in paraphrase_report.records
                if r.kind == "unanswerable" and not r.refused]
    assert paraphrase_report.unanswerable_refused >= MIN_PARAPHRASE_UNANSWERABLE_REFUSED, f"answered anyway: {answered}"
