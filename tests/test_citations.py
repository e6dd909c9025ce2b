"""Citation parsing, invalid markers, and the support check (keep, re-cite, drop)."""

from __future__ import annotations

import pytest

from qa.backends.base import Passage
from qa.citations import check_answer, parse_markers, split_answer, strip_markers
from qa.embed import SentenceTransformerEmbedder
from qa.support import LexicalSemanticScorer, lexical_recall

ARTICLE = (
    "China will increase its defense spending by 7.2 percent this year, maintaining a steady growth rate. "
    "Xi aims to complete a full military modernization by 2035."
)
OTHER = "Taipei allocated a record $19 billion for 2024. Its budget for next year is set to hit a new high."


def passages() -> list[Passage]:
    return [
        Passage(number=1, article_id="china", chunk_id=10, title="China budget", text=ARTICLE, start=100,
                end=100 + len(ARTICLE), published="2025-03-05", url="https://example.com/china"),
        Passage(number=2, article_id="taiwan", chunk_id=20, title="Taiwan budget", text=OTHER, start=0,
                end=len(OTHER)),
        Passage(number=3, article_id="x", chunk_id=30, title="Weather", text="It rained in Oslo on Monday.",
                start=0, end=28),
        Passage(number=4, article_id="y", chunk_id=40, title="Sport", text="The match ended in a draw.",
                start=0, end=26),
    ]


@pytest.fixture(scope="module")
def scorer(embedder: SentenceTransformerEmbedder) -> LexicalSemanticScorer:
    return LexicalSemanticScorer(embedder)


def test_parse_marker_forms() -> None:
    assert parse_markers("A [1]. B [1, 2]. C [1][3].") == [1, 1, 2, 1, 3]
    assert strip_markers("Spending rose 7.2 percent [1][2].") == "Spending rose 7.2 percent."


def test_split_answer_attaches_markers_after_the_period() -> None:
    sentences = split_answer("China raises spending. [1] Taipei spent $19 billion [2]. Xi wants 2035 [1, 3]")
    assert [(s.text, s.markers) for s in sentences] == [
        ("China raises spending.", [1]),
        ("Taipei spent $19 billion.", [2]),
        ("Xi wants 2035", [1, 3]),
    ]



def test_split_answer_reads_a_marker_after_a_closing_quote() -> None:
    # Read as a sentence citing nothing plus a "." citing [1], so the sentence went through the
    # slow re-citation against every passage (up to 2.5 s per answer in the RealTime QA eval)
    sentences = split_answer('Netflix says the option is in its “early days.” [1]. He said “no!” [2]')
    assert [(s.text, s.markers) for s in sentences] == [
        ("Netflix says the option is in its “early days.”", [1]),
        ("He said “no!”", [2]),
    ]


def test_split_answer_keeps_abbreviations_inside_their_sentence() -> None:
    # Split at "Lt." and "Sen.", the pieces were checked (and cited) one by one:
    # "Democratic Lt [1]. John Fetterman vie to replace retiring GOP Sen [1]. Pat Toomey [1]."
    text = ("Mehmet Oz and Democratic Lt. John Fetterman vie to replace retiring GOP Sen. Pat Toomey [1]. "
            "Warner Bros. Discovery shelved Batgirl, U.S. media said [2].")
    assert [(s.text, s.markers) for s in split_answer(text)] == [
        ("Mehmet Oz and Democratic Lt. John Fetterman vie to replace retiring GOP Sen. Pat Toomey.", [1]),
        ("Warner Bros. Discovery shelved Batgirl, U.S. media said.", [2]),
    ]


def test_supported_sentence_is_kept_with_a_quote_span(scorer: LexicalSemanticScorer) -> None:
    checked = check_answer("China will raise defense spending by 7.2 percent this year [1].", passages(), scorer, 0.5)
    assert checked.checks[0].action == "kept"
    [citation] = checked.citations
    assert citation.marker == 1 and citation.article_id == "china" and citation.chunk_id == 10
    assert "7.2 percent" in citation.quote and "2035" not in citation.quote
    assert ARTICLE[citation.start - 100 : citation.end - 100] == citation.quote
    assert checked.text == "China will raise defense spending by 7.2 percent this year [1]."


def test_marker_to_no_passage_is_removed(scorer: LexicalSemanticScorer) -> None:
    # The model cites [7] when only four passages exist.
    checked = check_answer("Taipei allocated $19 billion for 2024 [2][7].", passages(), scorer, 0.5)
    assert "[7]" not in checked.text and [c.marker for c in checked.citations] == [2]
    assert checked.checks[0].cited == [2, 7] and checked.checks[0].supported_by == [2]


def test_miscited_sentence_is_recited(scorer: LexicalSemanticScorer) -> None:
    checked = check_answer("Taipei allocated a record $19 billion for 2024 [3].", passages(), scorer, 0.5)
    assert checked.checks[0].action == "recited"
    assert checked.text.endswith("[2].") and [c.article_id for c in checked.citations] == ["taiwan"]


def test_unsupported_sentence_is_dropped(scorer: LexicalSemanticScorer) -> None:
    answer = ("China will increase defense spending by 7.2 percent [1]. "
              "China will also send astronauts to Mars in 2027 [1].")
    checked = check_answer(answer, passages(), scorer, 0.5)
    assert [c.action for c in checked.checks] == ["kept", "dropped"]
    assert "Mars" not in checked.text
    # a dropped sentence reports the best support it found, below the threshold: how close it came
    assert 0.0 < checked.checks[1].support < 0.5


def test_a_written_answer_loses_its_sentences_about_the_passages(scorer: LexicalSemanticScorer) -> None:
    answer = ("This is based on the passage from China budget, which states that China will increase its "
              "defense spending by 7.2 percent this year [1]. This is supported by passage [1]. \" [1].")
    checked = check_answer(answer, passages(), scorer, 0.5, written=True)
    assert [c.action for c in checked.checks] == ["kept", "dropped", "dropped"]
    assert checked.text == "China will increase its defense spending by 7.2 percent this year [1]."
    assert checked.checks[1].support == 0.0 and checked.checks[1].supported_by == []
    # the local LLM cites its claim in the sentence after it
    checked = check_answer("Taipei allocated a record $19 billion for 2024. This is supported by passage [2].",
                           passages(), scorer, 0.5, written=True)
    assert [(c.cited, c.action) for c in checked.checks] == [([2], "kept"), ([2], "dropped")]
    assert checked.text == "Taipei allocated a record $19 billion for 2024 [2]."
    # a quoted (extractive) answer is checked as it stands
    quoted = check_answer("This is supported by passage [1].", passages(), scorer, 0.5)
    assert quoted.checks[0].support > 0.0


def test_a_written_answer_loses_the_times_its_cited_passage_does_not_state(scorer: LexicalSemanticScorer) -> None:
    # "this week" came from the question; passage [1] says "this year", passage [3] "on Monday"
    checked = check_answer("China announced this week a 7.2 percent rise this year [1]. It rained in Oslo on "
                           "Monday [3].", passages(), scorer, 0.5, written=True)
    assert [c.sentence for c in checked.checks] == ["China announced a 7.2 percent rise this year.",
                                                    "It rained in Oslo on Monday."]
    assert checked.text == "China announced a 7.2 percent rise this year [1]. It rained in Oslo on Monday [3]."
    # what the model quoted is its own
    quoted = check_answer("China announced this week a 7.2 percent rise [1].", passages(), scorer, 0.0)
    assert quoted.checks[0].sentence == "China announced this week a 7.2 percent rise."


def test_altered_number_is_not_supported(scorer: LexicalSemanticScorer) -> None:
    right, wrong = scorer.scores("China will increase defense spending by 7.2 percent.", [ARTICLE]), scorer.scores(
        "China will increase defense spending by 12 percent.", [ARTICLE])
    assert right[0] > 0.8 and wrong[0] < 0.5 < right[0]
    assert lexical_recall("Xi aims for 2035.", ARTICLE) == 1.0
