"""The SQLite document store: the keyword query it builds, and the index its filtered lookups use."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from qa.docstore import DocStore, or_match
from qa.embed import Embedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.keywords import query_terms
from qa.settings import Settings
from qa.types import Filters
from tests.store_corpus import CORPUS


def test_fts_query_keeps_content_words_only() -> None:
    query = or_match(query_terms("What did the US say in May about Broadway’s biggest shows, and why not?"))
    # "us" is the US and "may" the month; the "s" of "Broadway’s" and "not" are noise
    assert query == '"us" OR "say" OR "may" OR "broadway" OR "biggest" OR "shows"'
    assert or_match(query_terms("Which of these is it?")) == ""


def _plans_of(docstore: DocStore, call: Callable[[], object]) -> list[str]:
    """The query plans of the statements `call()` runs on this thread's connection."""
    conn = docstore._conn()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects, statements
    return [" | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + s)) for s in selects]


def test_freshness_and_filter_lookups_read_the_covering_index(seeded_index: Index) -> None:
    # published_of (freshness of every candidate) and passing (over-fetched filtered search) must
    # not read article rows, which hold the whole text
    docstore = seeded_index.docstore
    ids = [chunk.id for article in docstore.list_articles() for chunk in docstore.chunks_of(article.article.id)]
    assert docstore.published_of(ids) == {i: docstore.get_chunks([i])[i].published for i in ids}
    for plan in _plans_of(docstore, lambda: docstore.published_of(ids)) + _plans_of(
        docstore, lambda: docstore.passing(ids, Filters(as_of="2025-03-06", source="Reuters"))
    ):
        assert "COVERING INDEX articles_dates" in plan, plan


def test_an_older_index_gains_the_covering_index_on_open(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    DocStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX articles_dates")
    reopened = DocStore(path)
    names = {row[0] for row in reopened._conn().execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "articles_dates" in names
    assert reopened.published_of([1, 2]) == {}


def test_a_large_index_ranks_only_chunks_holding_a_less_common_word(settings: Settings, embedder: Embedder) -> None:
    """As the PostgreSQL store does (tests/test_stores.py), with word counts from FTS5 itself;
    an index under `keyword_prune_chunks` ranks every chunk holding any of the words."""
    with Index.open(settings.replace(keyword_prune_chunks=1), embedder=embedder) as index:
        Ingestor(index, settings).ingest_articles(CORPUS)
        store = index.docstore
        store.common_shares = (0.3, 1.0)
        # "bank" is in 2 of the 5 chunks, "grindavik" and "lava" in 1
        assert store.match_terms(["bank", "grindavik"]) == [["grindavik"], ["bank", "grindavik"]]
        volcano = [c.id for c in store.chunks_of("volcano")]
        assert store.keyword_search("bank lava", 5)[:1] == volcano
        assert len(store.keyword_search("bank lava", 5)) == 3  # too few with "lava": "bank" follows
        store.common_shares = (0.3,)
        assert store.keyword_search("bank lava", 5) == volcano
        assert store.keyword_search("bank lava", 5, Filters(source="BBC")) == []
        store.prune_min_chunks = 6
        assert store.match_terms(["bank", "grindavik"]) == [["bank", "grindavik"]]
        assert len(store.keyword_search("bank lava", 5)) == 3
