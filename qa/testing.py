"""Assertions about cited answers, for your own pytest suites.

Every function raises `AssertionError` with a message naming the sentence or citation that
failed, and returns nothing when the answer passes. The support check is the one the answers and
`qa eval` use (`qa.evaluate.support_score`, threshold `Settings.support_cutoff`).

Example (a test module of your project)::

    import pytest

    from qa.answer import Answerer
    from qa.answer_types import AskRequest
    from qa.embed import load_embedder
    from qa.index import Index
    from qa.settings import Settings
    from qa.testing import (assert_cited, assert_citations_in_passages, assert_cites_article,
                            assert_not_refused, assert_refused, assert_supported)

    @pytest.fixture(scope="module")
    def answerer():
        settings = Settings.from_env()
        index = Index.open(settings, embedder=load_embedder(settings), writable=False)
        yield Answerer(index, settings)
        index.close()

    def test_china_defence_budget(answerer):
        answer = answerer.ask(AskRequest(question="How much will China raise defence spending?"))
        assert_not_refused(answer)
        assert_cited(answer)
        assert_supported(answer)
        assert_citations_in_passages(answer)
        assert_cites_article(answer, "eaa377af9f908790")
        assert "7.2 percent" in answer.answer

    def test_out_of_scope_question_is_refused(answerer):
        assert_refused(answerer.ask(AskRequest(question="Who won the Super Bowl in 2024?")))
"""

from __future__ import annotations

from typing import NoReturn

from qa.answer_types import Answer
from qa.citations import split_answer
from qa.support import SupportScorer

__all__ = [
    "assert_cited",
    "assert_citations_in_passages",
    "assert_cites_article",
    "assert_not_refused",
    "assert_refused",
    "assert_supported",
]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(message: str, answer: Answer) -> NoReturn:
    question = f" to {answer.question!r}" if answer.question else ""
    raise AssertionError(f"{message}\n  answer{question}: {_short(answer.answer, 300)!r}")


def assert_refused(answer: Answer) -> None:
    """The answer is a refusal (the articles don't answer the question).

        assert_refused(answerer.ask(AskRequest(question="Who won the 2024 Super Bowl?")))
    """
    if not answer.refused:
        _fail(f"expected a refusal, but the answer has {len(answer.citations)} citation(s)", answer)


def assert_not_refused(answer: Answer) -> None:
    """The answer is not a refusal.

        assert_not_refused(answerer.ask(AskRequest(question="How much will China raise defence spending?")))
    """
    if answer.refused:
        best = max((p.dense_score or 0.0 for p in answer.passages), default=None)
        detail = "no passage was retrieved" if best is None else (
            f"{len(answer.passages)} passages were retrieved, best similarity {best:.2f}")
        _fail(f"expected an answer, but it was refused ({detail})", answer)


def assert_cited(answer: Answer) -> None:
    """Every sentence of the answer carries at least one [n] marker, and every marker resolves
    to one of `answer.citations`. A refused answer fails (it has nothing cited).

        assert_cited(answer)
    """
    if answer.refused:
        _fail("expected a cited answer, but it was refused", answer)
    sentences = split_answer(answer.answer)
    if not sentences:
        _fail("the answer has no sentences", answer)
    markers = {c.marker for c in answer.citations}
    for number, sentence in enumerate(sentences, start=1):
        if not sentence.markers:
            _fail(f"sentence {number} has no citation marker: {_short(sentence.text)!r}", answer)
        unresolved = [n for n in sentence.markers if n not in markers]
        if unresolved:
            _fail(f"sentence {number} cites {', '.join(f'[{n}]' for n in unresolved)}, which no citation "
                  f"resolves (citations: {sorted(markers)}): {_short(sentence.text)!r}", answer)


def assert_supported(answer: Answer, scorer: SupportScorer | None = None, threshold: float | None = None) -> None:
    """Every sentence is supported by the passages it cites (together), by the same check as
    `qa eval`'s citation recall: the support score of the cited passages is at least `threshold`.

    `scorer` defaults to the scorer the settings choose (`QA_SUPPORT_SCORER`: the support model
    unless set), `threshold` to their `support_cutoff`; pass your answerer's
    (`answerer.scorer`, `answerer.settings.support_cutoff`) to be sure they match.

        assert_supported(answer)
        assert_supported(answer, scorer=answerer.scorer, threshold=settings.support_cutoff)
    """
    from qa.evaluate import support_score

    if scorer is None or threshold is None:
        from qa.settings import Settings

        settings = Settings.from_env()
        if threshold is None:
            threshold = settings.support_cutoff
        if scorer is None:
            from qa.embed import load_embedder
            from qa.support import make_scorer

            scorer = make_scorer(settings, load_embedder(settings))
    if answer.refused:
        _fail("expected a supported answer, but it was refused", answer)
    by_number = {p.number: p for p in answer.passages}
    for number, sentence in enumerate(split_answer(answer.answer), start=1):
        if not sentence.markers:
            _fail(f"sentence {number} cites nothing, so nothing supports it: {_short(sentence.text)!r}", answer)
        missing = [n for n in sentence.markers if n not in by_number]
        if missing:
            _fail(f"sentence {number} cites {', '.join(f'[{n}]' for n in missing)}, which is not a passage "
                  f"of the answer: {_short(sentence.text)!r}", answer)
        cited = list(dict.fromkeys(sentence.markers))
        score = support_score(scorer, sentence.text, [by_number[n].text for n in cited])
        if score < threshold:
            _fail(f"sentence {number} is not supported by the passage(s) it cites "
                  f"({', '.join(f'[{n}]' for n in cited)}): support {score:.3f} < {threshold}: "
                  f"{_short(sentence.text)!r}", answer)


def assert_citations_in_passages(answer: Answer) -> None:
    """Each citation points to a passage of the answer (same marker number, article and chunk),
    its quote is a substring of that passage's text, and its `start`/`end` are the quote's span in
    the article (within the passage's span).

        assert_citations_in_passages(answer)
    """
    by_number = {p.number: p for p in answer.passages}
    chunk_ids = {p.chunk_id for p in answer.passages}
    for citation in answer.citations:
        label = f"citation [{citation.marker}] (article {citation.article_id}, chunk {citation.chunk_id})"
        if citation.chunk_id not in chunk_ids:
            _fail(f"{label}: chunk {citation.chunk_id} is none of the answer's passages "
                  f"(chunks {sorted(chunk_ids)})", answer)
        passage = by_number.get(citation.marker)
        if passage is None or passage.chunk_id != citation.chunk_id or passage.article_id != citation.article_id:
            _fail(f"{label}: passage [{citation.marker}] is "
                  + ("missing" if passage is None else f"chunk {passage.chunk_id} of article {passage.article_id}"),
                  answer)
        if not citation.quote or citation.quote not in passage.text:
            _fail(f"{label}: the quote is not in the passage's text: {_short(citation.quote)!r}", answer)
        if not (passage.start <= citation.start < citation.end <= passage.end):
            _fail(f"{label}: span {citation.start}-{citation.end} is not inside the passage's span "
                  f"{passage.start}-{passage.end}", answer)
        offset = citation.start - passage.start
        if passage.text[offset : offset + len(citation.quote)] != citation.quote or (
            citation.end - citation.start != len(citation.quote)
        ):
            _fail(f"{label}: span {citation.start}-{citation.end} does not hold the quote "
                  f"{_short(citation.quote)!r} (it holds "
                  f"{_short(passage.text[offset : citation.end - passage.start])!r})", answer)


def assert_cites_article(answer: Answer, article_id: str) -> None:
    """At least one citation is of the article `article_id`.

        assert_cites_article(answer, "eaa377af9f908790")
    """
    cited = list(dict.fromkeys(c.article_id for c in answer.citations))
    if article_id not in cited:
        _fail(f"expected a citation of article {article_id!r}, but the answer cites "
              + (", ".join(repr(a) for a in cited) if cited else "nothing"), answer)
