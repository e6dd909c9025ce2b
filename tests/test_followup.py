"""Follow-ups made standalone without an LLM."""

from __future__ import annotations

import pytest

from qa.followup import standalone

CHINA = "How much is China's defence budget?"


@pytest.mark.parametrize(("follow_up", "expected"), [
    ("and Taiwan's?", "How much is Taiwan's defence budget?"),
    ("what about Japan?", "How much is Japan's defence budget?"),
    ("How about the United States?", "How much is the United States' defence budget?"),
    ("And for India", "How much is India's defence budget?"),
    ("and in 2023?", "How much is China's defence budget in 2023?"),
])
def test_an_elliptical_follow_up_swaps_the_subject(follow_up: str, expected: str) -> None:
    assert standalone(follow_up, CHINA) == expected


def test_a_year_replaces_the_year_asked_about() -> None:
    assert standalone("what about 2023?", "How much did Taipei allocate for defence in 2024?") == (
        "How much did Taipei allocate for defence in 2023?")


@pytest.mark.parametrize(("follow_up", "previous", "expected"), [
    ("When did he take office?", "Who is Taiwan's defence minister?",
     "When did Taiwan's defence minister take office?"),
    ("What did he say about Ukraine?", "What did Andy Hunter say about the cloud?",
     "What did Andy Hunter say about Ukraine?"),
    ("What is its population?", "Where is Taipei?", "What is Taipei's population?"),
])
def test_a_pronoun_is_replaced_by_what_it_points_back_to(follow_up: str, previous: str, expected: str) -> None:
    assert standalone(follow_up, previous) == expected


@pytest.mark.parametrize("question", [
    "Who heads the American Chamber of Commerce in Ukraine?",
    "And who won the election?",  # a question of its own after "and"
    "Is it true that Japan raised its defence budget?",  # "it" and "its" belong to the question
])
def test_a_question_that_stands_alone_is_left_alone(question: str) -> None:
    assert standalone(question, CHINA) == question


def test_a_person_pronoun_never_points_back_to_a_country() -> None:
    # the previous question names no person: "he" is someone the reader has in mind, not China
    assert standalone("What did he say?", CHINA) == "What did he say?"
    assert standalone("Who leads it?", CHINA) == "Who leads China?"


def test_without_a_previous_question_nothing_changes() -> None:
    assert standalone("and Taiwan's?", None) == "and Taiwan's?"
