"""Retrieval, answer and latency metrics: pure functions of ids, texts and timings."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from qa.citations import strip_markers

NDCG_K = 10



# --- retrieval metrics -------------------------------------------------------------------------


def _dedupe(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """1.0 if any gold article is among the top `k` retrieved ids, else 0.0.

    `retrieved_ids` holds the article id of each retrieved passage, best first (repeats allowed:
    `k` counts passages, as the answerer reads `k` passages)."""
    gold = set(gold_ids)
    return 1.0 if gold and any(i in gold for i in list(retrieved_ids)[:k]) else 0.0


def answer_recall_at_k(passage_texts: Sequence[str], answers: Iterable[str], k: int) -> float:
    """1.0 if one of the top `k` passages contains a gold answer (SQuAD-normalized), else 0.0."""
    answers = list(answers)
    return 1.0 if any(contains_gold(text, answers) for text in list(passage_texts)[:k]) else 0.0


def reciprocal_rank(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int | None = None) -> float:
    """1 / the rank of the first retrieved passage from a gold article (0.0 if none in the top k)."""
    gold = set(gold_ids)
    ranked = list(retrieved_ids) if k is None else list(retrieved_ids)[:k]
    for rank, article_id in enumerate(ranked, start=1):
        if article_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved_ids: Sequence[str], gold_ids: Iterable[str], k: int = NDCG_K) -> float:
    """nDCG@k with binary relevance over the article ranking (repeated article ids removed,
    keeping the first): DCG = sum of 1/log2(rank + 1) over gold articles in the top k, divided
    by the DCG of the ideal ranking (all gold articles first)."""
    gold = set(gold_ids)
    if not gold:
        return 0.0
    ranked = _dedupe(retrieved_ids)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, i in enumerate(ranked, start=1) if i in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# --- answer metrics ----------------------------------------------------------------------------


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_DASHES = re.compile(r"[-‐‑‒–—]")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, remove punctuation (ASCII and Unicode, e.g. curly quotes),
    remove the articles a/an/the, collapse whitespace. One step more: a possessive 's goes first,
    so that "Japan’s Sakurajima volcano" contains the answer "Japan" (SQuAD's "japans" did not)."""
    text = _POSSESSIVE.sub("", text.lower())
    text = "".join(c for c in text if not _is_punctuation(c))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_gold(answer: str, golds: Iterable[str]) -> bool:
    """Whether a normalized gold answer occurs in the normalized answer (markers stripped), on word
    boundaries: "us" is not found in "business". Read both with their dashes joining words (SQuAD's
    normalization: "F-35" is "f35") and with dashes between words: "The London-based Financial Times"
    contains "London" (SQuAD's "londonbased" did not)."""
    text = strip_markers(answer)
    readings = {f" {normalize_answer(text)} ", f" {normalize_answer(_DASHES.sub(' ', text))} "}
    for gold in golds:
        targets = {normalize_answer(gold), normalize_answer(_DASHES.sub(" ", gold))} - {""}
        if any(f" {target} " in reading for target in targets for reading in readings):
            return True
    return False


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """SQuAD token F1 of the prediction (citation markers stripped) against the best gold."""
    predicted = normalize_answer(strip_markers(prediction)).split()
    best = 0.0
    for gold in golds:
        expected = normalize_answer(gold).split()
        common = Counter(predicted) & Counter(expected)
        overlap = sum(common.values())
        if not predicted or not expected or overlap == 0:
            continue
        precision, recall = overlap / len(predicted), overlap / len(expected)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


# --- latency -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation, as numpy)."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else 0.0


def latency_summary(timings: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50 and p95 per stage (milliseconds), stages in first-seen order; a total_ms stage is
    added (the sum of the stages) when the timings have none."""
    stages: dict[str, list[float]] = {}
    for timing in timings:
        values = dict(timing)
        if "total_ms" not in values and values:
            values["total_ms"] = sum(values.values())
        for stage, value in values.items():
            stages.setdefault(stage, []).append(float(value))
    return {
        stage: {"p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1)}
        for stage, v in stages.items()
    }
