"""The extractive backend: no LLM. It answers with the retrieved sentences that best answer the
question, each cited, or refuses when none is relevant enough."""

from __future__ import annotations

from collections.abc import Iterator

from qa.backends.base import GenerationRequest
from qa.chunk import CLOSERS, split_sentences
from qa.embed import get_embedder
from qa.settings import Settings
from qa.support import relevance_scores

REFUSAL = "I don't know based on the provided articles."
MAX_SENTENCES = 2
SECOND_SENTENCE_RATIO = 0.9  # a second sentence must score at least this share of the best


class ExtractiveBackend:
    """Selects and cites passage sentences; the embedded default (works with no model server)."""

    name = "extractive"
    uses_llm = False

    def __init__(self, settings: Settings) -> None:
        self.embedder = get_embedder(settings)
        self.threshold = settings.refusal_threshold

    def rank_sentences(self, request: GenerationRequest) -> list[tuple[float, int, str]]:
        """(relevance, passage number, sentence) for every passage sentence, best first."""
        candidates, seen = [], set()
        for passage in request.passages:
            for start, end in split_sentences(passage.text):
                text = passage.text[start:end]
                # overlapping chunks repeat sentences: cite the first (best-ranked) passage only;
                # a question answers nothing, however close it is to the one asked
                if end - start >= 20 and (passage.article_id, text) not in seen and not _is_question(text):
                    seen.add((passage.article_id, text))
                    candidates.append((passage.number, text, f"{passage.title}\n{passage.text}"))
        if not candidates:
            return []
        scores = relevance_scores(self.embedder, request.question, [text for _, text, _ in candidates],
                                  [context for _, _, context in candidates])
        ranked = [(score, number, text) for (number, text, _), score in zip(candidates, scores)]
        return sorted(ranked, key=lambda item: -item[0])

    def complete(self, request: GenerationRequest) -> str:
        ranked = self.rank_sentences(request)
        if not ranked or ranked[0][0] < self.threshold:
            return REFUSAL
        best = ranked[0][0]
        chosen = [item for item in ranked[:MAX_SENTENCES] if item[0] >= max(self.threshold, SECOND_SENTENCE_RATIO * best)]
        return " ".join(f"{_unterminated(text)} [{number}]." for _, number, text in chosen)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        text = self.complete(request)
        for i, piece in enumerate(text.split(" ")):
            yield piece if i == 0 else " " + piece


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().rstrip(CLOSERS).endswith("?")


def _unterminated(sentence: str) -> str:
    return sentence.rstrip().rstrip(".")
