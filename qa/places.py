"""Place names (countries, their short forms, US states) and finding them in text: a passage that
names another place than the one a question asks about is about somewhere else."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

PLACES_FILE = Path(__file__).with_name("places.txt")


@dataclass(frozen=True)
class Place:
    """A listed place: the place its name names (`same`: "US" names the United States) and the one
    it lies inside (`within`: Texas in the United States), if any."""

    same: str
    within: str | None = None


@functools.cache
def listed_places() -> dict[str, Place]:
    """Every place of `places.txt` by name ("Texas < United States", "US = United States")."""
    places: dict[str, Place] = {}
    for line in PLACES_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, relation, other = _parse(line)
        places[name] = Place(other if relation == "=" else name, other if relation == "<" else None)
    return places


def _parse(line: str) -> tuple[str, str, str]:
    """("US", "=", "United States") from "US = United States"; (name, "", "") for a bare name."""
    match = re.fullmatch(r"\s*(.+?)\s*(?:([<=])\s*(.+?))?\s*", line)
    assert match is not None
    return match.group(1), match.group(2) or "", match.group(3) or ""


@functools.cache
def _pattern() -> re.Pattern[str]:
    names = sorted(listed_places(), key=len, reverse=True)  # "New Mexico" before "Mexico"
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(name) for name in names) + r")(?!\w)")


@functools.lru_cache(maxsize=256)
def places_in(text: str) -> frozenset[str]:
    """The place names `text` mentions, case and all as listed ("Japan", "New York", "UK"). Cached:
    the extractive backend asks it of the same passage for each of its sentences."""
    return frozenset(_pattern().findall(text))


def elsewhere(asked: str, named: str) -> bool:
    """Whether the place `named` is somewhere else than the listed place `asked`: not the same place
    under another name ("UK" for "Britain") and not inside it ("Texas" for "US")."""
    places = listed_places()
    target = places[asked].same
    place = places[named]
    return place.same != target and place.within != target
