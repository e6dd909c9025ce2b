"""Split articles into sentence-aware, token-bounded, overlapping chunks with exact offsets."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qa.types import Article, Chunk

Span = tuple[int, int]

ABBREVIATIONS = frozenset(
    """
    Mr. Mrs. Ms. Dr. Prof. St. Gen. Sen. Rep. Gov. Lt. Col. Capt. Sgt. Maj. Adm. Cmdr. Rev. Hon.
    Pres. Supt. Det. Jr. Sr. Mt. Ft. Ave. Blvd. Rd.
    Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec.
    e.g. i.e. vs. etc. cf. al. approx. Inc. Corp. Ltd. Co. Bros. No. Nos. Vol. Fig. Ph.D.
    """.split()
)
_OPENERS = "\"'“‘«([{"
CLOSERS = "\"'”’»)]}"
# Sentence-final punctuation, any closing quotes/brackets, then whitespace: a candidate boundary.
_CANDIDATE = re.compile(rf"[.!?]+[{re.escape(CLOSERS)}]*(?P<gap>\s+)")
_LINE = re.compile(r"[^\n\r\v\f\x85\u2028\u2029]+")
_INITIALS = re.compile(r"[A-Z]\.|[A-Za-z](?:\.[A-Za-z])+\.")  # "J.", "U.S.", "D.C.", "p.m."
_WORD = re.compile(r"\S+")


def split_sentences(text: str) -> list[Span]:
    """Character spans of the sentences in `text`, without surrounding whitespace.

    Splits after . ! ? (plus closing quotes/brackets) when whitespace and an uppercase letter,
    digit or opening quote follow, and at every line break; not after abbreviations
    ("Dr.", "U.S.", "e.g.") or single initials ("J. Smith"), nor inside numbers ("1.78").
    """
    spans: list[Span] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for m in _CANDIDATE.finditer(text, line.start(), line.end()):
            after = m.end("gap")
            if after < line.end() and _starts_sentence(text[after]) and not is_abbreviation(text, m.start()):
                _add_stripped(text, start, m.start("gap"), spans)
                start = after
        _add_stripped(text, start, line.end(), spans)
    return spans


def _starts_sentence(char: str) -> bool:
    return char.isupper() or char.isdigit() or char in _OPENERS


def is_abbreviation(text: str, punct: int) -> bool:
    """Whether the '.' at `punct` ends an abbreviation or initial rather than a sentence."""
    if text[punct] != "." or text[punct + 1 : punct + 2] in (".", "!", "?"):
        return False
    word_start = punct
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : punct + 1].lstrip(_OPENERS)
    return word in ABBREVIATIONS or _INITIALS.fullmatch(word) is not None


def _add_stripped(text: str, start: int, end: int, spans: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


@dataclass(frozen=True)
class ChunkerConfig:
    """Chunk size and overlap, in word pieces of the embedding model's tokenizer."""

    max_tokens: int
    overlap_tokens: int

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(
                f"overlap_tokens must be in [0, max_tokens), got {self.overlap_tokens} "
                f"with max_tokens={self.max_tokens}"
            )


@dataclass(frozen=True)
class _Unit:
    """A sentence, or a piece of an oversized one: the smallest thing a chunk is built from."""

    start: int
    end: int
    tokens: int


class Chunker:
    """Packs an article's sentences greedily into overlapping chunks the embedding model never truncates."""

    def __init__(
        self,
        config: ChunkerConfig,
        count_model_tokens: Callable[[Sequence[str]], list[int]],
        model_token_limit: int,
        count_tiktoken: Callable[[str], int],
    ) -> None:
        if model_token_limit < 1:
            raise ValueError(f"model_token_limit must be at least 1, got {model_token_limit}")
        self.config = config
        self.bound = min(config.max_tokens, model_token_limit)
        self._count = count_model_tokens
        self._count_tiktoken = count_tiktoken

    def chunk(self, article: Article) -> list[Chunk]:
        """The article's chunks in order; `chunk.text == article.text[chunk.start:chunk.end]`."""
        text = article.text
        units = self._units(text)
        if not units:
            return []
        ranges = self._verified(text, units, self._pack(units))
        chunks = []
        for position, (i, j) in enumerate(ranges):
            start, end = units[i].start, units[j - 1].end
            piece = text[start:end]
            chunks.append(
                Chunk(
                    article_id=article.id,
                    position=position,
                    text=piece,
                    start=start,
                    end=end,
                    n_tokens=self._count_tiktoken(piece),
                )
            )
        return chunks

    def _units(self, text: str) -> list[_Unit]:
        """Sentences with their token counts, oversized ones split into pieces within the bound."""
        sentences = split_sentences(text)
        counts = self._count([text[s:e] for s, e in sentences]) if sentences else []
        oversized = [(s, e) for (s, e), n in zip(sentences, counts) if n > self.bound]
        pieces = self._split_oversized(text, oversized) if oversized else {}
        units: list[_Unit] = []
        for (s, e), n in zip(sentences, counts):
            units.extend(pieces[(s, e)] if n > self.bound else [_Unit(s, e, n)])
        return units

    def _split_oversized(self, text: str, sentences: list[Span]) -> dict[Span, list[_Unit]]:
        """Split each sentence at whitespace into pieces within the bound (words counted in one batch)."""
        words = {span: [(m.start(), m.end()) for m in _WORD.finditer(text, *span)] for span in sentences}
        flat = [w for ws in words.values() for w in ws]
        counts = dict(zip(flat, self._count([text[s:e] for s, e in flat])))
        result: dict[Span, list[_Unit]] = {}
        for span, ws in words.items():
            pieces: list[_Unit] = []
            start, total, end = -1, 0, -1
            for s, e in ws:
                n = counts[(s, e)]
                if n > self.bound:
                    if start >= 0:
                        pieces.append(_Unit(start, end, total))
                        start = -1
                    pieces.extend(self._hard_split(text, s, e, n))
                elif start >= 0 and total + n <= self.bound:
                    total, end = total + n, e
                else:
                    if start >= 0:
                        pieces.append(_Unit(start, end, total))
                    start, total, end = s, n, e
            if start >= 0:
                pieces.append(_Unit(start, end, total))
            result[span] = pieces
        return result

    def _hard_split(self, text: str, start: int, end: int, tokens: int) -> list[_Unit]:
        """Cut a whitespace-free run into character slices within the bound."""
        pieces: list[_Unit] = []
        while start < end:
            remaining = end - start
            # Guess from the average characters per token, then shrink until the slice fits.
            size = min(remaining, max(1, remaining * self.bound // max(tokens, 1)))
            n = self._count([text[start : start + size]])[0]
            while n > self.bound and size > 1:
                size = max(1, min(size - 1, size * self.bound // n))
                n = self._count([text[start : start + size]])[0]
            # A single character over the bound cannot be split further; keep it so we make progress.
            pieces.append(_Unit(start, start + size, n))
            start += size
            if start < end:
                tokens = self._count([text[start:end]])[0]
        return pieces

    def _pack(self, units: list[_Unit]) -> list[Span]:
        """Greedy packing into [i, j) unit ranges, each next range starting with an overlap tail."""
        bound, overlap = self.bound, self.config.overlap_tokens
        ranges: list[Span] = []
        i = 0
        while i < len(units):
            j, total = i + 1, units[i].tokens
            while j < len(units) and total + units[j].tokens <= bound:
                total += units[j].tokens
                j += 1
            ranges.append((i, j))
            if j == len(units):
                break
            # The tail must leave room for the next new unit, and must not start the next range at i.
            k, tail = j, 0
            while k - 1 > i and tail + units[k - 1].tokens <= min(overlap, bound - units[j].tokens):
                k -= 1
                tail += units[k].tokens
            i = k
        return ranges

    def _verified(self, text: str, units: list[_Unit], ranges: list[Span]) -> list[Span]:
        """Re-count the assembled chunk texts and halve any range that joining pushed over the bound."""
        result: list[Span] = []
        pending = ranges
        while pending:
            counts = self._count([text[units[i].start : units[j - 1].end] for i, j in pending])
            over: list[Span] = []
            for (i, j), n in zip(pending, counts):
                if n <= self.bound or j - i == 1:
                    result.append((i, j))
                else:
                    mid = (i + j) // 2
                    over += [(i, mid), (mid, j)]
            pending = over
        return sorted(result)


def model_token_counter(tokenizer: Any) -> Callable[[Sequence[str]], list[int]]:
    """Adapt a Hugging Face fast tokenizer to `Chunker`'s batch counter (word pieces, no special tokens)."""

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        # verbose=False: over-long inputs are expected here; they are what we measure and split.
        encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count
