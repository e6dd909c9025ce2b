"""Store contract: the embedded stack (FAISS + SQLite) and the scale-out stack (Milvus +
PostgreSQL, real servers) behave the same through `Index.open`, the ingest and the retriever:
upsert, replace, delete, filters, as-of, hybrid fusion and incremental ingest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qa.embed import Embedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.retrieve import Retriever
from qa.settings import Settings
from qa.types import Article, Filters
from tests.servers import scale_overrides
from tests.store_corpus import CORPUS, QUERIES

pytestmark = pytest.mark.integration

@pytest.fixture(params=["embedded", "scale"])
def stack(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings for an empty index on one stack (recency off: results depend on content only)."""
    if request.param == "embedded":
        return settings.replace(recency_weight=0.0)
    overrides = scale_overrides(request.getfixturevalue("postgres"), request.getfixturevalue("milvus_uri"))
    return settings.replace(recency_weight=0.0, **overrides)


@pytest.fixture
def opened(stack: Settings, embedder: Embedder) -> Iterator[Index]:
    with Index.open(stack, embedder=embedder) as index:
        Ingestor(index, stack).ingest_articles(CORPUS)
        yield index


def top_articles(index: Index, settings: Settings, query: str, k: int = 3,
                 filters: Filters | None = None) -> list[str]:
    return [hit.article_id for hit in Retriever(index, settings).search(query, k, filters).hits]


def test_search_finds_each_article_by_its_topic(opened: Index, stack: Settings) -> None:
    assert opened.docstore.count() == (5, 5)
    assert len(opened.vectors) == 5
    for query, expected in zip(QUERIES, ["volcano", "rates", "chess", "undated"]):
        assert top_articles(opened, stack, query)[0] == expected
    hit = Retriever(opened, stack).search("volcano lava Grindavik", 1).hits[0]
    assert hit.dense_score is not None and hit.keyword_rank == 1  # both legs fused


def test_filters_and_as_of(opened: Index, stack: Settings) -> None:
    query = "central bank interest rates"
    assert set(top_articles(opened, stack, query, 2)) == {"rates", "rates-old"}
    assert top_articles(opened, stack, query, 5, Filters(source="bbc")) in (["rates", "rates-old"],
                                                                           ["rates-old", "rates"])
    assert "rates" not in top_articles(opened, stack, query, 5, Filters(as_of="2023-12-31"))
    as_of = top_articles(opened, stack, "dinosaur", 5, Filters(as_of="2023-12-31"))
    assert "undated" in as_of and "chess" not in as_of  # an undated article stays
    dated = top_articles(opened, stack, query, 5, Filters(published_from="2024-01-01", published_to="2024-02-28"))
    assert set(dated) <= {"volcano", "rates"} and "rates" in dated
    assert top_articles(opened, stack, query, 5, Filters(source="Nobody")) == []
    assert opened.docstore.keyword_search(query, 5, Filters(source="BBC")) and \
        not opened.docstore.keyword_search("volcano", 5, Filters(source="BBC"))
    fresh = stack.replace(recency_weight=0.9, recency_half_life_days=7.0)  # freshness from the as-of day
    assert "volcano" not in top_articles(opened, stack, query, 2, Filters(as_of="2024-02-02"))
    # a fortnight-old story on another subject outranks a half-year-old one on this subject
    assert top_articles(opened, fresh, query, 2, Filters(as_of="2024-02-02")) == ["rates", "volcano"]


def test_replace_and_delete(opened: Index, stack: Settings) -> None:
    ingestor = Ingestor(opened, stack)
    old_ids = [c.id for c in opened.docstore.chunks_of("chess")]
    changed = Article(id="chess", title="Teenager wins chess championship",
                      text="A sixteen-year-old grandmaster won the national chess championship with a "
                           "brilliant queen sacrifice in the final round.", published="2024-03-10", source="Reuters")
    report = ingestor.ingest_articles([changed])
    assert report.updated == ["chess"]
    new_ids = [c.id for c in opened.docstore.chunks_of("chess")]
    assert not set(old_ids) & set(new_ids)
    hit = Retriever(opened, stack).search("queen sacrifice", 1).hits[0]
    assert hit.article_id == "chess" and "queen sacrifice" in hit.text
    assert len(opened.vectors) == 5
    assert opened.delete(["volcano", "missing"]) == ["volcano"]
    assert opened.docstore.get_article("volcano") is None
    assert "volcano" not in top_articles(opened, stack, "volcano eruption lava", 5)
    assert len(opened.vectors) == 4 and opened.docstore.count() == (4, 4)


def test_incremental_ingest_writes_nothing_twice(opened: Index, stack: Settings) -> None:
    report = Ingestor(opened, stack).ingest_articles(CORPUS)
    assert report.unchanged == [a.id for a in CORPUS] and not report.added
    assert opened.docstore.count() == (5, 5) and len(opened.vectors) == 5


def test_both_stacks_rank_alike(settings: Settings, embedder: Embedder, postgres, milvus_uri: str) -> None:
    embedded = settings.replace(recency_weight=0.0)
    scale = embedded.replace(**scale_overrides(postgres, milvus_uri))
    results = {}
    for name, s in (("embedded", embedded), ("scale", scale)):
        with Index.open(s, embedder=embedder) as index:
            Ingestor(index, s).ingest_articles(CORPUS)
            retriever = Retriever(index, s)
            results[name] = [[h.article_id for h in retriever.search(q, 2).hits] for q in QUERIES]
            results[name + "-dense"] = [
                [round(h.dense_score, 4) for h in retriever.search(q, 1).hits] for q in QUERIES]
    assert results["embedded"] == results["scale"]
    assert results["embedded-dense"] == results["scale-dense"]


def test_replicas_writing_the_same_articles_at_once_stay_consistent(settings: Settings, embedder: Embedder,
                                                                     postgres, milvus_uri: str) -> None:
    """Two index objects (as two replicas) upsert and delete the same articles concurrently: no
    lock file, and afterwards every article holds the chunks of exactly one version, with a
    vector for each chunk and none left over."""
    import threading

    scale = settings.replace(recency_weight=0.0, **scale_overrides(postgres, milvus_uri))
    with Index.open(scale, embedder=embedder) as first, Index.open(scale, embedder=embedder) as second:
        vectors = embedder.encode(["shared story"])[0]
        errors: list[BaseException] = []

        def writer(index: Index, label: str) -> None:
            from qa.docstore import StoredArticle
            from qa.types import Chunk

            try:
                for n in range(12):
                    article = Article(id=f"s{n % 4}", title=f"{label} {n}", text=f"{label} version {n}")
                    chunk = Chunk(article_id=article.id, position=0, text=article.text, start=0,
                                  end=len(article.text), n_tokens=3)
                    if n % 5 == 4:
                        index.delete([article.id])
                    else:
                        index.write(upserts=[(StoredArticle(article, f"{label}{n}", "m", None), [chunk],
                                              vectors[None, :])])
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i, name)) for i, name in ((first, "a"), (second, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        n_articles, n_chunks = first.docstore.count()
        assert n_chunks == n_articles and len(first.vectors) == n_chunks
        for stored in first.docstore.list_articles():
            chunks = first.docstore.chunks_of(stored.article.id)
            assert [c.text for c in chunks] == [first.docstore.get_article(stored.article.id).article.text]
        assert not first.docstore.pending_removals()


TRICKY_SOURCE = 'The "Quoted" \\ O\'Brien Post'


@pytest.fixture
def scale(settings: Settings, embedder: Embedder, postgres, milvus_uri: str) -> Iterator[tuple[Index, Settings]]:
    s = settings.replace(recency_weight=0.0, **scale_overrides(postgres, milvus_uri))
    with Index.open(s, embedder=embedder) as index:
        Ingestor(index, s).ingest_articles(CORPUS)
        yield index, s


def dense_ids(index: Index, query: str, filters: Filters) -> list[str] | None:
    """The articles Milvus itself returns for `filters` (None: it declined to filter)."""
    found = index.vectors.search_filtered(index.embedder.encode([query]), 10, filters)
    if found is None:
        return None
    rows = index.docstore.get_chunks([int(i) for i in found[1][0] if i >= 0])
    return sorted({row.chunk.article_id for row in rows.values()})


def test_filters_run_inside_milvus_in_one_search(scale: tuple[Index, Settings], monkeypatch) -> None:
    """Source and dates go to Milvus as one boolean expression: no chunk-id lists, no PostgreSQL
    filtering of the dense leg, and a source with quotes and a backslash stays one literal."""
    index, s = scale
    Ingestor(index, s).ingest_articles([Article(id="quoted", title="Harbour bridge reopens", text=(
        "The harbour bridge reopened to traffic after a year of repairs to its steel cables."),
        published="2024-02-20", source=TRICKY_SOURCE)])
    expressions: list[str] = []
    search = index.vectors.client.search

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        expressions.append(kwargs["filter"])
        return search(*args, **kwargs)

    def refuse(*_: object) -> None:
        raise AssertionError("the dense leg filtered in PostgreSQL")

    monkeypatch.setattr(index.vectors.client, "search", recording)
    monkeypatch.setattr(index.docstore, "filtered_chunk_ids", refuse)
    monkeypatch.setattr(index.docstore, "passing", refuse)
    assert top_articles(index, s, "bridge cables repairs", 5, Filters(source=TRICKY_SOURCE.upper())) == ["quoted"]
    assert top_articles(index, s, "bridge cables repairs", 5, Filters(source='The "Quoted"')) == []
    bbc = top_articles(index, s, "central bank interest rates", 5, Filters(source="bbc"))
    assert set(bbc) == {"rates", "rates-old"}
    dated = top_articles(index, s, "central bank interest rates", 5, Filters(published_to="2024-01-31"))
    assert set(dated) <= {"volcano", "rates-old"} and "rates-old" in dated
    assert "undated" in top_articles(index, s, "dinosaur", 5, Filters(as_of="2023-12-31"))
    assert len(expressions) == 5 and not any("id in" in e for e in expressions)
    assert expressions[0].startswith('source == "the \\"quoted\\" \\\\ o\'brien post"')
    assert dense_ids(index, "bridge", Filters(source=TRICKY_SOURCE)) == ["quoted"]
    assert dense_ids(index, "bridge", Filters(published_from="2024-02-02")) == ["chess", "quoted"]
    assert dense_ids(index, "bridge", Filters(published_to="2024-02-01")) == ["rates", "rates-old", "volcano"]
    assert dense_ids(index, "bridge", Filters(as_of="2024-01-31")) == ["rates-old", "undated", "volcano"]


def test_metadata_updates_reach_the_milvus_rows(scale: tuple[Index, Settings]) -> None:
    """Same text, new source and date: no re-embedding, and the Milvus rows filter by the new
    values; a sync cut short (the replica died) is finished by `catch_up`."""
    index, s = scale
    rates = next(a for a in CORPUS if a.id == "rates")
    moved = Article(id="rates", title=rates.title, text=rates.text, published="2022-05-05", source="Reuters")
    chunk_ids = [c.id for c in index.docstore.chunks_of("rates")]
    report = Ingestor(index, s).ingest_articles([moved])
    assert report.metadata_updated == ["rates"] and [c.id for c in index.docstore.chunks_of("rates")] == chunk_ids
    assert "rates" in dense_ids(index, "interest", Filters(source="reuters"))
    assert "rates" not in dense_ids(index, "interest", Filters(source="BBC"))
    assert "rates" in dense_ids(index, "interest", Filters(published_to="2022-12-31"))
    assert not index.docstore.pending_metadata()

    from qa.docstore import StoredArticle
    from qa.ingest import meta_hash, text_hash

    again = Article(id="rates", title=rates.title, text=rates.text, published=None, source="AP")
    index.docstore.apply([], metadata_updates=[StoredArticle(again, text_hash(again), meta_hash(again), None)])
    assert index.docstore.pending_metadata() == ["rates"]  # PostgreSQL committed, Milvus not told yet
    assert "rates" in dense_ids(index, "interest", Filters(source="reuters"))
    index.catch_up()
    assert not index.docstore.pending_metadata()
    assert "rates" in dense_ids(index, "interest", Filters(source="ap"))
    assert "rates" not in dense_ids(index, "interest", Filters(source="reuters"))
    assert "rates" in dense_ids(index, "interest", Filters(as_of="2000-01-01"))  # undated now


def test_a_collection_without_scalar_fields_filters_by_chunk_ids(settings: Settings, embedder: Embedder,
                                                                  postgres, milvus_uri: str) -> None:
    """A collection made before the scalar fields existed keeps working: Milvus declines to
    filter, the retriever filters the way it did (PostgreSQL ids); a rebuild into a new
    collection adds the fields."""
    from pymilvus import DataType, MilvusClient

    s = settings.replace(recency_weight=0.0, **scale_overrides(postgres, milvus_uri))
    client = MilvusClient(uri=milvus_uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=embedder.dimension)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(s.milvus_collection, schema=schema, index_params=index_params)
    with Index.open(s, embedder=embedder) as index:
        Ingestor(index, s).ingest_articles(CORPUS)
        assert not index.vectors.has_scalars
        assert dense_ids(index, "interest", Filters(source="bbc")) is None
        assert set(top_articles(index, s, "central bank interest rates", 5, Filters(source="bbc"))) == {
            "rates", "rates-old"}
        moved = next(a for a in CORPUS if a.id == "rates")
        Ingestor(index, s).ingest_articles([Article(id="rates", title=moved.title, text=moved.text, source="AP")])
        assert not index.docstore.pending_metadata()
    rebuilt = s.replace(milvus_collection=s.milvus_collection + "_v2")
    with Index.open(rebuilt, embedder=embedder) as index:
        index.rebuild_vectors()
        assert index.vectors.has_scalars and len(index.vectors) == 5
        assert dense_ids(index, "interest", Filters(source="bbc")) == ["rates-old"]


def test_keyword_candidates_leave_out_common_words(scale: tuple[Index, Settings]) -> None:
    """PostgreSQL ranks only the chunks holding a question's less common words (shares from the
    column's statistics), by all its words; with no statistics yet, every word picks chunks."""
    index, _ = scale
    store = index.docstore
    assert store.match_terms(["bank", "grindavik"]) == [["bank", "grindavik"]]  # not analysed yet
    store._conn().execute("ANALYZE qa_chunks")
    store._shares = None  # the cached statistics, read again
    assert store.term_shares()["bank"] == pytest.approx(0.4)  # 2 of the 5 chunks
    store.common_shares = (0.3, 1.0)
    assert store.match_terms(["bank", "grindavik", "the"]) == [["grindavik"], ["bank", "grindavik"]]
    assert store.keyword_search("bank lava", 5)[:1] == [c.id for c in store.chunks_of("volcano")]
    assert len(store.keyword_search("bank lava", 5)) == 3  # too few with "lava": "bank" follows
    store.common_shares = (0.3,)
    assert len(store.keyword_search("bank lava", 5)) == 1
