"""The extractive backend: it answers with passage sentences, chosen by the shipped answer model."""

from __future__ import annotations

import pytest

from qa.answer_model import AnswerModel
from qa.backends.base import GenerationRequest, Passage, Refusal
from qa.backends.extractive import REFUSAL, ExtractiveBackend
from qa.embed import Embedder
from qa.settings import Settings

QUIZ = (
    "Which company is being accused of turning off the air conditioning in its stores to save money? "
    "Shoppers and staff say Dollar General turned off the air conditioning in its stores as sales fell. "
    "The chain said its stores follow local guidance."
)


@pytest.fixture
def backend(settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> ExtractiveBackend:
    return ExtractiveBackend(settings, embedder, answer_model)


def _request(question: str, *texts: str) -> GenerationRequest:
    passages = [Passage(number=i, article_id=f"a{i}", chunk_id=i, title="News quiz", text=text,
                        start=0, end=len(text)) for i, text in enumerate(texts, start=1)]
    return GenerationRequest(messages=[], question=question, passages=passages)


def test_a_sentence_that_asks_the_question_is_never_the_answer(backend: ExtractiveBackend) -> None:
    # News quizzes print the question beside its answer; quoting it back scored as most relevant
    question = "Which company is accused of turning off the AC in its stores to save money?"
    answer = backend.complete(_request(question, QUIZ))
    assert "Dollar General" in answer and "?" not in answer and answer.endswith("[1].")



KOO = ("Taiwan's spending on defence has increased around 80 percent in the past eight years, the official said. "
       "Then Taiwan president Tsai Ing-wen secured an unprecedented phone call with Trump after his 2016 win. "
       "Taiwan Defence Minister Wellington Koo told reporters on Wednesday, declining to comment on specific requests.")
FT = ("The London-based Financial Times reported on Monday that Taiwan was mulling buying arms. "
      "According to the report, Taipei was considering among other things requesting F-35 fighter jets.")
WU = ("Taiwan is seeking closer security ties with the United States, Taiwan's Vice Foreign Minister "
      "Francois Chichung Wu said, quoted by Reuters.")


def test_a_question_the_passages_do_not_answer_is_refused(backend: ExtractiveBackend) -> None:
    request = _request("Who won the 2022 FIFA World Cup?", KOO, WU)
    refusal = backend.complete(request)
    assert refusal == REFUSAL and isinstance(refusal, Refusal)
    pieces = list(backend.stream(request))
    assert "".join(pieces) == REFUSAL and all(isinstance(piece, Refusal) for piece in pieces)


# the seed article's own lines (seeds/001_d9ca4110e3c13ed8.md)
ARMS = ("Taipei allocated a record $19 billion for 2024 and next year's budget is set to hit a new high. "
        "But it remains massively outgunned compared with China's troop numbers and firepower. "
        "According to the report, Taipei was considering among other things requesting F-35 fighter jets. "
        "\"Relevant needs that align with our operational requirements will be proposed through\" an existing "
        "military exchange mechanism with the United States, Taiwan Defence Minister Wellington Koo told "
        "reporters on Wednesday, declining to comment on specific requests.")


def test_who_someone_is_is_answered_by_what_the_passages_say_about_the_name(backend: ExtractiveBackend) -> None:
    # the answer model scores the sentence naming him under 0.1: by it alone the question was refused
    assert max(s.probability for s in backend.model.score("Who is Wellington Koo?", [ARMS])) < 0.1
    answer = backend.complete(_request("Who is Wellington Koo?", ARMS, WU))
    assert "Taiwan Defence Minister Wellington Koo told reporters" in answer and answer.endswith("[1].")
    # a name no passage mentions is still refused; a role is not a name
    assert backend.complete(_request("Who is Elon Musk?", ARMS, WU)) == REFUSAL
    assert "Wellington Koo" not in backend.complete(_request("Who is Taiwan's Vice Foreign Minister?", ARMS, WU))


def test_sentences_are_ranked_best_first(backend: ExtractiveBackend) -> None:
    ranked = backend.rank_sentences(_request("Who is Taiwan's defence minister?", KOO, WU))
    assert [p for p, _, _ in ranked] == sorted((p for p, _, _ in ranked), reverse=True)
    assert all(0.0 <= p <= 1.0 for p, _, _ in ranked) and len(ranked) == 4


def test_with_full_weight_a_sentence_scores_the_answer_models_probability(
        settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> None:
    backend = ExtractiveBackend(settings.replace(answer_model_weight=1.0), embedder, answer_model)
    request = _request("Which warplanes is Taiwan thinking of requesting?", FT)
    ranked = backend.rank_sentences(request)
    probabilities = {FT[s.span[0]:s.span[1]]: s.probability for s in backend.model.score(request.question, [FT])}
    assert {text: p for p, _, text in ranked} == probabilities
    assert "F-35" in ranked[0][2]


def test_only_the_first_passages_are_scored(settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> None:
    backend = ExtractiveBackend(settings.replace(answer_passages=1), embedder, answer_model)
    ranked = backend.rank_sentences(_request("Who is Taiwan's Vice Foreign Minister?", KOO, WU))
    assert {number for _, number, _ in ranked} == {1}  # the answer is in passage 2, which is not read


WALMART = ("Walmart is cutting prices and marking down products because the company has too many items "
           "sitting on store shelves.")


def test_an_extract_that_leaves_out_a_name_the_reader_knows_is_answered(
    settings: Settings, embedder: Embedder, answer_model: AnswerModel,
) -> None:
    # "US" is not in the extract; it names no other place either, so the answer stands
    question = "Which major US retailer announced this week it is slashing prices on clothing and other products?"
    answer = ExtractiveBackend(settings, embedder, answer_model).complete(_request(question, WALMART))
    assert answer.startswith("Walmart is cutting prices") and answer.endswith("[1].")
    # without the credit, the missing name alone refused it (RealTime QA dev 20220729_0)
    strict = ExtractiveBackend(settings.replace(absent_name_credit=0.0), embedder, answer_model)
    assert strict.complete(_request(question, WALMART)) == REFUSAL


def test_a_passage_about_another_place_does_not_answer(backend: ExtractiveBackend) -> None:
    assert backend.complete(_request("How much will Japan increase its defense spending?", KOO)) == REFUSAL


# SQuAD v1.1 dev, "Super Bowl 50": the train half of train/train_answer_model.py's split by article
MANNING = ("Peyton Manning became the first quarterback ever to lead two different teams to multiple Super Bowls. "
           "He is also the oldest quarterback ever to play in a Super Bowl at age 39.")
ELWAY = ("The past record was held by John Elway, who led the Broncos to victory in Super Bowl XXXIII at age 38 and "
         "is currently Denver's Executive Vice President of Football Operations and General Manager.")


def test_a_sentence_that_opens_with_a_pronoun_is_quoted_after_the_one_it_refers_to(backend: ExtractiveBackend) -> None:
    request = _request("Who is the oldest quarterback to play in a Super Bowl?", MANNING, ELWAY)
    assert backend.rank_sentences(request)[0][2].startswith("He is also the oldest")
    # "He is also the oldest quarterback" alone does not say who
    assert backend.complete(request) == (
        "Peyton Manning became the first quarterback ever to lead two different teams to multiple Super Bowls [1]. "
        "He is also the oldest quarterback ever to play in a Super Bowl at age 39 [1].")
    # a sentence that names what it is about stands alone
    assert backend.complete(_request("Who held the record before?", ELWAY)) == f"{ELWAY[:-1]} [1]."



def test_an_answer_only_the_last_passage_holds_must_read_better_to_be_given(
        settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> None:
    question = "Which major US retailer announced this week it is slashing prices on clothing and other products?"
    unrelated = (KOO, WU, ELWAY, MANNING)
    first, fifth = _request(question, WALMART, *unrelated), _request(question, *unrelated, WALMART)
    backend = ExtractiveBackend(settings, embedder, answer_model)
    best = backend.confidence(first, backend.rank_sentences(first))
    last = backend.confidence(fifth, backend.rank_sentences(fifth))
    assert last == pytest.approx(best - 4 * settings.answer_rank_penalty)
    # a threshold between the two (0.51 and 0.31 with the stage 5 answer model): ranked first the
    # sentence is given; ranked fifth by retrieval, the same sentence no longer clears it
    between = settings.replace(answer_threshold=(best + last) / 2)
    backend = ExtractiveBackend(between, embedder, answer_model)
    assert backend.complete(first).startswith("Walmart is cutting prices")
    assert backend.complete(fifth) == REFUSAL
    unranked = ExtractiveBackend(between.replace(answer_rank_penalty=0.0), embedder, answer_model)
    answer = unranked.complete(fifth)
    assert answer.startswith("Walmart is cutting prices") and answer.endswith("[5].")


def test_a_quizs_question_is_never_quoted_as_what_a_pronoun_refers_to(backend: ExtractiveBackend) -> None:
    quiz = "Which quarterback is the oldest ever to play in a Super Bowl? " + MANNING.split(". ")[1]
    answer = backend.complete(_request("Who is the oldest quarterback to play in a Super Bowl?", quiz))
    assert answer == "He is also the oldest quarterback ever to play in a Super Bowl at age 39 [1]."


def test_with_no_threshold_passages_without_a_sentence_are_still_refused(
        settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> None:
    backend = ExtractiveBackend(settings.replace(answer_threshold=0.0), embedder, answer_model)
    assert backend.complete(_request("Who won?", "Too short.")) == REFUSAL


def test_asked_who_holds_a_role_the_sentence_naming_them_beside_it_answers(backend: ExtractiveBackend) -> None:
    # the answer model scores "... Taiwan Defence Minister Wellington Koo told reporters" about 0.1
    question = "Who is Taiwan's defence minister?"
    koo = [s.probability for s in backend.model.score(question, [ARMS]) if "Koo" in ARMS[s.span[0]:s.span[1]]]
    assert koo and koo[0] < 0.2
    answer = backend.complete(_request(question, ARMS))
    assert answer.startswith('"Relevant needs') and "Taiwan Defence Minister Wellington Koo told reporters" in answer
    # a passage that does not name whose minister is asked about does not answer by the rule
    assert "Wellington Koo" not in backend.complete(_request("Who is Japan's defence minister?", ARMS))


CHINA = ("China has the world's second-largest military budget after the United States, with a proposed "
         "military budget for 2025 of $850 billion. China will increase its defense spending by 7.2 percent "
         "this year, maintaining a steady growth rate as Beijing faces sluggish economic expansion.")


def test_asked_for_a_percentage_a_sentence_without_one_scores_less(
        settings: Settings, embedder: Embedder, answer_model: AnswerModel) -> None:
    question = "What percentage rise in military spending did China announce?"
    answer = ExtractiveBackend(settings, embedder, answer_model).complete(_request(question, CHINA))
    assert answer.startswith("China will increase its defense spending by 7.2 percent")
    off = ExtractiveBackend(settings.replace(answer_type_factor=1.0), embedder, answer_model)
    assert off.complete(_request(question, CHINA)).startswith("China has the world's second-largest")
