"""The words a keyword search looks for: one rule for the SQLite (FTS5) and PostgreSQL stores."""

from __future__ import annotations

import re
from collections.abc import Callable

WORD = re.compile(r"\w+", re.UNICODE)
# Words so common that matching them only adds noise to BM25, and costs: FTS5 scores every chunk
# holding any query term. The fragments of contractions ("Broadway’s" gives "s") are in there too;
# "us" (US) and "may" (the month) are not.
STOPWORDS = frozenset(
    "a an and are as at be been being but by can cannot could did do does doing for from had has "
    "have having how i if in into is it its itself of on or so than that the their theirs them "
    "themselves then there these they this those to was were what when where which who whom whose "
    "why will with would you your yours yourself about above after again against all also am any "
    "because before below between both down during each few further get gets got he her here hers "
    "herself him himself his just me might more most must my myself no nor not now off once "
    "one only other ought our ours ourselves out over own same shall she should some such too "
    "under until up very we while yet said says tell much many "
    "s t d ll m o re ve y".split()
)


# Keyword candidates in a large index: chunks holding a word that is in at most the first share of
# the chunks, then (when too few) the next; with every word above a share, the `COMMON_KEEP`
# rarest pick them (docs/scale-out.md, "Keyword search cost").
COMMON_SHARES = (0.03, 0.2)
COMMON_KEEP = 2
# An embedded (SQLite) index this large or larger prunes so (`Settings.keyword_prune_chunks`).
PRUNE_MIN_CHUNKS = 50_000
# How long a store keeps the word shares it read (PostgreSQL's statistics, FTS5's counts).
STATS_SECONDS = 300.0


def query_terms(text: str) -> list[str]:
    """The question's content words, lowercased, once each, in order."""
    words = [w.lower() for w in WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))


def match_sets(terms: list[str], share: dict[str, float],
               caps: tuple[float, ...] = COMMON_SHARES) -> list[list[str]]:
    """The successive word sets that pick the chunks a keyword search ranks: for each share in
    `caps`, `terms` less the words in more than that share of the chunks (`share`: word -> share;
    words missing from it match nothing and are left out); the `COMMON_KEEP` rarest when every
    word is above it. Each set is wider than the one before."""
    sets: list[list[str]] = []
    for cap in caps:
        words = ([w for w in terms if w in share and share[w] <= cap]
                 or sorted(share, key=share.__getitem__)[:COMMON_KEEP])
        if not sets or len(words) > len(sets[-1]):
            sets.append(words)
    return sets


def widening(word_sets: list[list[str]], rank: Callable[[list[str]], list[int]], limit: int) -> list[int]:
    """The chunk ids `rank(words)` gives for the first word set, followed by those of the next,
    wider sets while fewer than `limit` were found."""
    found: dict[int, None] = {}
    for words in word_sets:
        found |= dict.fromkeys(rank(words))
        if len(found) >= limit:
            break
    return list(found)[:limit]
