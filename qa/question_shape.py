"""What a question's wording says its answer must look like: a percentage for "By what percentage
...?", the name beside a role for "Who is Taiwan's defence minister?", a subject for "Who is X?".
The extractive backend weighs sentences by these; the answer model learned them only loosely."""

from __future__ import annotations

import re
from collections.abc import Callable

# "Who is Wellington Koo?": a question that only names its subject (capitalized words, no possessive:
# "Taiwan's Defence Minister" is a role the answer must name, not a name)
_DEFINITION = re.compile(
    r"^\s*(?i:who|what)\s+(?i:is|was|are|were)\s+(?P<name>[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)\s*\?\s*$")

_PERCENT_WORD = re.compile(r"(?i)\bper\s?cent(?:age)?s?\b|%")
# a share: "7.2 percent", "80%", "5 per cent", "3.5 percentage points", "one-third of", "one in five"
_PERCENTAGE = re.compile(r"(?i)\d(?:[\d,.]*\d)?\s*(?:%|per\s?cent(?:age)?\b)|\b(?:(?:half|(?:one|two|a)[\s-]thirds?|"
                         r"(?:one|a|three)[\s-]quarters?)\s+of|(?:one|1) in \w+)\b")


# "Where did the launch occur?", "... over which country for the first time?": the answer is a place
_PLACE_NOUN = r"(?:country|countries|nation|city|cities|state|states|region|island|continent|capital|town|province)"
_ASKS_PLACE = re.compile(rf"(?i)(?:^|[.?!]\s+)where\b|\b(?:which|what)\s+{_PLACE_NOUN}\b")


def asks_place_other_than(question: str, place: str) -> bool:
    """Whether the answer is a place that `place`, named in the question, does not bound: True for
    "North Korea test-fired a missile over which country?" and "... outside the US. Where did the
    launch occur?"; False for "Where in the US ...?", "Which US state ...?", "Which city in Japan ...?"
    and for questions that ask for no place."""
    if not _ASKS_PLACE.search(question):
        return False
    name = re.escape(place)
    bounds = (rf"(?i)\bwhere\s+in\s+(?:the\s+)?{name}\b|\b{name}\s+{_PLACE_NOUN}\b|"
              rf"\b(?:{_PLACE_NOUN})\s+(?:in|of)\s+(?:the\s+)?{name}\b")
    return not re.search(bounds, question)


def defined_name(question: str) -> str | None:
    """"Wellington Koo" for "Who is Wellington Koo?"; None for any other kind of question."""
    match = _DEFINITION.match(question)
    return match.group("name") if match else None


def asks_percentage(question: str) -> bool:
    """Whether the answer is a percentage: "By what percentage did ...?", "What percent of ...?"; not
    "Which country's prices rose 7.2 percent?", which states its percentage and asks for something else."""
    return bool(_PERCENT_WORD.search(question)) and not _PERCENTAGE.search(question)


def states_percentage(sentence: str) -> bool:
    """Whether `sentence` gives a share: a percentage, or a fraction ("more than one-third of the population")."""
    return bool(_PERCENTAGE.search(sentence))


# "Who is Taiwan's defence minister?", "Who is the new speaker of the US House?": a role of at most
# three words, with or without whose it is
_ROLE_QUESTION = re.compile(
    r"^\s*(?i:who)\s+(?i:is|was|are|were)\s+(?:(?i:the)\s+)?(?:(?i:new|current|former|next)\s+)?"
    r"(?:[A-Z][\w.&-]*(?:\s+[A-Z][\w.&-]*)*['’]s\s+)?"
    r"(?P<role>[A-Za-z][a-z-]+(?:\s+[A-Za-z][a-z-]+){0,2}?)(?:\s+(?i:of|at|for|in)\s+[^?]+)?\s*\?\s*$")
_NOT_ROLES = frozenset("is was are were the a an who what being expected going set likely to".split())
_OTHER_ROLE = ("vice", "Vice", "acting", "Acting", "deputy", "Deputy", "former", "Former")  # fixed-width lookbehinds
_HOLDER = r"(?:[A-Z][\w.'’-]*\s+){0,2}[A-Z][\w'’-]+"


def role_holder(question: str) -> re.Pattern[str] | None:
    """For a question asking who holds a role, the pattern of a sentence naming them: "Defence
    Minister Wellington Koo", "Wellington Koo, Taiwan's defence minister"; None otherwise."""
    match = _ROLE_QUESTION.match(question)
    if not match or defined_name(question):
        return None
    words = match.group("role").split()
    # "Who is considering running ...?" asks for no role
    if any(word.lower() in _NOT_ROLES or word.endswith(("ing", "ed")) for word in words):
        return None
    role = r"\s+".join(re.escape(word) for word in words)
    # not another role that ends the same: "vice-Chair Ismail El Gizouli" for "Who is the chair ...?"
    other = r"(?<![\w-])" + "".join(rf"(?<!{word} )" for word in _OTHER_ROLE)
    return re.compile(rf"{other}(?i:{role})\s+{_HOLDER}|{_HOLDER},\s+(?:(?i:the)\s+|[A-Z][\w.'’-]*\s+)*(?i:{role})\b")


_YEAR = re.compile(r"(?<![\d,.$£€])(?:1[0-9]{3}|20[0-9]{2})(?!\d|,\d)")
_ASKS_YEAR = re.compile(r"(?i)\b(?:what|which)\s+year\b")


def answer_kind(question: str) -> Callable[[str], bool] | None:
    """For a question whose wording names the kind of its answer, whether a sentence holds one: a
    percentage ("By what percentage ...?"), a year the question does not state ("In what year ...?");
    None for any other question. ("When ...?" is answered by "Following the Nice Treaty" and "when
    the immune system is less active" as often as by a date: SQuAD lost more than it won.)"""
    if asks_percentage(question):
        return states_percentage
    if _ASKS_YEAR.search(question):
        stated = set(_YEAR.findall(question))
        return lambda sentence: any(year not in stated for year in _YEAR.findall(sentence))
    return None


# "... this week?": news quiz wording for the week before the question is asked (837 of 3,716
# RealTime QA dev questions); the number is the period's length in days
_PERIODS = (
    (re.compile(r"(?i)\b(?:this|this past|the past|past|last)\s+weekend\b|\b(?:this|this past|the past)\s+week\b"), 7),
    (re.compile(r"(?i)\blast\s+week\b"), 14),
    (re.compile(r"(?i)\bthis\s+month\b"), 31),
)


def period_days(question: str) -> int | None:
    """How many days back the question's own time words reach: 7 for "... this week?" or "this
    weekend", 14 for "last week", 31 for "this month"; None when it names no such period."""
    for pattern, days in _PERIODS:
        if pattern.search(question):
            return days
    return None
