"""Citation markers in answer text: parse them, drop the invalid ones, check each sentence
against the passages it cites, and resolve markers to structured citations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer_types import Citation, SentenceAction, SentenceCheck
from qa.backends.base import Passage
from qa.chunk import is_abbreviation
from qa.support import SupportScorer, states_nothing, without_preamble, without_unstated_times

# One marker group: [1] or [1, 2]; adjacent groups ([1][3]) are parsed one by one.
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_CLOSING = r"[\"'”’)]"  # quotes and parentheses that may follow a sentence's final stop
# A sentence ends at . ! or ? (plus closing quotes), optionally followed by its markers, and by
# a period after them when the sentence ended inside a quote ('…“early days.” [1].').
_SENTENCE_END = re.compile(rf"[.!?]+{_CLOSING}*(?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?:(?<=\])[.!?])?(?=\s|$)")
# A period repeated after a quotation that already ended its sentence, once markers are gone.
_REPEATED_STOP = re.compile(rf"([.!?]{_CLOSING}+)[.!?]")


@dataclass
class AnswerSentence:
    """An answer sentence without markers, and the passage numbers it cites."""

    text: str
    markers: list[int]


def parse_markers(text: str) -> list[int]:
    """All passage numbers cited in `text`, in order of appearance."""
    return [int(n) for group in MARKER.findall(text) for n in re.split(r"\s*,\s*", group)]


def strip_markers(text: str) -> str:
    text = MARKER.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = _REPEATED_STOP.sub(r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def split_answer(text: str) -> list[AnswerSentence]:
    """Answer text as sentences with their markers; markers after a period belong to the
    sentence before it. The period of an abbreviation or initial ("Sen. Pat Toomey", "U.S.")
    ends no sentence unless a marker follows it, as passages are split at ingest."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if not MARKER.search(match.group()) and is_abbreviation(text, match.start()):
            continue
        piece = text[start : match.end()]
        start = match.end()
        if piece.strip():
            sentences.append(AnswerSentence(strip_markers(piece), parse_markers(piece)))
    tail = text[start:]
    if tail.strip():
        if MARKER.fullmatch(tail.strip()) and sentences:  # trailing markers after the last period
            sentences[-1].markers += parse_markers(tail)
        else:
            sentences.append(AnswerSentence(strip_markers(tail), parse_markers(tail)))
    return [s for s in sentences if s.text]


@dataclass
class CheckedAnswer:
    """The answer after the citation check."""

    text: str
    citations: list[Citation]
    checks: list[SentenceCheck]


def check_answer(
    text: str, passages: list[Passage], scorer: SupportScorer, threshold: float, *, written: bool = False
) -> CheckedAnswer:
    """Keep each sentence only with citations that support it.

    Markers pointing to no passage are removed. A sentence whose cited passages don't support it
    (score < threshold) is re-cited to the retrieved passage that supports it best, if any does;
    otherwise it is dropped.

    `written`: the answer was written by a model, not quoted. Its sentences that state nothing
    ("This is supported by passage [2].", a stray quotation mark) are dropped unscored, their
    markers given to the sentence before when it has none; a kept sentence loses its lead-in
    about the passages ("Based on the provided articles, ") and the times relative to today that
    its cited passages do not state ("this week", copied from the question).
    """
    by_number = {p.number: p for p in passages}
    kept_sentences: list[str] = []
    checks: list[SentenceCheck] = []
    spans: dict[int, tuple[int, int]] = {}
    sentences = split_answer(text)
    no_claim = [written and states_nothing(s.text) for s in sentences]
    # "Taipei allocated $19 billion. This is supported by passage [1].": [1] cites the claim
    for before, after, after_no_claim in zip(sentences, sentences[1:], no_claim[1:]):
        if after_no_claim and after.markers and not before.markers:
            before.markers = list(after.markers)
    for sentence, states_no_claim in zip(sentences, no_claim):
        cited = list(dict.fromkeys(sentence.markers))
        if states_no_claim:
            checks.append(SentenceCheck(sentence=sentence.text, cited=cited, supported_by=[], support=0.0,
                                        action="dropped"))
            continue
        valid = [n for n in cited if n in by_number]
        if written:
            evidence = "\n".join(by_number[n].text for n in valid) or "\n".join(p.text for p in passages)
            sentence = AnswerSentence(without_unstated_times(without_preamble(sentence.text), evidence),
                                      sentence.markers)
        supported: dict[int, tuple[float, tuple[int, int]]] = {}
        best_seen = 0.0  # a dropped sentence reports how close it came
        for number in valid:
            score, span = scorer.best_support(sentence.text, by_number[number].text)
            best_seen = max(best_seen, score)
            if score >= threshold:
                supported[number] = (score, span)
        action: SentenceAction = "kept"
        if not supported:
            candidates = {
                p.number: scorer.best_support(sentence.text, p.text) for p in passages if p.number not in valid
            }
            best = max(candidates.items(), key=lambda item: item[1][0], default=None)
            if best is not None and best[1][0] >= threshold:
                supported = {best[0]: best[1]}
                action = "recited"
            else:
                action = "dropped"
                best_seen = max(best_seen, best[1][0] if best is not None else 0.0)
        checks.append(
            SentenceCheck(
                sentence=sentence.text,
                cited=cited,
                supported_by=sorted(supported),
                support=max((s for s, _ in supported.values()), default=best_seen),
                action=action,
            )
        )
        if action == "dropped":
            continue
        kept_sentences.append(_with_markers(sentence.text, sorted(supported)))
        for number, (_, (start, end)) in supported.items():
            previous = spans.get(number)
            spans[number] = (start, end) if previous is None else (min(previous[0], start), max(previous[1], end))
    citations = [_citation(by_number[n], span) for n, span in sorted(spans.items())]
    return CheckedAnswer(" ".join(kept_sentences), citations, checks)


def _with_markers(sentence: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    match = re.search(r"[.!?]+[\"'”’)]*$", sentence)
    if match:  # the marker goes before the final punctuation: "... 7.2 percent [1]."
        return f"{sentence[: match.start()]} {markers}{sentence[match.start():]}"
    return f"{sentence} {markers}"


def _citation(passage: Passage, span: tuple[int, int]) -> Citation:
    start, end = span
    return Citation(
        marker=passage.number,
        article_id=passage.article_id,
        chunk_id=passage.chunk_id,
        title=passage.title,
        url=passage.url,
        published=passage.published,
        source=passage.source,
        quote=passage.text[start:end],
        start=passage.start + start,
        end=passage.start + end,
    )
