"""What a question's wording says its answer must look like (qa/question_shape.py)."""

from __future__ import annotations

import pytest

from qa.question_shape import (
    asks_percentage,
    asks_place_other_than,
    defined_name,
    period_days,
    role_holder,
    states_percentage,
)


def test_a_question_that_only_names_its_subject_is_a_definition() -> None:
    assert defined_name("Who is Wellington Koo?") == "Wellington Koo"
    assert defined_name("What was Operation Overlord?") == "Operation Overlord"
    assert defined_name("Who is Taiwan's Defence Minister?") is None  # a role, not a name
    assert defined_name("Who won the 2022 World Cup?") is None


@pytest.mark.parametrize(("question", "asks"), [
    ("What percentage rise in military spending did China announce?", True),
    ("By what percent did UK inflation fall in March?", True),
    ("What % of voters said no?", True),
    ("How much of Victoria's land is farmed, in per cent?", True),
    ("Which country's defence budget rose 7.2 percent?", False),  # states its percentage, asks a name
    ("Which party won 45% of the vote?", False),
    ("How much will Taiwan spend on defence?", False),
])
def test_a_question_asks_for_a_percentage_unless_it_states_one(question: str, asks: bool) -> None:
    assert asks_percentage(question) is asks


def test_a_sentence_states_a_percentage_as_a_number() -> None:
    assert states_percentage("China will increase its defense spending by 7.2 percent this year.")
    assert states_percentage("Prices rose 80% in eight years.") and states_percentage("up 3.5 per cent")
    assert states_percentage("a rise of 2 percentage points")
    assert states_percentage("7,000 died of plague, more than one-third of the population")  # a share too
    assert states_percentage("half of them") and states_percentage("one in five adults")
    assert not states_percentage("a third party candidate")
    assert not states_percentage("The percentage of voters is not known.")
    assert not states_percentage("China has the world's second-largest military budget, $850 billion.")


@pytest.mark.parametrize(("question", "sentence"), [
    ("Who is Taiwan's defence minister?",
     "an existing military exchange mechanism, Taiwan Defence Minister Wellington Koo told reporters"),
    ("Who is Taiwan's defence minister?", "Wellington Koo, Taiwan's defence minister, said on Wednesday."),
    ("Who is the new speaker of the US House of Representatives?", "House Speaker Mike Johnson said."),
    ("Who was the mayor of San Francisco during Super Bowl 50?", "San Francisco mayor Ed Lee said of it"),
    ("Who is the quarterback for the Carolina Panthers?", "Pro Bowl quarterback Cam Newton had his best season"),
])
def test_a_role_question_finds_the_name_beside_the_role(question: str, sentence: str) -> None:
    holder = role_holder(question)
    assert holder is not None and holder.search(sentence)


def test_a_role_is_not_another_role_that_ends_the_same() -> None:
    holder = role_holder("Who is the chair of the IPCC?")
    assert holder is not None and holder.search("IPCC Chair Hoesung Lee said")
    assert not holder.search("the IPCC was led by his vice-Chair Ismail El Gizouli")
    assert not holder.search("the IPCC was led by acting Chair Ismail El Gizouli")


def test_a_role_needs_a_name_beside_it() -> None:
    holder = role_holder("Who is Taiwan's defence minister?")
    assert holder is not None
    assert not holder.search("Taiwan's Vice Foreign Minister Francois Chichung Wu said")  # another role
    assert not holder.search("the defence minister said on Wednesday")  # no name
    assert not holder.search("Taiwan's spending on defence has increased around 80 percent")


@pytest.mark.parametrize("question", [
    "Who is Wellington Koo?",  # a name, not a role
    "Who is considering running for governor in Delaware in 2024?",  # a verb, not a role
    "Who was the star guest on the first episode of Meghan Markle's podcast?",  # more than a role
    "Who won the 2022 FIFA World Cup?",
    "What is Taiwan's defence budget?",
])
def test_other_questions_ask_for_no_role(question: str) -> None:
    assert role_holder(question) is None


@pytest.mark.parametrize(("question", "place", "other"), [
    ("North Korea test-fired a ballistic missile over which country for the first time since 2017?", "Korea", True),
    ("NASA launched from a commercial spaceport outside the US. Where did the launch occur?", "US", True),
    ("What country did Biden visit after the UK?", "UK", True),
    ("Where in the US is it illegal to pump your own gas?", "US", False),  # the US bounds the answer
    ("Which US state banned TikTok on government phones?", "US", False),
    ("Which city in Japan hosted the summit?", "Japan", False),
    ("How much will Japan increase its defense spending?", "Japan", False),  # asks for no place
    ("Who won the race in France where it rained?", "France", False),
])
def test_a_place_question_may_ask_for_another_place_than_it_names(question: str, place: str, other: bool) -> None:
    assert asks_place_other_than(question, place) is other


@pytest.mark.parametrize(("question", "days"), [
    ("Which country was shaken by a 7.0-magnitude earthquake this week?", 7),
    ("This week, who became the new prime minister of the United Kingdom?", 7),
    ("What did the Pope say this past weekend?", 7),
    ("Which film topped the box office last weekend?", 7),
    ("Which airline announced a deal last week to buy Spirit Airlines?", 14),
    ("How many migrants crossed the Channel this month?", 31),
    ("Who won the 2022 FIFA World Cup?", None),
    ("How much will Taiwan spend on defence this year?", None),
    ("What does the weekly jobs report measure?", None),
    ("Which team won the week-long tournament?", None),
])
def test_a_question_names_the_period_it_asks_about(question: str, days: int | None) -> None:
    assert period_days(question) == days
