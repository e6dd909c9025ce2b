"""How well a passage supports a claim: the score behind citation checks and refusals.

Three scorers, chosen by `QA_SUPPORT_SCORER`:
  - `model` (`ModelSupportScorer`): the support model the project trains (`qa.support_model`, a
    MiniLM cross-encoder shipped as int8 ONNX), P(supported) for a claim and one or two sentences.
    It recognises a paraphrase, as an LLM writes one, and rejects a wrong name or number, or a
    name its passage never mentions (`unknown_name_factor`).
  - `lexical` (`LexicalSemanticScorer`) combines
      - weighted recall of the claim's content words in the evidence (numbers weigh 3, capitalized
        names 2, other words 1): an altered number or name drops it sharply, and
      - the cosine similarity of claim and evidence under the embedding model (paraphrase),
    and scales the blend down when the claim states numbers or names the evidence does not
    (`fact_agreement`).
  - `judge` (`JudgeScorer`): P("yes") from the in-process LLM, where it is installed.
An LLM's lead-in about its sources is not scored (`without_preamble`); a claim quoted word for
word is supported without a model call. Each scorer's threshold between supported and not is
calibrated on data (`Settings.support_cutoff`; README, "Calibration").
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.chunk import split_sentences
from qa.embed import Embedder
from qa.places import elsewhere, listed_places, places_in
from qa.question_shape import asks_place_other_than

if TYPE_CHECKING:
    from qa.settings import Settings
    from qa.support_model import SupportModel

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z][A-Za-z'’\-]*")
_STOP = frozenset(
    "a an and are as at be been being but by can could did do does for from had has have he her "
    "his how i if in into is it its itself of on or our she so such than that the their them then "
    "there these they this those to was we were what when where which while who whom why will with "
    "would you your also about after before over under more most very just only said says say "
    "according week weeks today yesterday recently currently now".split()
)
# How an LLM introduces what it read ("Based on the provided articles, ...", "According to the
# passage, ...", "The article states that ..."): about the prompt, not a claim the passage must hold.
_PREAMBLE = re.compile(
    r"^\s*(?:(?:based on|according to|as stated in|as (?:reported|mentioned) in)\s+(?:the\s+)?"
    r"(?:provided\s+|given\s+|first\s+|second\s+|cnn\s+quiz\s+)?"
    r"(?:articles?|passages?|evidence|information|texts?|sources?|context)(?:\s*\([^)]*\))?"
    r"(?:\s*\[\d+\])?\s*,\s*|the\s+(?:\w+\s+)?(?:articles?|passages?|texts?)\s+"
    r"(?:states?|says?|mentions?|reports?|notes?)\s+that\s+)",
    re.IGNORECASE)
# "This is based on the passage from The Guardian, which states that ...": the claim follows it.
_SOURCE_LEAD_IN = re.compile(
    r"^\s*(?:this|that|it|the answer)\s+(?:information\s+)?(?:is|was|comes)\s+(?:also\s+)?"
    r"(?:based on|supported by|stated in|found in|mentioned in|taken from|from|according to)\b.*?"
    r"(?:,\s*|\s)(?:which|that|where it|where|as it)\s+(?:states?|says?|mentions?|reports?|notes?|explains?)"
    r"(?:\s+that)?[\s,:]+",
    re.IGNORECASE)
# What a sentence about the passages themselves is made of: "This is supported by passage [2]."
_SOURCE_WORDS = frozenset(
    "passage passages article articles text texts source sources evidence information context answer "
    "question support supported supports base based state stated states mention mentioned mentions "
    "report reported reports provide provided given above first second third fourth fifth number "
    "cite cited quote quoted find found data detail details specific specifically not no clearly "
    "explicitly directly further specify specified indicate indicates indicated".split())
_SOURCE_ONLY = re.compile(
    r"^\s*(?:this|that)\s+(?:\w+\s+)?(?:is|was|comes|can be)\s+(?:also\s+)?"
    r"(?:based on|supported by|stated in|found in|mentioned in|taken from|confirmed by|seen in|shown in|"
    r"inferred from)\s+(?:\S+\s+){0,3}?(?:passages?|articles?|sources?|evidence|information|texts?|reports?)\b",
    re.IGNORECASE)
_SOURCE_NUMBER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]|\b(?:passages?|articles?|sources?)\s*(?:#|no\.\s*)?"
                            r"\d+(?:\s*(?:,|and|&)\s*\d+)*", re.IGNORECASE)


def without_preamble(claim: str) -> str:
    """The claim without an LLM's lead-in about its sources ("Based on the provided articles, ",
    "This is based on the passage from ..., which states that ")."""
    stripped = _SOURCE_LEAD_IN.sub("", claim, count=1)
    stripped = _PREAMBLE.sub("", stripped, count=1)
    return stripped[:1].upper() + stripped[1:] if stripped != claim else claim


# When, relative to the asker's day: a model copies it from the question ("What did Ford recall
# this week?") into a sentence whose passage never says when.
_RELATIVE_TIME = re.compile(
    r"(?P<before>,\s*)?\b(?P<phrase>(?:(?:earlier |later )?(?:this|last|next|past) (?:week|weekend|month|year)|"
    r"recently|on (?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)))\b(?!['’]s)(?P<after>\s*,(?=\s))?",
    re.IGNORECASE)


def without_unstated_times(claim: str, evidence: str) -> str:
    """The claim without the times relative to today ("this week", "recently", "on Tuesday") that
    `evidence` does not state: "Ford recalled 2.9 million vehicles this week." says more than a
    passage that only reports the recall."""
    def unstated(match: re.Match[str]) -> str:
        phrase = re.sub(r"^on ", "", match["phrase"], flags=re.IGNORECASE)  # "Tuesday" states "on Tuesday"
        if re.search(rf"\b{re.escape(phrase)}\b", evidence, re.IGNORECASE):
            return match.group()
        # "toys this week, saying" keeps its comma; "This week, Moldova" and ", this week," do not
        return "," if match["after"] and not match["before"] and claim[:match.start()].strip() else " "

    stripped = _RELATIVE_TIME.sub(unstated, claim)
    if stripped == claim:
        return claim
    stripped = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", stripped)).strip()
    return stripped[:1].upper() + stripped[1:]


def states_nothing(sentence: str) -> bool:
    """Whether a written sentence makes no claim of its own: no content word at all (a stray
    quotation mark), only words about the passages ("This is supported by passage [2]."), or
    where its facts come from ("This is supported by the passage from CNN and the statement
    from ..."), with no "..., which states that" claim after it."""
    if _SOURCE_ONLY.match(without_preamble(sentence)):
        return True
    words = [match.group().lower() for match in _TOKEN.finditer(_SOURCE_NUMBER.sub(" ", sentence))]
    return not [word for word in words if word not in _STOP and word not in _SOURCE_WORDS
                and not (len(word) < 2 and not word.isdigit())]


LEXICAL_WEIGHT = 0.6  # the rest is the cosine similarity


class SupportScorer(Protocol):
    """Scores, in [0, 1], how well each evidence text supports the claim."""

    name: str

    def scores(self, claim: str, evidence: Sequence[str]) -> list[float]: ...

    def best_support(self, claim: str, passage_text: str) -> tuple[float, tuple[int, int]]:
        """The best-supporting sentence window of a passage: (score, span in the passage)."""
        ...


def content_terms(text: str) -> list[tuple[str, float]]:
    """The claim's content words, normalized, with their weight."""
    terms = []
    for match in _TOKEN.finditer(re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", text)):
        word = match.group()
        if word[0].isdigit():
            terms.append((word.replace(",", ""), 3.0))
            continue
        lowered = word.lower()
        if lowered in _STOP or len(lowered) < 2:
            continue
        terms.append((_stem(lowered), 2.0 if word[0].isupper() and match.start() > 0 else 1.0))
    return terms


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ed", "ing", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _evidence_terms(text: str) -> set[str]:
    return {term for term, _ in content_terms(text)} | {
        m.group().replace(",", "") for m in re.finditer(r"\d+(?:[.,]\d+)*", text)
    }


def lexical_recall(claim: str, evidence: str) -> float:
    """Weighted share of the claim's content words found in the evidence."""
    terms = content_terms(claim)
    if not terms:
        return 0.0
    found = _evidence_terms(evidence)
    total = sum(weight for _, weight in terms)
    return sum(weight for term, weight in terms if term in found) / total


def number_agreement(claim: str, evidence: str) -> float:
    """1.0 when every number in the claim appears in the evidence, down to 0.4 when none does:
    a number the evidence doesn't state is the commonest unsupported claim."""
    return _agreement(_claim_numbers(claim), evidence)


def fact_agreement(claim: str, evidence: str, context: str | None = None) -> float:
    """1.0 when every number and every name the claim states appears in the evidence, down to 0.4
    when none does: "China topped the medal table." is not supported by "...was Japan.", however
    close the rest of the words. Names are found as `claim_names` finds them, in `context` (the
    whole passage; default the evidence)."""
    return _agreement(_claim_numbers(claim) | claim_names(claim, evidence if context is None else context), evidence)


# A claim naming someone or something its whole passage never mentions is scaled by this, on top
# of the names' agreement: "Prince Philip is expected to retire next month, according to a report
# in The Daily Telegraph", cited to an older passage on Prince Philip that names no Telegraph,
# agreed on half its names and was kept at 0.67.
UNKNOWN_NAME_FACTOR = 0.6
# Titles and ranks: an LLM adds them to a name the passage gives bare ("President Biden").
_TITLES = frozenset(_stem(title) for title in (
    "president prime minister king queen prince princess duke duchess sir dame lord lady mr mrs ms dr "
    "senator governor chancellor secretary chief pope saint ceo chairman mayor judge justice general "
    "professor".split()))


def unknown_name_factor(names: set[str], passage: str) -> float:
    """`UNKNOWN_NAME_FACTOR` when one of `names` (as `claim_names` gives them), other than a title,
    is nowhere in `passage`, under any of its country's names (`_PLACE_NAMES`); else 1.0."""
    found = {_bare(term) for term in _evidence_terms(passage)}
    for name in {_bare(name) for name in names} - _TITLES - found:
        aliases = [content_terms(alias) for alias in _SAME_PLACE.get(name, ())]
        if not any(terms and all(_bare(term) in found for term, _ in terms) for terms in aliases):
            return UNKNOWN_NAME_FACTOR
    return 1.0


def _bare(term: str) -> str:
    """A term without its possessive or closing quote: "queen'" (Queen's) and "game'" ('Squid
    Game') are the Queen and the game."""
    return re.sub(r"['’]s?$", "", term)


def _agreement(facts: set[str], evidence: str) -> float:
    if not facts:
        return 1.0
    found = _evidence_terms(evidence)
    return 0.4 + 0.6 * len(facts & found) / len(facts)


def _claim_numbers(claim: str) -> set[str]:
    return {term for term, weight in content_terms(claim) if weight == 3.0}


def claim_names(claim: str, context: str) -> set[str]:
    """The names a claim states, as `content_terms` normalizes them: capitalized words after its
    first word, and the first word when it is a name in `context` too (capitalized there after a
    sentence's start, or spelled with capitals inside: NATO, F-35), not merely a sentence start."""
    names = {term for term, weight in content_terms(claim) if weight == 2.0}
    first = _TOKEN.search(re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", claim))
    if first is not None and first.group()[0].isupper() and first.group().lower() not in _STOP | _NOT_NAMES:
        word = first.group()
        inner_capitals = any(c.isupper() or c.isdigit() for c in word[1:])
        if inner_capitals or any(_mid_sentence(context, m.start())
                                 for m in re.finditer(rf"\b{re.escape(word)}\b", context)):
            names.add(_stem(word.lower()))
    return names


def _mid_sentence(text: str, position: int) -> bool:
    before = text[:position].rstrip(" \"'“‘(")
    return bool(before) and before[-1] not in ".!?\n"


class LexicalSemanticScorer:
    """Weighted lexical recall blended with embedding cosine similarity."""

    name = "lexical-semantic"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def scores(self, claim: str, evidence: Sequence[str]) -> list[float]:
        if not evidence:
            return []
        return self._scores(claim, evidence, None)

    def _scores(self, claim: str, evidence: Sequence[str], context: str | None) -> list[float]:
        claim = without_preamble(claim)
        vectors = self.embedder.encode([claim, *evidence])
        cosines = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        # the claim's facts, found once for a whole passage rather than once per window
        facts = None if context is None else _claim_numbers(claim) | claim_names(claim, context)
        return [
            round(
                (LEXICAL_WEIGHT * lexical_recall(claim, text) + (1 - LEXICAL_WEIGHT) * float(cos))
                * (fact_agreement(claim, text) if facts is None else _agreement(facts, text)),
                4,
            )
            for text, cos in zip(evidence, cosines)
        ]

    def best_support(self, claim: str, passage_text: str) -> tuple[float, tuple[int, int]]:
        return best_window(claim, passage_text, lambda texts: self._scores(claim, texts, passage_text))


def best_window(claim: str, passage_text: str,
                score_windows: Callable[[list[str]], list[float]]) -> tuple[float, tuple[int, int]]:
    """The best-supporting window of one or two sentences of a passage, as `score_windows` scores
    the window texts. Single sentences are preferred: a two-sentence window must beat them clearly,
    so quotes stay as short as the evidence allows. A claim quoted verbatim from the passage is
    fully supported, with no model call."""
    verbatim = verbatim_span(claim, passage_text)
    if verbatim is not None:
        return 1.0, verbatim
    windows = sentence_windows(passage_text) or [(0, len(passage_text))]
    scores = score_windows([passage_text[s:e] for s, e in windows])
    single = {i for i, (s, e) in enumerate(windows) if len(split_sentences(passage_text[s:e])) <= 1}
    best = max(range(len(windows)), key=lambda i: scores[i] - (0 if i in single else 0.05))
    return scores[best], windows[best]


class ModelSupportScorer:
    """Support judged by the trained support model (`QA_SUPPORT_SCORER=model`): P(supported) of
    the claim, without its citation markers and lead-in, against each evidence text, scaled by
    the agreement of its numbers and of its names (`fact_agreement`'s parts). The model accepts a
    paraphrase, but a MiniLM reads "9 percent" much as "7.2 percent" and "topped by China" much
    as "topped by Japan", so the numbers and names a claim states are checked word for word."""

    name = "support-model"

    def __init__(self, load: Callable[[], SupportModel]) -> None:
        """`load()` gives the model, called at the first check: an extractive service never needs it."""
        self._load = load
        self._model: SupportModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SupportModel:
        """The support model, loaded on first use."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def scores(self, claim: str, evidence: Sequence[str]) -> list[float]:
        return self._scores(claim, evidence, None)

    def _scores(self, claim: str, evidence: Sequence[str], context: str | None) -> list[float]:
        if not evidence:
            return []
        claim = _claim_text(claim)
        probabilities = self.model.probabilities(claim, list(evidence))
        numbers = _claim_numbers(claim)
        names: set[str] | None = None
        unknown: float | None = None
        if context is not None:  # found once for a whole passage
            names = claim_names(claim, context)
            unknown = unknown_name_factor(names, context)
        scores = []
        for p, text in zip(probabilities, evidence):
            text_names = claim_names(claim, text) if names is None else names
            # numbers and names weigh apart: a wrong number is not excused by a right name
            score = p * _agreement(numbers, text) * _agreement(text_names, text)
            score *= unknown_name_factor(text_names, text) if unknown is None else unknown
            scores.append(round(score, 4))
        return scores

    def best_support(self, claim: str, passage_text: str) -> tuple[float, tuple[int, int]]:
        return best_window(claim, passage_text, lambda texts: self._scores(claim, texts, passage_text))


def _claim_text(claim: str) -> str:
    return re.sub(r"\s*\[\d+(?:\s*,\s*\d+)*\]", "", without_preamble(claim)).strip()


class SupportJudge(Protocol):
    """A model that says how likely `evidence` supports `claim` (`qa.llm_judge.LLMJudge`, or the
    local backend, which runs it in its worker process)."""

    def support_probability(self, claim: str, evidence: str) -> float: ...


class JudgeScorer:
    """Support judged by the in-process LLM (`QA_SUPPORT_SCORER=judge`): the lexical-semantic
    scorer picks the quote, the judge's P("yes") on that quote is the score. ~3 s per check on 2
    cores, so it suits evaluation and quiet services more than busy ones."""

    name = "llm-judge"

    def __init__(self, judge: SupportJudge, quote_picker: LexicalSemanticScorer) -> None:
        self.judge = judge
        self.quote_picker = quote_picker

    def scores(self, claim: str, evidence: Sequence[str]) -> list[float]:
        return [round(self.judge.support_probability(claim, text), 4) for text in evidence]

    def best_support(self, claim: str, passage_text: str) -> tuple[float, tuple[int, int]]:
        _, (start, end) = self.quote_picker.best_support(claim, passage_text)
        return self.scores(claim, [passage_text[start:end]])[0], (start, end)


def make_scorer(settings: Settings, embedder: Embedder,
                judge: Callable[[], SupportJudge] | None = None) -> SupportScorer:
    """The support scorer the settings choose: `model`, `lexical` or `judge` (`judge()` gives the
    model: the service passes its local backend, so answers and checks share one worker)."""
    if settings.support_scorer == "model":
        from qa.support_model import load_support_model, support_model_dir

        directory = support_model_dir(settings.support_model_dir)  # a missing model fails now, not at a check
        return ModelSupportScorer(functools.partial(load_support_model, str(directory),
                                                    settings.support_model_threads))
    lexical = LexicalSemanticScorer(embedder)
    if settings.support_scorer == "lexical":
        return lexical
    if settings.support_scorer == "judge":
        if judge is None:
            raise ValueError("QA_SUPPORT_SCORER=judge needs the local model: build the scorer with `judge`")
        return JudgeScorer(judge(), lexical)
    raise ValueError(f"QA_SUPPORT_SCORER={settings.support_scorer!r}: choose model, lexical or judge")


def verbatim_span(claim: str, passage_text: str) -> tuple[int, int] | None:
    """The span of the passage sentence(s) that `claim` quotes word for word, if it does."""
    words = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", claim).split()
    if len(words) < 4:
        return None
    words[-1] = words[-1].rstrip(".")  # the claim's final period may be a re-punctuated comma
    match = re.search(r"\s+".join(re.escape(word) for word in words if word), passage_text)
    if match is None:
        return None
    spans = [span for span in split_sentences(passage_text) if span[1] > match.start() and span[0] < match.end()]
    return (spans[0][0], spans[-1][1]) if spans else (match.start(), match.end())


def sentence_windows(text: str, max_sentences: int = 2) -> list[tuple[int, int]]:
    """Spans of every run of 1..max_sentences consecutive sentences of `text`."""
    spans = split_sentences(text)
    windows = []
    for i in range(len(spans)):
        for width in range(1, max_sentences + 1):
            if i + width <= len(spans):
                windows.append((spans[i][0], spans[i + width - 1][1]))
    return windows


def relevance_scores(
    embedder: Embedder, question: str, texts: Sequence[str], contexts: Sequence[str] | None = None,
    *, place_names: bool = False, absent_credit: float = 0.0,
) -> list[float]:
    """How well each text answers `question`, in [0, 1]: 0.7 x embedding cosine + 0.3 x the
    share of the question's content words it contains, scaled down when the names the question
    asks about (Japan, the Federal Reserve...) are missing from the text's context (its passage;
    `place_names`, `absent_credit`: as `name_coverage`). The refusal threshold applies to this."""
    if not texts:
        return []
    vectors = embedder.encode([question, *texts])
    cosines = vectors[1:] @ vectors[0]
    contexts = texts if contexts is None else contexts
    return [
        float(np.clip(0.7 * float(cos) + 0.3 * lexical_recall(question, text), 0.0, 1.0))
        * name_coverage(question, context, place_names=place_names, absent_credit=absent_credit)
        for text, cos, context in zip(texts, cosines, contexts)
    ]


_NAME = re.compile(r"\b(?:[A-Z][\w’'\-]*|[A-Za-z]+-\d+)")
_QUESTION_WORDS = frozenset("who what when where which why how whose whom is are was were did does do "
                            "can could will would should has have had in on at by for the a an and of".split())
# capitalized for grammar, not names: they don't identify what the question is about
_NOT_NAMES = frozenset("monday tuesday wednesday thursday friday saturday sunday january february march "
                       "april may june july august september october november december mr mrs ms dr "
                       "no this these that those".split())
# "... according to the Daily Telegraph?": where the question read the news, not what it is about
_ATTRIBUTION = re.compile(
    r"(?i:\b(?:according to|reported by|told|(?:an? |the )?(?:new |recent |latest )?(?:report|analysis|study|"
    r"survey|poll|research|data)(?: published)? (?:in|by|from|of)))\s+(?i:(?:the|a|an)\s+)?"
    r"(?:[A-Z][\w.’'&-]*\s*)+")


def question_names(question: str) -> list[tuple[str, ...]]:
    """The proper names a question asks about, each as its words ("Lindsay Hoyle" -> ("Lindsay",
    "Hoyle")): runs of capitalized words (not the first word) and codes like F-16, leaving out the
    source a question cites ("according to The Guardian")."""
    text = _ATTRIBUTION.sub(lambda m: " " * len(m.group()), question)
    names: list[tuple[str, ...]] = []
    run: list[str] = []
    last_end = -1
    for match in _NAME.finditer(text):
        word = re.sub(r"['’]s$", "", match.group())
        is_name = match.start() > 0 and word.lower() not in _QUESTION_WORDS and word.lower() not in _NOT_NAMES
        if run and (not is_name or text[last_end:match.start()] != " "):
            names.append(tuple(run))
            run = []
        if is_name:
            run.append(word)
            last_end = match.end()
    if run:
        names.append(tuple(run))
    return list(dict.fromkeys(names))


def name_coverage(question: str, context: str, *, place_names: bool = False, absent_credit: float = 0.0) -> float:
    """1.0 when every name in the question occurs in `context`, down to 0.4 when none does. A name
    of several words counts when one of them occurs ("Mick Lynch" when the text says "Lynch").
    `place_names`: a country counts under its other names too ("Britain" when the text says "UK");
    the check of written answers uses them, the extractive backend does not: on its calibrated
    threshold they made off-topic UK sentences outrank the answer (bench/README.md).
    `absent_credit`: how much a name the context lacks still counts, unless it is a place and the
    context names another place instead ("Japan" asked, "Taiwan" said): a news extract often
    leaves out what its reader knows ("Walmart is cutting prices" for "Which major US retailer").
    Asked for a place the question's place does not bound ("... outside the US. Where did the
    launch occur?"; not "Where in the US ...?"), another place is what the answer names, so there a
    missing place gets the credit too."""
    names = question_names(question)
    if not names:
        return 1.0
    found = 0.0
    named: frozenset[str] | None = None  # the places the context names that the question does not
    for name in names:
        if any(_mentions(context, word, place_names) for word in name):
            found += 1
        elif absent_credit > 0:
            place = " ".join(name)
            if place in listed_places() and not asks_place_other_than(question, place):
                named = places_in(context) - places_in(question) if named is None else named
                if any(elsewhere(place, other) for other in named):
                    continue
            found += absent_credit
    return 0.4 + 0.6 * found / len(names)


def _mentions(context: str, word: str, place_names: bool) -> bool:
    """Whether `context` has a word that `word` begins ("Japan" in "Japanese"), in any case, or
    (`place_names`) another name of the same country, whole and as written (`_PLACE_NAMES`)."""
    if re.search(rf"\b{re.escape(word)}", context, re.IGNORECASE):
        return True
    aliases = _SAME_PLACE.get(word.lower(), ()) if place_names else ()
    return any(re.search(rf"\b{re.escape(alias)}(?!\w)", context) for alias in aliases)


# A country's other names, which a question and its passage may use apart ("Britain's record
# temperature" answered by "the highest ever UK temperature"). Adjectives (British) are left out,
# and so is the US: "US" already begins "us" and "use", and its other names made a passage on a
# gymnast of Team USA look on topic for "sanctioned by the US".
_PLACE_NAMES = (
    ("Britain", "UK", "U.K.", "United Kingdom"),
    ("Netherlands", "Holland"), ("EU", "European Union"), ("UN", "United Nations"),
)
_SAME_PLACE = {name.lower(): names for names in _PLACE_NAMES for name in names}
