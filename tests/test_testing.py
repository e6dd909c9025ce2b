"""qa.testing: each assertion passes on real answers from the seeded index and fails, with a
message naming the culprit, on answers altered to break it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from qa.answer import Answerer
from qa.answer_types import Answer, AskRequest
from qa.index import Index
from qa.settings import Settings
from qa.testing import (
    assert_citations_in_passages,
    assert_cited,
    assert_cites_article,
    assert_not_refused,
    assert_refused,
    assert_supported,
)
from tests.helpers import TAIWAN_ID, TRUMP_ID


@pytest.fixture(scope="module")
def answerer(seeded_dir: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Answerer]:  # noqa: ANN001
    settings = Settings.from_env({}, index_dir=seeded_dir, tiktoken_cache_dir=tmp_path_factory.mktemp("tiktoken"))
    with Index.open(settings, embedder=embedder, writable=False) as index:
        yield Answerer(index, settings)


@pytest.fixture(scope="module")
def answered(answerer: Answerer) -> Answer:
    answer = answerer.ask(AskRequest(question="By how much will China increase its defense spending this year?"))
    assert not answer.refused and "7.2 percent" in answer.answer
    return answer


@pytest.fixture(scope="module")
def refused(answerer: Answerer) -> Answer:
    answer = answerer.ask(AskRequest(question="Which team won the Super Bowl in February 2024?"))
    assert answer.refused
    return answer


def replace(original: Answer, **changes: object) -> Answer:
    return msgspec.structs.replace(original, **changes)


def test_refusal_assertions(answered: Answer, refused: Answer) -> None:
    assert_refused(refused)
    assert_not_refused(answered)
    with pytest.raises(AssertionError, match=r"expected a refusal, but the answer has 1 citation\(s\)"):
        assert_refused(answered)
    with pytest.raises(AssertionError, match=r"expected an answer, but it was refused \(\d+ passages were retrieved, "
                                             r"best similarity 0\.\d\d\)\n  answer to 'Which team won"):
        assert_not_refused(refused)
    with pytest.raises(AssertionError, match="no passage was retrieved"):
        assert_not_refused(replace(refused, passages=[]))


def test_assert_cited(answered: Answer, refused: Answer) -> None:
    assert_cited(answered)
    with pytest.raises(AssertionError, match="expected a cited answer, but it was refused"):
        assert_cited(refused)
    uncited = replace(answered, answer=answered.answer + " Beijing denied it.")
    with pytest.raises(AssertionError, match=r"sentence 2 has no citation marker: 'Beijing denied it\.'"):
        assert_cited(uncited)
    dangling = replace(answered, answer=answered.answer.replace("[1]", "[1][7]"))
    with pytest.raises(AssertionError,
                       match=r"sentence 1 cites \[7\], which no citation resolves \(citations: \[1\]\)"):
        assert_cited(dangling)


def test_assert_supported(answered: Answer, refused: Answer, answerer: Answerer) -> None:
    assert_supported(answered)  # the default scorer and threshold
    assert_supported(answered, scorer=answerer.scorer, threshold=answerer.settings.support_cutoff)
    made_up = replace(answered, answer="Japan will double its navy budget by 2030 [1].")
    with pytest.raises(AssertionError, match=r"sentence 1 is not supported by the passage\(s\) it cites \(\[1\]\): "
                                             r"support 0\.\d+ < 0\.\d+: 'Japan will double"):
        assert_supported(made_up, scorer=answerer.scorer)
    with pytest.raises(AssertionError, match=r"sentence 1 cites \[9\], which is not a passage of the answer"):
        assert_supported(replace(answered, answer="China raises spending [9]."), scorer=answerer.scorer)
    with pytest.raises(AssertionError, match="cites nothing"):
        assert_supported(replace(answered, answer="China raises spending."), scorer=answerer.scorer)
    with pytest.raises(AssertionError, match="refused"):
        assert_supported(refused, scorer=answerer.scorer)


def test_assert_citations_in_passages(answered: Answer) -> None:
    assert_citations_in_passages(answered)
    citation = answered.citations[0]

    def with_citation(**changes: object) -> Answer:
        return replace(answered, citations=[msgspec.structs.replace(citation, **changes)])

    with pytest.raises(AssertionError, match=r"citation \[1\] .*: the quote is not in the passage's text: 'Japan"):
        assert_citations_in_passages(with_citation(quote="Japan will double its navy budget."))
    with pytest.raises(AssertionError, match=r"citation \[1\] .*: span \d+-\d+ does not hold the quote"):
        assert_citations_in_passages(with_citation(start=citation.start + 1, end=citation.end + 1))
    with pytest.raises(AssertionError, match=r"chunk 999999 is none of the answer's passages"):
        assert_citations_in_passages(with_citation(chunk_id=999999))
    with pytest.raises(AssertionError, match=r"passage \[2\] is chunk"):
        assert_citations_in_passages(with_citation(marker=2))  # marker and chunk disagree
    with pytest.raises(AssertionError, match="is not inside the passage's span"):
        assert_citations_in_passages(with_citation(start=-5))


def test_assert_cites_article(answered: Answer, refused: Answer) -> None:
    assert_cites_article(answered, TAIWAN_ID)
    assert {c.article_id for c in answered.citations} == {TAIWAN_ID}
    with pytest.raises(AssertionError, match=rf"expected a citation of article '{TRUMP_ID}', but the answer cites "
                                             rf"'{TAIWAN_ID}'"):
        assert_cites_article(answered, TRUMP_ID)
    with pytest.raises(AssertionError, match="but the answer cites nothing"):
        assert_cites_article(refused, TAIWAN_ID)
