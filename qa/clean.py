"""Turn raw article text into the cleaned text that every character offset refers to."""

from __future__ import annotations

import re

# Whole-line site boilerplate, matched against the stripped line (fullmatch, case-insensitive).
# Every pattern must describe the entire line, so real sentences that merely mention
# "subscribe" or "cookies" are never dropped.
BOILERPLATE_LINES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"subscribe (free )?to our (free )?(daily |weekly )?newsletters?\s*\|?",
        r"subscribe( now| today| here)?[.!]?",
        r"sign up (for|to) (our|the) (free )?(daily |weekly )?(e-?mail )?newsletters?\b.*",
        r"advertisement|advertising|sponsored( content)?",
        r"share (this|the) (article|story|post|page)\b.*",
        r"share( on)? (twitter|facebook|linkedin|whatsapp|email|x)",
        r"click here (to|for)\b.*",
        r".{0,100}\ball rights reserved\b.{0,50}",
        r"(copyright|\(c\)|©)\s*(©\s*)?\d{4}\b.*",
        r"follow us on (twitter|facebook|x|instagram|linkedin|threads|bluesky)\b.*",
        r"(this (web)?site|we) uses? cookies\b.*",
        r"(accept|allow|reject|manage) (all )?cookies\.?",
        r"cookie (policy|settings|preferences|notice)\.?",
    )
)

# A trailer header drops itself and the short link lines that follow it.
TRAILER_HEADERS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"related (links|articles|stories|coverage|content|news)\s*:?",
        r"read more\s*:?",
        r"more on this (story|topic)\s*:?",
        r"see also\s*:?",
    )
)

# Longer lines are never boilerplate: site furniture is short, article sentences often are not.
MAX_BOILERPLATE_CHARS = 160
# A line after a trailer header counts as a link line when short and not a full sentence.
MAX_TRAILER_LINK_CHARS = 100

_NON_BREAKING_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " "})
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")
# Candidate glue points: sentence punctuation directly followed by a letter; the
# surrounding characters are checked in `_glue_replacement`.
_GLUE_CANDIDATE = re.compile(r"[.!?](?=[^\W\d_])")
_CLOSERS = "\"'\u2019\u201d)]"


def clean_text(text: str) -> str:
    """Normalize whitespace, drop site boilerplate lines and split glued sentences."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_NON_BREAKING_SPACES)
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(_drop_boilerplate(lines))
    text = _EXTRA_BLANK_LINES.sub("\n\n", text)
    text = split_glued_sentences(text)
    return text.strip()


def is_boilerplate(line: str) -> bool:
    """True if the whole line is site furniture (newsletter pitch, copyright, cookie notice...)."""
    stripped = line.strip()
    if not stripped or len(stripped) > MAX_BOILERPLATE_CHARS:
        return False
    return any(pattern.fullmatch(stripped) for pattern in BOILERPLATE_LINES)


def _is_trailer_header(line: str) -> bool:
    stripped = line.strip()
    return any(pattern.fullmatch(stripped) for pattern in TRAILER_HEADERS)


def _is_link_line(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) <= MAX_TRAILER_LINK_CHARS and not stripped.rstrip(_CLOSERS).endswith(".")


def _drop_boilerplate(lines: list[str]) -> list[str]:
    kept: list[str] = []
    in_trailer = False
    for line in lines:
        if _is_trailer_header(line):
            in_trailer = True
            continue
        if in_trailer:
            if not line.strip() or is_boilerplate(line) or _is_link_line(line):
                continue
            in_trailer = False  # a real paragraph: the trailer is over
        if not is_boilerplate(line):
            kept.append(line)
    return kept


def split_glued_sentences(text: str) -> str:
    """Insert the missing space in "billion.Taipei has", leaving "U.S.", "3.5", "Ph.D" alone."""
    return _GLUE_CANDIDATE.sub(lambda match: _glue_replacement(text, match), text)


def _glue_replacement(text: str, match: re.Match[str]) -> str:
    punct = match.group()
    start, end = match.start(), match.end()
    before = text[start - 1] if start > 0 else ""
    if not (before.islower() or before.isdigit() or (before and before in _CLOSERS)):
        return punct  # "U.S.", "J.R.R.", "?!"
    nxt = text[end]
    after = text[end + 1] if end + 1 < len(text) else ""
    # The next word must look like a sentence start: "Taipei", or a one-letter "A"/"I".
    if not nxt.isupper() or not (after.islower() or (nxt in "AI" and after.isspace())):
        return punct  # "Ph.D", "www.BBC", "sinodaily.com"
    token_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    token = text[token_start:start]
    if "/" in token or "@" in token or token.lower().startswith("www"):
        return punct  # URLs and e-mail addresses
    return punct + " "
