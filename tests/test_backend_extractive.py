"""The extractive backend: it answers with passage sentences, ranked by the real embedder."""

from __future__ import annotations

import pytest

from qa.backends.base import GenerationRequest, Passage
from qa.backends.extractive import ExtractiveBackend
from qa.embed import SentenceTransformerEmbedder
from qa.settings import Settings

QUIZ = (
    "Which company is being accused of turning off the air conditioning in its stores to save money? "
    "Shoppers and staff say Dollar General turned off the air conditioning in its stores as sales fell. "
    "The chain said its stores follow local guidance."
)


@pytest.fixture
def backend(settings: Settings, embedder: SentenceTransformerEmbedder) -> ExtractiveBackend:
    return ExtractiveBackend(settings)


def _request(question: str, *texts: str) -> GenerationRequest:
    passages = [Passage(number=i, article_id=f"a{i}", chunk_id=i, title="News quiz", text=text,
                        start=0, end=len(text)) for i, text in enumerate(texts, start=1)]
    return GenerationRequest(messages=[], question=question, passages=passages)


def test_a_sentence_that_asks_the_question_is_never_the_answer(backend: ExtractiveBackend) -> None:
    # News quizzes print the question beside its answer; quoting it back scored as most relevant
    question = "Which company is accused of turning off the AC in its stores to save money?"
    answer = backend.complete(_request(question, QUIZ))
    assert "Dollar General" in answer and "?" not in answer and answer.endswith("[1].")

