"""ALCE citation judgements with the answers' own support check, and the embedder that lets
them reuse the vectors of the check each answer went through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.answer_types import Answer
from qa.citations import split_answer
from qa.support import SupportScorer

# --- citation metrics --------------------------------------------------------------------------


def support_score(scorer: SupportScorer, claim: str, evidence: Sequence[str]) -> float:
    """How well the evidence texts together support `claim` (0.0 without evidence): the better
    of the scorer's own best-window check (what `check_answer` applies to each cited passage) on
    the concatenated texts, and its score of the whole concatenation (ALCE's premise)."""
    texts = [t for t in evidence if t.strip()]
    if not texts:
        return 0.0
    joined = "\n".join(texts)
    window, _ = scorer.best_support(claim, joined)
    return max(window, scorer.scores(claim, [joined])[0])


@dataclass
class SentenceCitations:
    """The ALCE judgement of one answer sentence."""

    sentence: str
    markers: list[int]
    supported: bool  # citation recall: the cited passages together support the sentence
    relevant: list[bool]  # citation precision: per marker, is that citation relevant

    @property
    def n_citations(self) -> int:
        return len(self.markers)


class SupportCheck:
    """`support_score >= threshold` with a cache (ALCE asks about the same evidence repeatedly)."""

    def __init__(self, scorer: SupportScorer, threshold: float) -> None:
        self.scorer = scorer
        self.threshold = threshold
        self._cache: dict[tuple[str, tuple[str, ...]], bool] = {}

    def __call__(self, claim: str, evidence: Sequence[str]) -> bool:
        key = (claim, tuple(evidence))
        if key not in self._cache:
            self._cache[key] = bool(evidence) and support_score(self.scorer, claim, evidence) >= self.threshold
        return self._cache[key]


def citation_judgements(answer: Answer, check: SupportCheck) -> list[SentenceCitations]:
    """ALCE's per-sentence judgements for an answer (marker n cites `answer.passages` number n;
    a marker pointing to no passage is an irrelevant citation)."""
    by_number = {p.number: p.text for p in answer.passages}
    judgements = []
    for sentence in split_answer(answer.answer):
        markers = list(dict.fromkeys(sentence.markers))
        texts = [by_number[n] for n in markers if n in by_number]
        # as ALCE: a sentence with no citation, or one pointing to no passage, is unsupported
        supported = bool(markers) and len(texts) == len(markers) and check(sentence.text, texts)
        relevant = []
        for n in markers:
            if not supported or n not in by_number:
                relevant.append(False)
            elif len(markers) == 1:
                relevant.append(True)
            elif check(sentence.text, [by_number[n]]):
                relevant.append(True)  # condition A: it alone supports the sentence
            else:  # condition B: without it, the rest no longer supports the sentence
                rest = [by_number[m] for m in markers if m != n and m in by_number]
                relevant.append(not check(sentence.text, rest))
        judgements.append(SentenceCitations(sentence.text, markers, supported, relevant))
    return judgements


def citation_recall(judgements: Sequence[SentenceCitations]) -> float:
    """Share of sentences supported by what they cite (a sentence without citations is not)."""
    return sum(j.supported for j in judgements) / len(judgements) if judgements else 0.0


def citation_precision(judgements: Sequence[SentenceCitations]) -> float:
    """Share of citations that are relevant."""
    total = sum(j.n_citations for j in judgements)
    return sum(sum(j.relevant) for j in judgements) / total if total else 0.0


class RecordingEmbedder:
    """Wraps an embedder to remember the vectors it computes, and to reuse them only while
    `serving` is on. Answers are produced with `serving` off (every vector computed as in
    production, so the timings are real); the citation metrics then run with it on and reuse the
    vectors of the check the answer just went through. Cleared per question."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.max_tokens = embedder.max_tokens
        self.serving = False
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not self.serving:
            vectors = self.embedder.encode(texts)
            self._vectors.update(zip(texts, vectors))
            return vectors
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.embedder.encode(missing)))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._vectors[t] for t in texts])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.embedder.count_tokens(texts)

    def clear(self) -> None:
        self._vectors.clear()
        self.serving = False
