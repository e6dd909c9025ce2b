"""train/train_answer_lists.py: the lists asked about another place (`--swap-copies`)."""

from __future__ import annotations

import random

from qa.places import places_in
from train.train_answer_lists import countries, make_swapped_list, swapped_question

CHINA = "China will increase its defense spending by 7.2 percent this year, Beijing said."
TAIWAN = "Taiwan's spending on defence has increased around 80 percent in the past eight years."


def row(question: str, *texts: str, answers: tuple[str, ...] = ("7.2 percent",)) -> dict:
    return {"question": question, "answers": list(answers), "source": "test",
            "passages": [{"article_id": f"a{i}", "text": text, "gold": i == 0} for i, text in enumerate(texts)]}


def test_asks_about_a_place_the_passages_name_but_no_answer_does() -> None:
    question = swapped_question(row("What percentage rise did China announce?", f"{CHINA} {TAIWAN}"),
                                random.Random(0))
    assert question == "What percentage rise did Taiwan announce?"


def test_falls_back_to_a_country_no_passage_names() -> None:
    question = swapped_question(row("What percentage rise did China announce?", CHINA), random.Random(0))
    assert question is not None and "China" not in question
    (country,) = places_in(question)
    assert country in countries() and country not in CHINA


def test_same_place_under_another_name_is_never_the_swap() -> None:
    # the passage names the United States twice, once as America: neither name is "another place"
    text = "The United States will raise tariffs by 7.2 percent, America's trade office said."
    for seed in range(20):
        question = swapped_question(row("Which rise did the US announce?", text), random.Random(seed))
        assert question is not None
        assert not places_in(question) & {"US", "United States", "America"}


def test_no_swap_when_the_answer_sentence_does_not_name_the_asked_place() -> None:
    # the question's place is named only in another sentence: the answer is not tied to it
    text = "Defence spending will rise by 7.2 percent this year. Japan welcomed the news."
    assert swapped_question(row("What rise will Japan see?", text), random.Random(0)) is None
    assert swapped_question(row("What rise was announced?", CHINA), random.Random(0)) is None


def test_a_swapped_list_has_no_answer() -> None:
    lists = make_swapped_list(row("q", CHINA, TAIWAN), "What percentage rise did Japan announce?")
    assert [example.passage for example in lists] == [CHINA, TAIWAN]
    assert all(example.answers == [] and example.question.endswith("Japan announce?") for example in lists)
