"""Follow-up questions made standalone without an LLM.

Two shapes cover most follow-ups in a news chat:
  - an elliptical one that swaps the subject: "and Taiwan's?", "what about Japan?", "how about in
    2023?" after "How much is China's defence budget?" -> "How much is Taiwan's defence budget?";
  - a pronoun that points back: "When did he take office?" after "Who is Taiwan's defence
    minister?" -> "When did Taiwan's defence minister take office?".
Anything else is returned unchanged: a question that already stands alone must not be rewritten.
"""

from __future__ import annotations

import re

from qa.places import listed_places
from qa.support import question_names

_ELLIPSIS = re.compile(
    r"^\s*(?:(?:and|but|or|so)\s+)?(?:(?:what|how)\s+about|and\s+for|and\s+in|and\s+of|and|as\s+for)\s+(?P<x>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_BARE_AND = re.compile(r"^\s*(?:and|or)\s+(?P<x>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_COPULA = re.compile(r"^\s*(?:who|what)\s+(?:is|are|was|were)\s+(?P<x>.+?)\s*\?*\s*$", re.IGNORECASE)
_PRONOUNS = {"he": "", "she": "", "it": "", "they": "", "him": "", "them": "",
             "his": "'s", "her": "'s", "its": "'s", "their": "'s"}
_PERSONAL = frozenset({"he", "she", "him", "his", "her"})
_PRONOUN = re.compile(r"\b(he|she|it|they|him|them|his|her|its|their)\b", re.IGNORECASE)
_MAX_FRAGMENT_WORDS = 6
# "and who won in 2020?" is a question of its own, not a fragment
_WH = frozenset("who whom whose what when where which why how is are was were did does do can could will "
                "would should has have had".split())


def standalone(question: str, previous: str | None) -> str:
    """`question` rewritten to stand alone given the user's previous question, or unchanged."""
    if not previous or not previous.strip():
        return question
    previous = previous.strip()
    fragment = _fragment(question)
    if fragment is not None:
        rewritten = _swap(previous, fragment)
        if rewritten:
            return rewritten
    pronoun = _PRONOUN.search(question)
    if pronoun:
        personal = pronoun.group(1).lower() in _PERSONAL
        # "it" and "them" are often the question's own subject; "he" and "her" rarely are
        antecedent = _antecedent(previous) if personal or not question_names(question) else None
        # "he" is not China: a person the previous question does not name is left unresolved
        if antecedent and not (personal and antecedent in listed_places()):
            return _PRONOUN.sub(lambda m: _replace_pronoun(m, antecedent), question, count=1)
    return question


def _fragment(question: str) -> str | None:
    """The new subject of an elliptical follow-up ("Taiwan's" in "and Taiwan's?"), if it is one."""
    match = _ELLIPSIS.match(question) or _BARE_AND.match(question)
    if not match:
        return None
    fragment = match.group("x").strip().strip(",")
    if not fragment or len(fragment.split()) > _MAX_FRAGMENT_WORDS or fragment.split()[0].lower() in _WH:
        return None
    return fragment


def _swap(previous: str, fragment: str) -> str | None:
    """`previous` with its subject replaced by `fragment`."""
    year = _YEAR.fullmatch(re.sub(r"^(?:in|for|during)\s+", "", fragment, flags=re.IGNORECASE))
    if year:
        if _YEAR.search(previous):
            return _YEAR.sub(year.group(), previous, count=1)
        return f"{previous.rstrip(' ?')} in {year.group()}?"
    names = question_names(previous)
    if names:
        name = " ".join(names[0])
        # the name as written in the previous question, with a possessive if it had one
        match = re.search(rf"(?:\bthe\s+)?{re.escape(name)}(?P<pos>['’]s)?", previous)
        if match:
            new = fragment
            if match.group("pos") and not _POSSESSIVE.search(new):
                new += "'" if new.endswith("s") else "'s"
            elif not match.group("pos"):
                new = _POSSESSIVE.sub("", new)
            return previous[: match.start()] + new + previous[match.end():]
    return None


def _antecedent(previous: str) -> str | None:
    """What a pronoun in the next question most likely refers to: the subject of "Who is X?",
    else the first name the previous question asks about."""
    copula = _COPULA.match(previous)
    if copula:
        return copula.group("x").strip()
    names = question_names(previous)
    return " ".join(names[0]) if names else None


def _replace_pronoun(match: re.Match[str], antecedent: str) -> str:
    suffix = _PRONOUNS[match.group(1).lower()]
    return antecedent + ("'" if suffix and antecedent.endswith("s") else suffix)
