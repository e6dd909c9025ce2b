"""The composition root hands one set of objects down; nothing is shared through module state."""

from __future__ import annotations

from pathlib import Path

from qa.answer_types import AskRequest
from qa.backends import REFUSAL, Refusal
from qa.components import Components
from qa.settings import Settings
from qa.support import LexicalSemanticScorer
from qa.types import Article
from tests.fakes import FakeBackend, FakeEmbedder


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    overrides.setdefault("answer_model_weight", 0.0)  # unit tests: the extractive backend loads no answer model
    return Settings.from_env({}, index_dir=tmp_path / "index", tiktoken_cache_dir=tmp_path / "tiktoken",
                             seeds_dir=tmp_path / "no-seeds", **overrides)


def test_every_part_gets_the_embedder_it_was_given(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    settings = make_settings(tmp_path, support_scorer="lexical")  # the scorer that uses the embedder
    with Components(settings, embedder=fake) as root, root.open_index(writable=True, create=True) as index:
        answerer = root.answerer(index)
        assert answerer.embedder is fake and index.embedder is fake
        assert answerer.scorer is root.scorer
        assert isinstance(answerer.scorer, LexicalSemanticScorer) and answerer.scorer.embedder is fake
        extractive = answerer.backends.get("extractive")
        assert getattr(extractive, "embedder", None) is fake
        assert answerer.backends is root.backends and answerer.gate is root.gate
        assert root.retriever(index).query_encoder is root.query_encoder


def test_two_roots_share_no_backend(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with Components(settings, embedder=FakeEmbedder()) as one, Components(settings, embedder=FakeEmbedder()) as two:
        assert one.backends.get("extractive") is one.backends.get("extractive")
        assert one.backends.get("extractive") is not two.backends.get("extractive")
        assert one.gate is not two.gate


def test_a_typed_refusal_refuses_without_checking_the_text(tmp_path: Path, fake_backends) -> None:  # noqa: ANN001
    declining = fake_backends(FakeBackend("declining", [Refusal(REFUSAL)]))
    settings = make_settings(tmp_path, allowed_models=("extractive", declining.name))
    with Components(settings, embedder=FakeEmbedder()) as root, root.open_index(writable=True,
                                                                              create=True) as index:
        root.ingestor(index).ingest_articles([Article(id="a", title="Budget", text="The council raised the "
                                                      "budget by 7.2 percent this year, officials said.")])
        events = list(root.answerer(index).stream(AskRequest(question="budget", model=declining.name)))
    answer = events[-1].answer  # type: ignore[attr-defined]
    assert answer.passages and answer.refused and answer.checks == [] and answer.citations == []
    deltas = [e.text for e in events if type(e).__name__ == "DeltaEvent"]
    assert deltas == [REFUSAL] and all(type(d) is str for d in deltas)
