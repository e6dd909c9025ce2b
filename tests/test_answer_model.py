"""The shipped answer model (qa/models/answer-minilm-int8) on the real seed articles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.answer_model import AnswerModel, encode
from qa.settings import PROJECT_ROOT, Settings

SEEDS = sorted((PROJECT_ROOT / "seeds").glob("*.md"))


def _body(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---", 2)[2].strip()


def _paragraphs() -> list[str]:
    """The seeds cut into passages of a few lines, as the index holds them."""
    passages = []
    for path in SEEDS:
        lines = [line for line in _body(path).splitlines() if line.strip()]
        passages += ["\n".join(lines[i:i + 4]) for i in range(0, len(lines), 4)]
    return passages


@pytest.fixture(scope="module")
def model(answer_model: AnswerModel) -> AnswerModel:
    return answer_model


def _best(model: AnswerModel, question: str, passages: list[str]) -> tuple[float, str]:
    scores = model.score(question, passages)
    best = max(scores, key=lambda s: s.probability)
    return best.probability, passages[best.passage][best.span[0]:best.span[1]]


def test_the_model_ships_small_with_its_tokenizer_and_card() -> None:
    folder = PROJECT_ROOT / "qa" / "models" / "answer-minilm-int8"
    assert (folder / "model.onnx").stat().st_size < 30_000_000
    assert (folder / "tokenizer.json").exists()
    card = (folder / "README.md").read_text()
    assert "all-MiniLM-L6-v2" in card and "CC BY-SA 4.0" in card and "train/train_answer_model.py" in card


def test_every_sentence_maps_to_its_own_word_pieces(model: AnswerModel) -> None:
    passage = "Taipei allocated a record $19 billion for 2024. But it remains massively outgunned."
    encoded = encode(model.tokenizer, "How much did Taipei allocate?", [passage])
    assert [passage[s:e] for s, e in encoded.sentences[0]] == [
        "Taipei allocated a record $19 billion for 2024.", "But it remains massively outgunned."]
    for (start, end), (first, last) in zip(encoded.sentences[0], encoded.sentence_tokens[0]):
        pieces = model.tokenizer.decode(encoded.input_ids[0, first:last].tolist())
        assert pieces.replace(" ", "") == passage[start:end].lower().replace(" ", "")


def test_padding_in_a_batch_does_not_change_a_score(model: AnswerModel) -> None:
    short = "Taiwan Defence Minister Wellington Koo told reporters on Wednesday."
    long = _paragraphs()[0]
    alone = model.score("Who is Taiwan's defence minister?", [short])
    batched = model.score("Who is Taiwan's defence minister?", [short, long])
    assert alone[0].probability == pytest.approx(batched[0].probability, abs=0.01)


# What the shipped model gets right on the seeds, alone (in the service it shares the score with
# relevance: settings.answer_model_weight; the paraphrase gate in test_gold.py lists the misses).
@pytest.mark.parametrize(("question", "fact"), [
    ("Which newspaper reported the arms purchase?", "Financial Times"),
    ("Which warplanes is Taiwan thinking of requesting?", "F-35"),
])
def test_the_answering_sentence_scores_highest(model: AnswerModel, question: str, fact: str) -> None:
    _, sentence = _best(model, question, _paragraphs())
    assert fact in sentence


@pytest.mark.parametrize("question", [
    "What is the population of Taiwan?",
    "Who won the 2022 FIFA World Cup?",
])
def test_questions_the_seeds_do_not_answer_score_below_the_threshold(model: AnswerModel, question: str) -> None:
    probability, _ = _best(model, question, _paragraphs())
    assert probability < Settings().answer_threshold


def test_the_short_answer_lies_inside_its_sentence(model: AnswerModel) -> None:
    passage = "According to the report, Taipei was considering among other things requesting F-35 fighter jets."
    (score,) = model.score("Which warplanes is Taiwan thinking of requesting?", [passage])
    assert score.short_answer is not None
    start, end = score.short_answer
    assert score.span[0] <= start < end <= score.span[1]
    assert "F-35" in passage[start:end]


@pytest.mark.integration
def test_inference_needs_neither_torch_nor_transformers() -> None:
    code = (
        "import sys\n"
        "from qa.answer_model import load_answer_model\n"
        "print(load_answer_model().score('Who?', ['Wellington Koo spoke.'])[0].probability)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
