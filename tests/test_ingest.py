"""The ingest pipeline: cleaning, chunk offsets, incremental re-ingest, sync deletions, bad input."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.embed import SentenceTransformerEmbedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.settings import Settings
from qa.types import Article
from tests.helpers import SEEDS_DIR, TRUMP_ID


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to encode."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.encoded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner.encode(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)


@pytest.fixture
def counting(embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def counted_index(settings: Settings, counting: CountingEmbedder):
    with Index.open(settings, embedder=counting) as index:
        yield index


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def news(i: int, extra: str = "") -> dict:
    return {
        "id": f"a{i}",
        "title": f"Harbour report {i}",
        "text": f"The harbour authority in port number {i} reported record cargo volumes this quarter. "
        f"Officials said exports of grain rose sharply.{extra} Dock workers welcomed the news.",
        "published": "2024-01-0" + str(1 + i % 9),
        "source": "Wire",
    }


def test_seeds_are_cleaned_and_chunk_spans_are_exact(seeded_index: Index) -> None:
    for stored in seeded_index.docstore.list_articles():
        article = seeded_index.docstore.get_article(stored.article.id).article
        chunks = seeded_index.docstore.chunks_of(article.id)
        assert chunks, article.id
        for chunk in chunks:
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert "Subscribe Free" not in chunk.text and "Related Links" not in chunk.text
            assert chunk.n_tokens > 0
    trump = seeded_index.docstore.get_article(TRUMP_ID).article
    assert "SinoDaily.com" not in trump.text and trump.source == "SinoDaily"


def test_glued_sentences_are_split(index: Index, settings: Settings) -> None:
    Ingestor(index, settings).ingest_articles([
        Article(id="g", title="Budget", text="The budget for 2025 is $850 billion.Taipei has ramped up spending.")
    ])
    assert "$850 billion. Taipei has" in index.docstore.get_article("g").article.text


def test_reingest_unchanged_does_no_embedding(counted_index: Index, settings: Settings,
                                               counting: CountingEmbedder, tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "news.jsonl.gz", [news(i) for i in range(5)])
    first = Ingestor(counted_index, settings).ingest_paths([corpus])
    assert len(first.added) == 5 and counting.encoded == first.chunks_embedded > 0
    counting.encoded = 0
    second = Ingestor(counted_index, settings).ingest_paths([corpus])
    assert counting.encoded == 0
    assert sorted(second.unchanged) == [f"a{i}" for i in range(5)] and not second.added


def test_changed_article_replaces_its_chunks(counted_index: Index, settings: Settings,
                                             counting: CountingEmbedder, tmp_path: Path) -> None:
    corpus = tmp_path / "news.jsonl"
    write_jsonl(corpus, [news(i) for i in range(3)])
    Ingestor(counted_index, settings).ingest_paths([corpus])
    old_ids = [c.id for c in counted_index.docstore.chunks_of("a1")]
    counting.encoded = 0
    write_jsonl(corpus, [news(0), news(1, " A typhoon closed the container terminal for two days."), news(2)])
    report = Ingestor(counted_index, settings).ingest_paths([corpus])
    assert report.updated == ["a1"] and sorted(report.unchanged) == ["a0", "a2"]
    assert counting.encoded == len(counted_index.docstore.chunks_of("a1"))
    new_chunks = counted_index.docstore.chunks_of("a1")
    assert not set(old_ids) & {c.id for c in new_chunks}
    assert counted_index.get_chunks(old_ids) == {}
    assert len(counted_index.vectors) == counted_index.docstore.count()[1]
    assert not set(old_ids) & set(counted_index.docstore.keyword_search("harbour cargo", 50))
    assert any("typhoon" in c.text for c in new_chunks)


def test_metadata_change_does_not_reembed(counted_index: Index, settings: Settings,
                                          counting: CountingEmbedder) -> None:
    ingestor = Ingestor(counted_index, settings)
    ingestor.ingest_articles([Article(**news(1))])
    counting.encoded = 0
    report = ingestor.ingest_articles([Article(**(news(1) | {"title": "Corrected headline"}))])
    assert report.metadata_updated == ["a1"] and counting.encoded == 0
    assert counted_index.docstore.get_article("a1").article.title == "Corrected headline"


def test_file_removed_from_folder_is_deleted_on_reingest(index: Index, settings: Settings,
                                                         tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(3):
        (folder / f"story{i}.md").write_text(f"---\ntitle: Story {i}\n---\n{news(i)['text']}\n")
    Ingestor(index, settings).ingest_paths([folder])
    assert index.docstore.count()[0] == 3
    (folder / "story1.md").unlink()
    report = Ingestor(index, settings).ingest_paths([folder])
    assert report.deleted == ["story1"]
    assert index.docstore.get_article("story1") is None
    assert len(index.vectors) == index.docstore.count()[1]


def test_delete_removes_vectors_and_text(seeded_index: Index, seeded_settings: Settings) -> None:
    from qa.retrieve import Retriever

    chunk_ids = [c.id for c in seeded_index.docstore.chunks_of(TRUMP_ID)]
    assert seeded_index.delete([TRUMP_ID, "no-such-id"]) == [TRUMP_ID]
    assert seeded_index.docstore.get_article(TRUMP_ID) is None
    assert seeded_index.get_chunks(chunk_ids) == {}
    _, ids = seeded_index.vectors.search(np.eye(1, seeded_index.manifest.dimension, dtype=np.float32), 50)
    assert not set(chunk_ids) & set(ids[0].tolist())
    hits = Retriever(seeded_index, seeded_settings).search("Wellington Koo defence minister", 5).hits
    assert all(h.article_id != TRUMP_ID for h in hits)


def test_bad_input_is_reported_and_the_rest_ingested(index: Index, settings: Settings, tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "mixed.jsonl", [
        news(1),
        "{not json",
        {"id": "no-text", "title": "Missing text"},
        {"id": "empty", "title": "Empty", "text": "   "},
        news(2),
    ])
    boilerplate_only = tmp_path / "promo.md"
    boilerplate_only.write_text("Subscribe Free To Our Daily Newsletters |\nRelated Links\n")
    report = Ingestor(index, settings).ingest_paths([corpus, boilerplate_only, tmp_path / "missing.txt"])
    assert sorted(report.added) == ["a1", "a2"]
    where = {(Path(p.path).name, p.line) for p in report.problems}
    assert {("mixed.jsonl", 2), ("mixed.jsonl", 3), ("mixed.jsonl", 4), ("missing.txt", None)} <= where
    assert any(Path(p.path).name == "promo.md" for p in report.problems)
    text_problem = next(p for p in report.problems if p.line == 3)
    assert "text" in text_problem.message


def test_seed_folder_ingests_both_articles(index: Index, settings: Settings) -> None:
    report = Ingestor(index, settings).ingest_paths([SEEDS_DIR])
    assert sorted(report.added) == sorted(["eaa377af9f908790", TRUMP_ID]) and not report.problems
