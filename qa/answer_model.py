"""The trained answer model: which sentences of a passage answer a question, and how likely.

A MiniLM cross-encoder (fine-tuned by `train/train_answer_model.py`, shipped as int8 ONNX in
`qa/models/answer-minilm-int8/`) reads "[CLS] question [SEP] passage [SEP]" and gives every word
piece three logits: "inside an answer sentence", "answer span starts here", "ends here". A
sentence's logit is the mean of its word pieces' first logit, so every sentence is scored in its
passage's context, all in one forward pass per passage. Its sigmoid is the calibrated probability
that the sentence answers the question (trained with the other sentences of the passage and
passages of other questions as negatives), which drives sentence choice and refusals.

Run time needs only onnxruntime, tokenizers and numpy; the encoding below is also what training
uses, so the two cannot drift apart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from qa.chunk import Span, split_sentences
from qa.onnx_session import bare_tokenizer, cpu_session

MODEL_PACKAGE_DIR = "models/answer-minilm-int8"
MAX_QUESTION_TOKENS = 64
MAX_LENGTH = 256  # word pieces per (question, passage) pair at run time; chunks are <= 160
CLS_ID, SEP_ID, PAD_ID = 101, 102, 0


@dataclass(frozen=True)
class Encoded:
    """A batch of (question, passage) pairs as model inputs, with each sentence's word pieces."""

    input_ids: np.ndarray  # int64 [batch, length]
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    sentences: list[list[Span]]  # per passage: the character spans of its sentences
    sentence_tokens: list[list[tuple[int, int]]]  # per passage, per sentence: [first, last+1) token
    offsets: list[list[tuple[int, int]]]  # per passage: character span of each sequence position


@dataclass(frozen=True)
class SentenceScore:
    """How likely one sentence of a passage answers the question."""

    passage: int  # index into the passages scored
    span: Span  # characters of the sentence in the passage text
    probability: float
    short_answer: Span | None = None  # the most likely answer span inside the sentence


def encode(
    tokenizer, question: str, passages: Sequence[str], max_length: int = MAX_LENGTH
) -> Encoded:
    """Word pieces of each (question, passage) pair, with sentence-to-token maps, padded."""
    question_ids = tokenizer.encode(question, add_special_tokens=False).ids[:MAX_QUESTION_TOKENS]
    budget = max_length - len(question_ids) - 3
    prefix = [CLS_ID, *question_ids, SEP_ID]
    rows, types, all_offsets, all_sentences, all_tokens = [], [], [], [], []
    for passage, encoding in zip(passages, tokenizer.encode_batch(list(passages), add_special_tokens=False)):
        ids = encoding.ids[:budget]
        offsets = encoding.offsets[:budget]
        rows.append(prefix + ids + [SEP_ID])
        types.append([0] * len(prefix) + [1] * (len(ids) + 1))
        seq_offsets = [(0, 0)] * len(prefix) + list(offsets) + [(0, 0)]
        sentences = split_sentences(passage)
        token_ranges = []
        for start, end in sentences:
            inside = [len(prefix) + j for j, (s, e) in enumerate(offsets) if s >= start and e <= end and e > s]
            token_ranges.append((inside[0], inside[-1] + 1) if inside else (0, 0))
        all_offsets.append(seq_offsets)
        all_sentences.append(sentences)
        all_tokens.append(token_ranges)
    length = max(len(row) for row in rows)
    input_ids = np.full((len(rows), length), PAD_ID, dtype=np.int64)
    attention = np.zeros((len(rows), length), dtype=np.int64)
    token_types = np.zeros((len(rows), length), dtype=np.int64)
    for i, (row, kinds) in enumerate(zip(rows, types)):
        input_ids[i, : len(row)] = row
        attention[i, : len(row)] = 1
        token_types[i, : len(row)] = kinds
    return Encoded(input_ids, attention, token_types, all_sentences, all_tokens, all_offsets)


def sentence_logits(token_logits: np.ndarray, encoded: Encoded) -> list[list[float | None]]:
    """Each sentence's logit (mean over its word pieces); None for a sentence cut off by truncation."""
    out = []
    for i, ranges in enumerate(encoded.sentence_tokens):
        out.append([float(token_logits[i, a:b].mean()) if b > a else None for a, b in ranges])
    return out


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


class AnswerModel:
    """Scores passage sentences for "answers the question" with the shipped ONNX model."""

    def __init__(self, model_dir: Path | None = None, threads: int = 0) -> None:
        directory = Path(model_dir) if model_dir else Path(str(resources.files("qa").joinpath(MODEL_PACKAGE_DIR)))
        self.tokenizer = bare_tokenizer(directory / "tokenizer.json")
        self.session = cpu_session(directory / "model.onnx", threads)
        self.lock = threading.Lock()  # the tokenizer is shared; sessions are thread-safe

    def score(self, question: str, passages: Sequence[str]) -> list[SentenceScore]:
        """Every sentence of every passage with its probability of answering `question`,
        in passage order."""
        if not passages:
            return []
        with self.lock:
            encoded = encode(self.tokenizer, question, passages)
        logits = np.zeros((*encoded.input_ids.shape, 3), dtype=np.float32)
        # One pair per call, unpadded: padded to the longest, 5 passages took 293 ms against 214 ms
        # one by one (2 cores, 2026-12-03). The arithmetic is float, so either gives the same scores.
        for i, length in enumerate(encoded.attention_mask.sum(axis=1)):
            (logits[i : i + 1, :length],) = self.session.run(
                ["logits"],
                {
                    "input_ids": encoded.input_ids[i : i + 1, :length],
                    "attention_mask": encoded.attention_mask[i : i + 1, :length],
                    "token_type_ids": encoded.token_type_ids[i : i + 1, :length],
                },
            )
        per_sentence = sentence_logits(logits[:, :, 0], encoded)
        scores = []
        for i, (spans, ranges, logit_row) in enumerate(zip(encoded.sentences, encoded.sentence_tokens, per_sentence)):
            for span, (a, b), logit in zip(spans, ranges, logit_row):
                if logit is None:
                    continue
                scores.append(SentenceScore(i, span, round(_sigmoid(logit), 4),
                                            _short_answer(logits[i], a, b, encoded.offsets[i])))
        return scores


def _short_answer(logits: np.ndarray, first: int, last: int, offsets: list[tuple[int, int]],
                  max_tokens: int = 12) -> Span | None:
    """The best (start, end) word-piece pair inside a sentence, as characters of the passage."""
    if last <= first:
        return None
    n = last - first
    pairs = logits[first:last, 1][:, None] + logits[first:last, 2][None, :]  # [start i, end j]
    i, j = np.indices((n, n))
    pairs[(j < i) | (j >= i + max_tokens)] = -np.inf
    best_start, best_end = np.unravel_index(int(np.argmax(pairs)), pairs.shape)  # the first maximum
    return offsets[first + int(best_start)][0], offsets[first + int(best_end)][1]


def load_answer_model(model_dir: str = "", threads: int = 0) -> AnswerModel:
    """The answer model in `model_dir` (default: the shipped one); loading takes ~0.3 s, so the
    service loads it once (`qa.components`) and hands it down."""
    return AnswerModel(Path(model_dir) if model_dir else None, threads)
