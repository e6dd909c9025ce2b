"""The extractive backend: no LLM. It answers with the retrieved sentences that best answer the
question, each cited, or refuses when none is relevant enough. A sentence's score blends its
relevance (`qa.support.relevance_scores`: embedding cosine, shared words, names) with the trained
answer model's probability that it answers (`qa.answer_model`), weighted `answer_model_weight`; asked
who someone is ("Who is Wellington Koo?"), a sentence naming them scores at least its relevance. A
sentence that opens with a pronoun is read, and quoted, after the sentence it refers to. The question's
wording counts (`qa.question_shape`): asked who holds a role, a sentence naming them beside it answers;
asked for a percentage or a year, a sentence without one keeps `answer_type_factor` of its score.
Whether to answer at all also weighs where retrieval ranked each sentence's passage (`answer_rank_penalty`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from qa.answer_model import AnswerModel
from qa.backends.base import REFUSAL, GenerationRequest, Refusal
from qa.chunk import CLOSERS, Span, split_sentences
from qa.embed import Embedder
from qa.question_shape import answer_kind, defined_name, role_holder
from qa.settings import Settings
from qa.support import name_coverage, relevance_scores

__all__ = ["REFUSAL", "ExtractiveBackend"]
MAX_SENTENCES = 2
MIN_SENTENCE_CHARS = 12
# "It was commissioned by Odo": what the sentence is about is named in the one before it
# ("There, he explored"; not "There is", nor "This week")
_ANAPHOR = re.compile(r"^\W*(?:(?:It|Its|He|His|Him|She|Her|They|Their|Them|These|Those)\b|There,|This\b(?!\s+"
                      r"(?:week|weekend|month|year|morning|afternoon|evening|spring|summer|autumn|fall|winter|season)\b))")


class ExtractiveBackend:
    """Selects and cites passage sentences; the embedded default (works with no model server)."""

    name = "extractive"
    uses_llm = False

    def __init__(self, settings: Settings, embedder: Embedder, model: AnswerModel | None = None) -> None:
        """`model` is used when `settings.answer_model_weight` > 0 (the caller loads it)."""
        self.weight = settings.answer_model_weight
        self.model = model if self.weight > 0 else None
        self.embedder = embedder
        self.threshold = settings.answer_threshold
        self.absent_credit = settings.absent_name_credit
        self.rank_penalty = settings.answer_rank_penalty
        self.second_ratio = settings.answer_second_ratio
        self.type_factor = settings.answer_type_factor
        self.max_passages = settings.answer_passages

    def rank_sentences(self, request: GenerationRequest) -> list[tuple[float, int, str]]:
        """(score, passage number, sentence) for the sentences of the first `answer_passages`
        passages, best first."""
        passages = request.passages[: self.max_passages]
        candidates, seen = [], set()
        read_as: list[str] = []  # what relevance reads: "It was commissioned by Odo" after its antecedent
        for i, passage in enumerate(passages):
            for (start, end), antecedent in _sentences(passage.text):
                text = passage.text[start:end]
                # overlapping chunks repeat sentences: cite the first (best-ranked) passage only
                if not _quotable(text) or (passage.article_id, text) in seen:
                    continue
                seen.add((passage.article_id, text))
                candidates.append((i, (start, end), text))
                read_as.append(f"{antecedent} {text}" if antecedent else text)
        if not candidates:
            return []
        relevance = relevance_scores(self.embedder, request.question, read_as,
                                     [f"{passages[i].title}\n{passages[i].text}" for i, _, _ in candidates],
                                     absent_credit=self.absent_credit)
        probability = dict.fromkeys(((i, span) for i, span, _ in candidates), 0.0)
        if self.model is not None:
            for score in self.model.score(request.question, [p.text for p in passages]):
                probability[(score.passage, score.span)] = score.probability
        # relevance is already scaled down when the passage misses the names the question asks about;
        # so is the model's probability: "How much will Japan spend?" is not answered about Taiwan.
        # A missing name costs less when the passage names no other place (absent_credit).
        coverage = [name_coverage(request.question, f"{p.title}\n{p.text}", absent_credit=self.absent_credit)
                    for p in passages]
        # The answer model learned factoid questions; asked who someone is, it scores the sentence that
        # names them low ("Taiwan Defence Minister Wellington Koo told reporters": 0.03). What the
        # articles say about the name is the answer, so there relevance alone may carry a sentence.
        named = defined_name(request.question)
        names_it = re.compile(rf"(?<!\w){re.escape(named)}(?!\w)") if named else None
        # Asked who holds a role, a sentence naming them beside it ("Taiwan Defence Minister Wellington
        # Koo told reporters") answers in so many words, however low the model scores it (0.11), as long
        # as its passage names whose role it is ("Who is the president of TUMAS?")
        holder = role_holder(request.question)
        kind = answer_kind(request.question)
        ranked = []
        for (i, span, text), rel in zip(candidates, relevance):
            answers = probability[(i, span)]
            if holder is not None and coverage[i] == 1.0 and holder.search(text):
                answers = 1.0
            blended = (1 - self.weight) * rel + self.weight * answers * coverage[i]
            if names_it and names_it.search(text):
                blended = max(blended, rel)
            if kind is not None and not kind(text):
                blended *= self.type_factor
            ranked.append((round(blended, 4), passages[i].number, text))
        return sorted(ranked, key=lambda item: -item[0])

    def confidence(self, request: GenerationRequest, ranked: list[tuple[float, int, str]]) -> float:
        """How sure the backend is that the passages answer (it refuses under `answer_threshold`): the
        best score of `ranked`, each sentence counted `answer_rank_penalty` less per place its passage
        ranks below the first. With the gold article left out, the best sentence of a RealTime QA dev
        question comes from a lower passage more often. The best sentence is quoted either way."""
        position = {p.number: i for i, p in enumerate(request.passages)}
        return max((score - self.rank_penalty * position[number] for score, number, _ in ranked), default=0.0)

    def complete(self, request: GenerationRequest) -> str:
        ranked = self.rank_sentences(request)
        if not ranked or self.confidence(request, ranked) < self.threshold:
            return Refusal(REFUSAL)
        floor = max(self.threshold, self.second_ratio * ranked[0][0])
        chosen = [ranked[0]] + [item for item in ranked[1:MAX_SENTENCES] if item[0] >= floor]
        # "He set the NFL's record ..." says who only with the sentence before it, quoted first
        texts = {p.number: p.text for p in request.passages}
        quoted: list[tuple[int, str]] = []
        for _, number, text in chosen:
            for sentence in (_antecedent(texts[number], text), text):
                if sentence and (number, sentence) not in quoted:
                    quoted.append((number, sentence))
        return " ".join(f"{_unterminated(text)} [{number}]." for number, text in quoted)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        text = self.complete(request)
        piece_type = type(text)  # a refusal's pieces are each a Refusal
        for i, piece in enumerate(text.split(" ")):
            yield piece_type(piece if i == 0 else " " + piece)


def _sentences(text: str) -> Iterator[tuple[Span, str | None]]:
    """Each sentence's span in `text`, with the sentence before it when it opens with a pronoun
    ("It", "His", "There"...) that the sentence before names (a quiz's question names nothing)."""
    previous = None
    for start, end in split_sentences(text):
        sentence = text[start:end]
        yield (start, end), previous if previous and _ANAPHOR.match(sentence) else None
        previous = sentence if _quotable(sentence) else None


def _antecedent(text: str, sentence: str) -> str | None:
    """The sentence of `text` that `sentence` (one of its sentences) refers to, if any."""
    return next((before for (start, end), before in _sentences(text) if text[start:end] == sentence), None)


def _quotable(sentence: str) -> bool:
    """Long enough to say something, and not a question: a question answers nothing, however close
    it is to the one asked (news quizzes print theirs beside the answer)."""
    return len(sentence) >= MIN_SENTENCE_CHARS and not _is_question(sentence)


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().rstrip(CLOSERS).endswith("?")


def _unterminated(sentence: str) -> str:
    return sentence.rstrip().rstrip(".")
