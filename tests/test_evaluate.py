"""Evaluation metrics on hand-built inputs (values computed by hand), run_eval's bookkeeping with a
stub answerer, question loading, and the `qa eval` command on the seeded index."""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from qa.answer_types import Answer, SentenceCheck
from qa.backends.base import Passage
from qa.cli import main, print_eval_report
from qa.evaluate import (
    ANSWERABLE,
    SKIPPED,
    UNANSWERABLE,
    EvalQuestion,
    QuestionFileError,
    SupportCheck,
    answer_recall_at_k,
    citation_judgements,
    citation_precision,
    citation_recall,
    contains_gold,
    latency_summary,
    load_questions,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    reciprocal_rank,
    run_eval,
    select_questions,
    support_score,
    token_f1,
)
from qa.settings import Settings
from qa.support import sentence_windows
from qa.types import Filters
from tests.helpers import TAIWAN_ID

# --- retrieval ----------------------------------------------------------------------------------


def test_recall_at_k_counts_passages_up_to_k() -> None:
    assert recall_at_k(["a", "b", "c"], ["c"], 2) == 0.0
    assert recall_at_k(["a", "b", "c"], ["c"], 3) == 1.0
    assert recall_at_k(["a", "b", "c"], ["x", "b"], 5) == 1.0  # any gold article counts
    assert recall_at_k([], ["a"], 5) == 0.0
    assert recall_at_k(["a"], [], 5) == 0.0


def test_answer_recall_at_k_looks_for_a_gold_answer_in_the_top_k_passages() -> None:
    passages = ["Nothing here.", "The U.S. economy grew 2.3%.", "Prices rose."]
    assert answer_recall_at_k(passages, ["2.3%"], 2) == 1.0
    assert answer_recall_at_k(passages, ["2.3%"], 1) == 0.0
    assert answer_recall_at_k(passages, ["the US economy"], 3) == 1.0  # "U.S." and "US" both normalize to "us"
    assert answer_recall_at_k(passages, ["the EU economy"], 3) == 0.0
    assert answer_recall_at_k([], ["x"], 5) == 0.0


def test_reciprocal_rank_is_one_over_the_first_gold_rank() -> None:
    assert reciprocal_rank(["a", "b", "a", "c"], ["c"]) == 0.25
    assert reciprocal_rank(["c", "c"], ["c"]) == 1.0
    assert reciprocal_rank(["a", "b", "c"], ["c"], k=2) == 0.0
    assert reciprocal_rank(["a"], ["z"]) == 0.0


def test_ndcg_dedupes_articles_and_uses_binary_relevance() -> None:
    # articles a, b, c after dedupe; gold b at rank 2 of 2 gold: (1/log2 3) / (1 + 1/log2 3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "a", "b", "c"], ["b", "d"], 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "a", "b", "c"], ["b", "d"], 10) == pytest.approx(0.386853, abs=1e-6)
    assert ndcg_at_k(["b", "b", "a"], ["b"], 10) == 1.0  # a repeated gold article counts once
    assert ndcg_at_k(["a", "b"], ["a", "b"], 10) == 1.0
    assert ndcg_at_k(["a", "b"], ["b"], 1) == 0.0
    assert ndcg_at_k(["a"], [], 10) == 0.0


# --- answers -----------------------------------------------------------------------------------


def test_normalize_answer_is_squad_normalization() -> None:
    assert normalize_answer("The  “Squid Game”!") == "squid game"
    assert normalize_answer("An F-35, a jet") == "f35 jet"
    assert normalize_answer("$19 Billion.") == "19 billion"
    assert normalize_answer("Theater and anthem") == "theater and anthem"  # only whole articles go
    assert normalize_answer("Japan’s volcano, Macy's") == "japan volcano macy"  # possessives go whole


def test_contains_gold_matches_normalized_words() -> None:
    answer = "China will increase its defense spending by 7.2 percent this year [1]."
    assert contains_gold(answer, ["7.2 percent"])
    assert contains_gold(answer, ["nothing", "7.2 Percent."])
    assert contains_gold("Japan’s Sakurajima volcano erupted [1].", ["Japan"])
    assert not contains_gold("Japanese officials said [1].", ["Japan"])
    assert not contains_gold(answer, ["8 percent"])
    assert not contains_gold("Big business deals [1].", ["US"])  # not inside another word
    assert contains_gold("Taipei allocated a record $19 billion [2].", ["19 billion"])
    assert not contains_gold(answer, [])
    assert not contains_gold(answer, ["the"])  # normalizes to nothing


def test_contains_gold_reads_words_joined_by_a_dash() -> None:
    answer = "The London-based Financial Times reported on Monday [1]. Taiwan mulls F-35 jets [1]."
    assert contains_gold(answer, ["London"])
    assert contains_gold(answer, ["F-35"]) and contains_gold(answer, ["F35"]) and contains_gold(answer, ["F 35"])
    assert contains_gold("Sales rose year-on-year [1].", ["year on year"])
    assert not contains_gold(answer, ["Lond"])  # still whole words only


def test_token_f1_strips_markers_and_takes_the_best_gold() -> None:
    # prediction "cat sat" vs gold "cat sat down": p = 1, r = 2/3, F1 = 0.8
    assert token_f1("The cat sat [1].", ["dog", "a cat sat down"]) == pytest.approx(0.8)
    assert token_f1("The cat sat [1][2].", ["cat sat"]) == 1.0
    assert token_f1("Nothing in common [1].", ["cat"]) == 0.0
    assert token_f1("cat", []) == 0.0
    # 8 tokens predicted ("7.2" is one token, "72"), both gold tokens among them: p = 2/8, r = 1, F1 = 0.4
    assert token_f1("China will raise defence spending by 7.2 percent [1].", ["7.2 percent"]) == pytest.approx(0.4)


# --- citations ----------------------------------------------------------------------------------


class WordScorer:
    """Supports a claim (1.0) when every word of it occurs in the evidence, else 0.0."""

    name = "words"

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z]+", text.lower()))

    def scores(self, claim: str, evidence: list[str]) -> list[float]:
        self.calls += 1
        return [1.0 if self.words(claim) <= self.words(text) else 0.0 for text in evidence]

    def best_support(self, claim: str, passage_text: str) -> tuple[float, tuple[int, int]]:
        windows = sentence_windows(passage_text) or [(0, len(passage_text))]
        scores = self.scores(claim, [passage_text[s:e] for s, e in windows])
        best = max(range(len(windows)), key=scores.__getitem__)
        return scores[best], windows[best]


def passage(number: int, text: str, article_id: str = "art") -> Passage:
    return Passage(number=number, article_id=article_id, chunk_id=number * 10, title="t", text=text,
                   start=0, end=len(text))


def answer_of(text: str, passages: list[Passage], *, refused: bool = False, timings: dict | None = None,
              checks: list[SentenceCheck] | None = None) -> Answer:
    return Answer(answer=text, refused=refused, citations=[], passages=passages, timings=timings or {}, model="stub",
                  checks=checks or [])


def test_support_score_takes_windows_and_the_concatenation() -> None:
    scorer = WordScorer()
    assert support_score(scorer, "Alpha rose.", ["Alpha rose. Beta fell."]) == 1.0
    # only the two passages together hold every word of the claim
    assert support_score(scorer, "Alpha gamma rose.", ["Alpha rose.", "Gamma rose."]) == 1.0
    assert support_score(scorer, "Alpha gamma rose.", ["Alpha rose."]) == 0.0
    assert support_score(scorer, "Alpha rose.", []) == 0.0


def test_alce_citation_recall_and_precision() -> None:
    passages = [passage(1, "Alpha rose. Beta fell."), passage(2, "Gamma rose."), passage(3, "Delta won.")]
    answer = answer_of(
        "Alpha rose [1][3]. Alpha gamma rose [1][2]. Delta lost [3]. Beta fell [4]. Nothing cited here.",
        passages,
    )
    judgements = citation_judgements(answer, SupportCheck(WordScorer(), 0.5))
    assert [j.sentence for j in judgements] == [
        "Alpha rose.", "Alpha gamma rose.", "Delta lost.", "Beta fell.", "Nothing cited here."]
    assert [j.supported for j in judgements] == [True, True, False, False, False]
    assert [j.relevant for j in judgements] == [
        [True, False],  # [1] alone supports it; without [3] the rest still does: [3] is irrelevant
        [True, True],  # neither alone, but removing either breaks the support: both relevant
        [False],  # an unsupported sentence's citation is not relevant
        [False],  # [4] is not a passage
        [],
    ]
    assert citation_recall(judgements) == pytest.approx(2 / 5)
    assert citation_precision(judgements) == pytest.approx(3 / 6)
    assert citation_recall([]) == 0.0 and citation_precision([]) == 0.0


def test_support_check_caches_repeated_questions() -> None:
    scorer = WordScorer()
    check = SupportCheck(scorer, 0.5)
    assert check("Alpha rose.", ["Alpha rose."]) and check("Alpha rose.", ["Alpha rose."])
    assert scorer.calls == 2  # the best window, and the whole text: once
    assert check("Alpha rose.", []) is False


# --- latency ------------------------------------------------------------------------------------


def test_latency_summary_p50_p95_per_stage() -> None:
    timings = [{"retrieve_ms": v, "total_ms": v + 20} for v in (10, 20, 30, 40)]
    summary = latency_summary(timings)
    assert summary == {"retrieve_ms": {"p50": 25.0, "p95": 38.5}, "total_ms": {"p50": 45.0, "p95": 58.5}}
    # without a total, the stages are summed into one
    assert latency_summary([{"a_ms": 1.0, "b_ms": 2.0}])["total_ms"] == {"p50": 3.0, "p95": 3.0}
    assert latency_summary([]) == {}


# --- questions ----------------------------------------------------------------------------------


def test_question_kinds() -> None:
    assert EvalQuestion.from_mapping({"question": "q", "answers": ["x"], "gold_ids": ["a"]}).kind == ANSWERABLE
    assert EvalQuestion.from_mapping({"question": "q", "answers": [], "gold_ids": []}).kind == UNANSWERABLE
    assert EvalQuestion.from_mapping({"question": "q", "answers": ["x"], "answerable": False}).kind == UNANSWERABLE
    assert EvalQuestion.from_mapping({"question": "q", "answers": ["x"], "gold_ids": []}).kind == SKIPPED
    assert EvalQuestion.from_mapping({"question": "q", "answers": ["x"], "answerable": True}).kind == ANSWERABLE
    with pytest.raises(QuestionFileError, match="question"):
        EvalQuestion.from_mapping({"answers": []})


def test_load_questions_jsonl_and_gz(tmp_path: Path) -> None:
    lines = [{"id": "1", "question": "Q1?", "answers": ["a"], "gold_ids": ["x"], "split": "dev"},
             {"id": "2", "question": "Q2?", "answers": [], "gold_ids": [], "split": "heldout"}]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    plain, packed = tmp_path / "q.jsonl", tmp_path / "q.jsonl.gz"
    plain.write_text(text)
    with gzip.open(packed, "wt") as handle:
        handle.write(text)
    for path in (plain, packed):
        questions = load_questions(path)
        assert [(q.id, q.kind, q.split) for q in questions] == [("1", ANSWERABLE, "dev"), ("2", UNANSWERABLE,
                                                                                           "heldout")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\nnot json\n')
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:2"):
        load_questions(bad)


def test_select_questions_leaves_out_heldout_by_default() -> None:
    questions = [EvalQuestion(id=str(i), question="q", split=split)
                 for i, split in enumerate(["dev", "heldout", None, "dev", "heldout"])]
    kept, heldout = select_questions(questions)
    assert [q.id for q in kept] == ["0", "2", "3"] and heldout == 2
    kept, heldout = select_questions(questions, "dev")
    assert [q.id for q in kept] == ["0", "3"] and heldout == 2


# --- run_eval bookkeeping -------------------------------------------------------------------------


# B is not q2's gold article (C), but it holds q2's answer: answer recall counts it, recall doesn't
PASSAGE_TEXTS = {"A": "Defence spending rises 7.2 percent.", "B": "Andy Hunter heads the chamber."}


class StubAnswerer:
    """Canned answers and rankings, so run_eval's aggregation can be checked by hand."""

    def __init__(self, answers: dict[str, Answer], rankings: dict[str, list[str]]) -> None:
        self.answers = answers
        self.scorer = WordScorer()
        self.asked: list[tuple[str, int | None]] = []
        self.filters: list[tuple[str, Filters | None]] = []  # (what asked or searched, its filters)

        def search(query, k, filters=None):  # noqa: ANN001, ANN202
            self.filters.append((f"search {query}", filters))
            return SimpleNamespace(hits=[SimpleNamespace(article_id=a,
                                                         text=PASSAGE_TEXTS[a]) for a in rankings[query][:k]])

        self.retriever = SimpleNamespace(search=search)
        self.retrievers: list = []  # the retriever each question was asked with
        # the gold articles' full text: q1's (A) and q2's (C) both hold their answers
        articles = {"A": PASSAGE_TEXTS["A"], "C": "Andy Hunter, who heads the chamber, said so."}
        self.index = SimpleNamespace(docstore=SimpleNamespace(get_article=lambda article_id: SimpleNamespace(
            article=SimpleNamespace(text=articles[article_id])) if article_id in articles else None))

    def ask(self, request):  # noqa: ANN001, ANN201
        self.retrievers.append(self.retriever)
        self.asked.append((request.question, request.k))
        self.filters.append((f"ask {request.question}", request.filters))
        return self.answers[request.question]


def stub_eval(**kwargs):  # noqa: ANN003, ANN201
    budget = passage(1, "China will raise defence spending by 7.2 percent this year.", "A")
    other = passage(1, "Something else entirely.", "B")
    refusal = "The articles don't cover this."
    answers = {
        "q1": answer_of("China will raise defence spending by 7.2 percent [1].", [budget],
                        timings={"retrieve_ms": 10, "total_ms": 30}, checks=[
                            SentenceCheck(sentence="China will raise defence spending by 7.2 percent.", cited=[1],
                                          supported_by=[1], support=1.0, action="kept"),
                            SentenceCheck(sentence="It is the largest rise in years.", cited=[1],
                                          supported_by=[], support=0.0, action="dropped")]),
        "q2": answer_of(refusal, [other], refused=True, timings={"retrieve_ms": 20, "total_ms": 40}),
        "q3": answer_of(refusal, [], refused=True, timings={"retrieve_ms": 30, "total_ms": 50}),
        "q4": answer_of("Unrelated claim [1].", [other], timings={"retrieve_ms": 40, "total_ms": 60}),
    }
    questions = [
        {"id": "1", "question": "q1", "answers": ["7.2 percent"], "gold_ids": ["A"], "date": "2025-03-05"},
        {"id": "2", "question": "q2", "answers": ["Andy Hunter"], "gold_ids": ["C"], "date": "March 2025"},
        {"id": "3", "question": "q3", "answers": [], "gold_ids": []},
        {"id": "4", "question": "q4", "answers": ["x"], "answerable": False},
        {"id": "5", "question": "q5", "answers": ["y"], "gold_ids": []},  # skipped: no gold evidence
    ]
    answerer = StubAnswerer(answers, {"q1": ["B", "A", "A"], "q2": ["B"]})
    report = run_eval(None, Settings(), questions, answerer=answerer, progress=False, **kwargs)
    return report, answerer


def test_run_eval_aggregates_by_hand() -> None:
    report, answerer = stub_eval(k=2)
    assert answerer.asked == [("q1", 2), ("q2", 2), ("q3", 2), ("q4", 2)]  # q5 is never asked
    assert (report.n_questions, report.n_answerable, report.n_unanswerable, report.n_skipped) == (4, 2, 2, 1)
    assert report.recall_at_k == 0.5  # q1: A at rank 2 <= k; q2: C not retrieved
    assert report.answer_recall_at_k == 1.0  # q1: A holds "7.2 percent"; q2: B holds "Andy Hunter"
    assert report.mrr == 0.25  # (1/2 + 0) / 2
    assert report.ndcg_at_10 == pytest.approx((1 / math.log2(3)) / 2, abs=1e-4)
    assert report.contains_gold == 0.5  # q2 was refused
    assert report.token_f1 == pytest.approx(0.4 / 2)
    assert report.citation_recall == 0.5 and report.citation_precision == 0.5  # q1 right, q4 wrong
    assert (report.n_cited_answers, report.n_sentences, report.n_citations) == (2, 2, 2)
    assert report.unanswerable_refused == 0.5 and report.answerable_refused == 0.5
    # both gold texts hold their answer: q1 answered it, q2 was refused
    assert [r.gold_has_answer for r in report.records] == [True, True, None, None]
    assert report.n_gold_has_answer == 2 and report.contains_gold_gold_has_answer == 0.5
    assert report.answerable_refused_gold_has_answer == 0.5
    assert report.latency_ms == {"retrieve_ms": {"p50": 25.0, "p95": 38.5}, "total_ms": {"p50": 45.0, "p95": 58.5}}
    data = report.to_dict()
    assert data["retrieval"]["recall@2"] == 0.5 and data["retrieval"]["answer_recall@2"] == 1.0
    assert data["counts"]["skipped_no_gold"] == 1
    assert data["refusals"]["answerable_refused_where_gold_has_answer"] == 0.5
    assert [r["id"] for r in data["records"]] == ["1", "2", "3", "4"]
    assert data["records"][0]["retrieved_ids"] == ["B", "A", "A"]
    assert "records" not in report.to_dict(records=False)
    json.dumps(data)  # JSON-ready


class ConstantScorer(WordScorer):
    """An independent judge that finds every claim supported (1.0) or none (0.0)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.name = f"constant-{value}"

    def scores(self, claim: str, evidence: list[str]) -> list[float]:
        self.calls += 1
        return [self.value for _ in evidence]


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_run_eval_reports_an_independent_judge_beside_the_answerers_own(value: float) -> None:
    judge = ConstantScorer(value)
    report, _ = stub_eval(independent=judge)
    assert judge.calls > 0
    assert report.citation_recall == 0.5 and report.citation_precision == 0.5  # the answerer's own, unchanged
    assert report.independent_citation_recall == value and report.independent_citation_precision == value
    citations = report.to_dict()["citations"]
    assert citations["independent_judge"] == judge.name and citations["independent_precision"] == value
    assert report.records[0].independent_citation_recall == value
    # the sentences it did not support are in the record, to read why the two judges differ
    cited = [r for r in report.records if not r.refused and r.sentences]
    assert cited and all(bool(r.independent_unsupported) == (value == 0.0) for r in cited)


def test_run_eval_without_an_independent_judge_reports_none() -> None:
    report, _ = stub_eval()
    assert report.independent_judge is None and report.independent_citation_precision is None


def test_run_eval_asks_as_of_each_question_date() -> None:
    _, answerer = stub_eval(question_dates=True)
    as_of = {what: (filters.as_of if filters else None) for what, filters in answerer.filters}
    # the answer and the retrieval metrics both see the question's date; a date that is not ISO is
    # ignored rather than failing the run
    assert as_of == {"ask q1": "2025-03-05", "search q1": "2025-03-05", "ask q2": None, "search q2": None,
                     "ask q3": None, "ask q4": None}
    _, answerer = stub_eval()
    assert all(filters is None for _, filters in answerer.filters)


def test_run_eval_limit_counts_asked_questions() -> None:
    report, answerer = stub_eval(limit=1)
    assert answerer.asked == [("q1", 5)] and report.n_questions == 1
    assert report.n_unanswerable == 0 and report.unanswerable_refused is None


def test_run_eval_leaves_the_gold_out_and_asks_again() -> None:
    report, answerer = stub_eval(leave_out_gold=True)
    # q1 and q2 have gold_ids: each is asked twice, the second time without its gold article
    assert [q for q, _ in answerer.asked] == ["q1", "q1", "q2", "q2", "q3", "q4"]
    leaving_out = answerer.retrievers[1]
    assert leaving_out is not answerer.retriever and answerer.retrievers[0] is answerer.retriever
    assert [h.article_id for h in leaving_out.search("q1", 5).hits] == ["B"]  # A, the gold, is gone
    assert report.n_left_out == 2 and report.left_out_refused == 0.5  # q2's canned answer is a refusal
    assert report.records[0].refused_without_gold is False and report.records[1].refused_without_gold is True
    assert report.to_dict()["refusals"]["gold_left_out_refused"] == 0.5
    # split by what the passages then retrieved hold: q1's canned passage still holds "7.2 percent"
    # (another article with the answer: answering it is right), q2's holds no "Andy Hunter"
    assert [r.answer_elsewhere for r in report.records[:2]] == [True, False]
    assert report.n_left_out_unanswered == 1 and report.left_out_unanswered_refused == 1.0
    assert report.left_out_elsewhere_answered == 1.0
    assert report.to_dict()["refusals"]["gold_left_out_unanswered_refused"] == 1.0


def test_run_eval_writes_records_as_it_goes_and_reports_what_it_asked(tmp_path: Path) -> None:
    report, _ = stub_eval(records_path=tmp_path / "records.jsonl", question_dates=True, limit=3, split="dev")
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == ["1", "2", "3"]
    assert lines[0]["as_of"] == "2025-03-05" and lines[0]["passages"][0]["article_id"] == "A"
    # what the model wrote, sentence by sentence, and what the check did with it
    assert [(c["sentence"], c["action"]) for c in lines[0]["checks"]] == [
        ("China will raise defence spending by 7.2 percent.", "kept"), ("It is the largest rise in years.", "dropped")]
    assert lines[1]["checks"] == []
    assert report.to_dict()["run"] == {"split": "dev", "as_of": "question dates", "limit": 3}


# --- the command ----------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_command_on_an_index(seeded_dir: Path, tmp_path: Path) -> None:
    questions = write_jsonl(tmp_path / "q.jsonl", [
        {"id": "1", "question": "By how much will China increase its defense spending this year?",
         "answers": ["7.2 percent"], "gold_ids": [TAIWAN_ID], "split": "dev"},
        {"id": "2", "question": "Secret acceptance question?", "answers": ["x"], "gold_ids": ["y"],
         "split": "heldout"},
    ])
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(questions), "--index", str(seeded_dir), "--json", "--no-progress",
                                  "--records", str(tmp_path / "records.jsonl")])
    assert result.exit_code == 0, result.output
    assert 'skipped 1 questions of split "heldout"' in result.stderr
    data = json.loads(result.stdout)
    assert data["counts"]["questions"] == 1
    assert data["retrieval"]["recall@5"] == 1.0 and data["answers"]["contains_gold"] == 1.0
    assert data["citations"]["recall"] == 1.0 and data["refusals"]["answerable_refused"] == 0.0
    assert set(data["latency_ms"]) >= {"retrieve_ms", "generate_ms", "check_ms", "total_ms"}
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["1"]



def test_eval_report_table(capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = stub_eval(k=2)
    print_eval_report(report, "stub run")
    out = capsys.readouterr().out
    for expected in ("stub run", "recall@2", "0.500", "MRR@10", "0.250", "contains gold", "citation precision",
                     "unanswerable refused", "gold text has it: refused", "2 questions", "retrieve", "25.0", "38.5",
                     "total"):
        assert expected in out, expected


@pytest.mark.integration
def test_eval_command_with_a_scratch_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"id": "pluto", "title": "Pluto", "text": "Pluto was reclassified as a dwarf planet in 2006."},
        {"id": "never", "title": "Never read", "text": "This second article is beyond --corpus-limit."},
    ])
    questions = write_jsonl(tmp_path / "q.jsonl", [
        {"id": "1", "question": "When was Pluto reclassified as a dwarf planet?", "answers": ["2006"],
         "gold_ids": ["pluto"]},
        {"id": "2", "question": "What was Pluto reclassified as in 2006?", "answers": ["dwarf planet"],
         "gold_ids": ["pluto"]},
        {"id": "3", "question": "Beyond --limit?", "answers": ["x"], "gold_ids": ["never"]},
    ])
    keep = tmp_path / "scratch"
    result = CliRunner().invoke(main, ["eval", str(questions), "--corpus", str(corpus), "--corpus-limit", "1",
                                       "--keep-index", str(keep), "--limit", "2", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["index"]["articles"] == 1  # streamed, only the first article
    assert data["counts"]["questions"] == 2  # --limit, independent of --corpus-limit
    assert data["retrieval"]["recall@5"] == 1.0 and data["answers"]["contains_gold"] == 1.0
    assert (keep / "manifest.json").exists()


def test_eval_command_errors(tmp_path: Path, seeded_dir: Path) -> None:
    questions = write_jsonl(tmp_path / "q.jsonl", [{"id": "1", "question": "Q?", "split": "heldout"}])
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(questions), "--index", str(seeded_dir)])
    assert result.exit_code != 0 and "no questions to evaluate" in result.stderr
    result = runner.invoke(main, ["eval", str(questions), "--corpus-limit", "3"])
    assert result.exit_code != 0 and "only apply with --corpus" in result.stderr
    result = runner.invoke(main, ["eval", str(questions), "--corpus", str(questions), "--corpus", str(questions),
                                  "--corpus-limit", "1", "--corpus-limit", "2", "--corpus-limit", "3"])
    assert result.exit_code != 0 and "once per --corpus (2 times), not 3 times" in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n")
    result = runner.invoke(main, ["eval", str(bad), "--index", str(seeded_dir)])
    assert result.exit_code != 0 and "bad.jsonl:1" in result.stderr
