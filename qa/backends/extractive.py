"""The extractive backend: no LLM. It answers with the retrieved sentences the trained answer
model (`qa.answer_model`) finds most likely to answer the question, each cited, or refuses when
no sentence is likely enough."""

from __future__ import annotations

from collections.abc import Iterator

from qa.answer_model import AnswerModel, get_answer_model
from qa.backends.base import GenerationRequest
from qa.chunk import CLOSERS
from qa.settings import Settings

REFUSAL = "I don't know based on the provided articles."
MAX_SENTENCES = 2
MIN_SENTENCE_CHARS = 12


class ExtractiveBackend:
    """Selects and cites passage sentences; the embedded default (works with no model server)."""

    name = "extractive"
    uses_llm = False

    def __init__(self, settings: Settings, model: AnswerModel | None = None) -> None:
        self.model = model or get_answer_model(str(settings.answer_model_dir or ""), settings.answer_model_threads)
        self.threshold = settings.answer_threshold
        self.second_threshold = settings.answer_second_threshold
        self.max_passages = settings.answer_passages

    def rank_sentences(self, request: GenerationRequest) -> list[tuple[float, int, str]]:
        """(probability it answers, passage number, sentence) for the sentences of the first
        `answer_passages` passages, best first."""
        passages = request.passages[: self.max_passages]
        scores = self.model.score(request.question, [p.text for p in passages])
        ranked, seen = [], set()
        for score in scores:
            passage = passages[score.passage]
            text = passage.text[score.span[0]:score.span[1]]
            # overlapping chunks repeat sentences: cite the first (best-ranked) passage only;
            # a question answers nothing, however close it is to the one asked
            if len(text) < MIN_SENTENCE_CHARS or _is_question(text) or (passage.article_id, text) in seen:
                continue
            seen.add((passage.article_id, text))
            ranked.append((score.probability, passage.number, text))
        return sorted(ranked, key=lambda item: -item[0])

    def complete(self, request: GenerationRequest) -> str:
        ranked = self.rank_sentences(request)
        if not ranked or ranked[0][0] < self.threshold:
            return REFUSAL
        chosen = [ranked[0]] + [item for item in ranked[1:MAX_SENTENCES] if item[0] >= self.second_threshold]
        return " ".join(f"{_unterminated(text)} [{number}]." for _, number, text in chosen)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        text = self.complete(request)
        for i, piece in enumerate(text.split(" ")):
            yield piece if i == 0 else " " + piece


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().rstrip(CLOSERS).endswith("?")


def _unterminated(sentence: str) -> str:
    return sentence.rstrip().rstrip(".")
