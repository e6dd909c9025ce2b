"""Retrieval over the real seeds with the real model: the right passage ranks in the top 3."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.index import Index
from qa.retrieve import Recency, Retriever, published_within, reciprocal_rank_fusion
from qa.settings import Settings
from qa.types import Article, Filters, SearchHit
from tests.helpers import TAIWAN_ID, TRUMP_ID

# (question, article that answers it, a fact the passage must contain)
SEED_QUESTIONS = [
    ("By how much will China increase its defense spending this year?", TAIWAN_ID, "7.2 percent"),
    ("How large is China's defense budget since Xi Jinping took power?", TAIWAN_ID, "1.78 trillion yuan"),
    ("When does Xi want the military modernization to be complete?", TAIWAN_ID, "2035"),
    ("What is China's proposed military budget for 2025?", TAIWAN_ID, "$850 billion"),
    ("Which companies kept providing critical services in Ukraine during the war?", TAIWAN_ID, "Uber and Microsoft"),
    ("Who heads the American Chamber of Commerce in Ukraine?", TAIWAN_ID, "Andy Hunter"),
    ("Why does Taiwan buy weapons from the US rather than Europe?", TAIWAN_ID,
     "Europeans don't want to sell us weapons"),
    ("What economic growth target has China set for 2025?", TAIWAN_ID, "about 5 percent"),
    ("How much did Taipei allocate for defence in 2024?", TRUMP_ID, "$19 billion"),
    ("How much has Taiwan's defence spending grown over the past eight years?", TRUMP_ID, "80 percent"),
    ("Which fighter jets was Taiwan considering requesting from the United States?", TRUMP_ID, "F-35"),
    ("Who is Taiwan's defence minister?", TRUMP_ID, "Wellington Koo"),
    ("Which newspaper reported that Taiwan was mulling a large arms package?", TRUMP_ID, "Financial Times"),
    ("Who had an unprecedented phone call with Trump after his 2016 win?", TRUMP_ID, "Tsai Ing-wen"),
]


@pytest.fixture
def retriever(seeded_index: Index, seeded_settings: Settings) -> Retriever:
    return Retriever(seeded_index, seeded_settings)


@pytest.mark.parametrize(("question", "article_id", "fact"), SEED_QUESTIONS, ids=[q for q, _, _ in SEED_QUESTIONS])
def test_fact_passage_ranks_in_top_3(retriever: Retriever, question: str, article_id: str, fact: str) -> None:
    hits = retriever.search(question, k=3).hits
    assert any(hit.article_id == article_id and fact in hit.text for hit in hits), [
        (h.article_id, h.text[:80]) for h in hits
    ]


def test_hits_carry_metadata_spans_and_scores(retriever: Retriever, seeded_index: Index) -> None:
    hits = retriever.search("Taiwan defence spending", k=5).hits
    assert len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        article = seeded_index.docstore.get_article(hit.article_id).article
        assert article.text[hit.start : hit.end] == hit.text
        assert hit.title == article.title
        assert hit.dense_score is not None and -1.0 <= hit.dense_score <= 1.0


def test_source_filter(retriever: Retriever) -> None:
    hits = retriever.search("defence spending", k=5, filters=Filters(source="sinodaily")).hits
    assert hits and {h.article_id for h in hits} == {TRUMP_ID}
    assert retriever.search("defence spending", k=5, filters=Filters(source="Nobody")).hits == []


def test_date_filter(index: Index, settings: Settings) -> None:
    from qa.ingest import Ingestor

    Ingestor(index, settings).ingest_articles([
        Article(id="old", title="Budget 2019", text="The city council approved the budget for the new bridge.",
                published="2019-05-01"),
        Article(id="new", title="Budget 2024", text="The city council approved the budget for the new tunnel.",
                published="2024-05-01"),
        Article(id="undated", title="Budget", text="The city council approved the budget for the park."),
    ])
    retriever = Retriever(index, settings)
    assert {h.article_id for h in retriever.search("council budget", 5).hits} == {"old", "new", "undated"}
    recent = retriever.search("council budget", 5, Filters(published_from="2020-01-01")).hits
    assert [h.article_id for h in recent] == ["new"]
    window = retriever.search("council budget", 5, Filters(published_from="2019-01-01", published_to="2019-12-31")).hits
    assert [h.article_id for h in window] == ["old"]


def test_filtered_search_falls_back_to_the_exact_allowed_set(index: Index, settings: Settings) -> None:
    from qa.docstore import FILTER_OVERFETCH
    from qa.ingest import Ingestor

    near = [Article(id=f"budget-{n}", title="Council budget", published="2024-05-01",
                    text=f"The city council approved budget number {n} for the new bridge.")
            for n in range(2 * FILTER_OVERFETCH)]
    far = Article(id="garden", title="Gardening", published="2019-05-01", text="Tomatoes grow well in sunny gardens.")
    Ingestor(index, settings).ingest_articles([*near, far])
    # one candidate: the over-fetched unfiltered search holds only 2024 budgets, so the 2019
    # article must come from the exact search over the allowed ids
    retriever = Retriever(index, settings.replace(search_candidates=1))
    hits = retriever.search("council budget", 1, Filters(published_to="2019-12-31")).hits
    assert [h.article_id for h in hits] == ["garden"]
    assert retriever.search("council budget", 1, Filters(published_to="2000-01-01")).hits == []


def test_filtered_keyword_search_falls_back_to_joining_every_match(index: Index, settings: Settings) -> None:
    from qa.ingest import Ingestor

    short = [Article(id=f"b{n}", title="Budget", published="2024-05-01", text=f"Budget budget {n}.") for n in range(6)]
    filler = " ".join(f"The river town number {n} held a quiet fair." for n in range(12))
    old = Article(id="old", title="Old news", published="2019-05-01", text=f"{filler} The budget passed.")
    Ingestor(index, settings).ingest_articles([*short, old])
    docstore = index.docstore
    unfiltered = [docstore.get_chunks([i])[i].chunk.article_id for i in docstore.keyword_search("budget", 7)]
    assert unfiltered.index("old") >= 2
    # the unfiltered ranking two deep holds only 2024 articles: the 2019 one comes from the join
    found = docstore.keyword_search("budget", 1, Filters(published_to="2019-12-31"), overfetch=2)
    assert [docstore.get_chunks(found)[i].chunk.article_id for i in found] == ["old"]
    assert docstore.keyword_search("budget", 1, Filters(published_to="2000-01-01"), overfetch=2) == []


ELECTIONS = [
    # the older story is the closer match to the question's words; the fresher one is still relevant
    Article(id="last-year", title="Mayor election",
            text="Voters elected Ana Silva as mayor of Porto in the mayoral election.",
            published="2023-03-01"),
    Article(id="this-week", title="Porto vote",
            text="Porto voters chose Rui Costa in the election for mayor on Sunday.",
            published="2024-03-03"),
    Article(id="next-year", title="Porto mayor", text="Porto elected a new mayor, Marta Reis, in the election.",
            published="2025-03-02"),
    Article(id="undated", title="Mayors", text="How Porto elects its mayor: an explainer on the mayoral election."),
]


def test_as_of_leaves_out_later_articles_and_prefers_fresh_ones(index: Index, settings: Settings) -> None:
    from qa.ingest import Ingestor

    Ingestor(index, settings).ingest_articles(ELECTIONS)
    question = "Who was elected mayor of Porto in the mayoral election?"
    unweighted = Retriever(index, settings.replace(recency_weight=0.0))
    ranked = [h.article_id for h in unweighted.search(question, 4, Filters(as_of="2024-03-05")).hits]
    assert sorted(ranked) == ["last-year", "this-week", "undated"]  # nothing known to be later
    assert ranked.index("last-year") < ranked.index("this-week")
    fresh = Retriever(index, settings)  # default weight: a two-day-old story beats a year-old one
    ranked = [h.article_id for h in fresh.search(question, 4, Filters(as_of="2024-03-05")).hits]
    assert ranked.index("this-week") < ranked.index("last-year")
    # without an as-of date nothing is left out
    assert len(fresh.search(question, 4).hits) == 4


def test_recency_factor() -> None:
    recency = Recency(weight=0.5, half_life_days=7)
    day = dt.date(2024, 3, 10)
    assert recency.factor("2024-03-10", day) == pytest.approx(1.0)
    assert recency.factor("2024-03-03", day) == pytest.approx(0.75)  # one half-life
    assert recency.factor("2024-03-12", day) == pytest.approx(1.0)  # dated after: as new
    assert recency.factor(None, day) == pytest.approx(0.5)  # undated: as old
    assert recency.factor("not a date", day) == pytest.approx(0.5)
    assert Recency(weight=0.0, half_life_days=7).factor(None, day) == 1.0
    reranked = recency.rerank([(1, 0.030), (2, 0.025)], {1: "2023-01-01", 2: "2024-03-09"}, day)
    assert [chunk_id for chunk_id, _ in reranked] == [2, 1]


def test_published_within_keeps_the_period_before_the_as_of_date_and_undated_hits() -> None:
    def hit(article_id: str, published: str | None) -> SearchHit:
        return SearchHit(article_id=article_id, chunk_id=0, title="", text="", score=1.0, start=0, end=0,
                         published=published)

    hits = [hit("day-of", "2024-03-10"), hit("ten-days", "2024-02-29"), hit("eleven-days", "2024-02-28"),
            hit("undated", None), hit("unreadable", "spring"), hit("later", "2024-03-12")]
    kept = published_within(hits, 10, Filters(as_of="2024-03-10"))
    assert [h.article_id for h in kept] == ["day-of", "ten-days", "undated", "unreadable", "later"]
    today = dt.datetime.now(dt.UTC).date()
    recent = hit("yesterday", (today - dt.timedelta(days=1)).isoformat())
    assert published_within([recent, hits[0]], 10, None) == [recent]  # no as-of date: today


def test_keyword_search_finds_rare_names(seeded_index: Index) -> None:
    ids = seeded_index.docstore.keyword_search("Wellington Koo", 5)
    rows = seeded_index.get_chunks(ids[:1])
    assert "Wellington Koo" in rows[ids[0]].chunk.text


def test_keyword_search_survives_fts_syntax(seeded_index: Index) -> None:
    # Quotes, operators and parentheses in a question must not break the FTS5 query.
    assert isinstance(seeded_index.docstore.keyword_search('"NEAR(AND OR) -- * ^', 5), list)


def test_reciprocal_rank_fusion_prefers_agreement() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert [item for item, _ in fused][:2] == [1, 3]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
