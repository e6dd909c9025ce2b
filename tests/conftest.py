"""Shared fixtures: the real embedding model (loaded once), settings pointing into tmp folders,
an index of the bundled seeds, and the fakes of tests/fakes.py.

Every test is marked: `unit` when it uses none of the model fixtures below (a guard makes loading
a model or starting a process fail in it), else `integration` unless it is `browser` or
`local_llm`. `pytest -m unit` runs the fast half."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.answer_model import AnswerModel, load_answer_model  # noqa: E402
from qa.backends import register_backend, unregister_backend  # noqa: E402
from qa.embed import Embedder, load_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import Ingestor  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.support_model import SupportModel, load_support_model  # noqa: E402
from tests.fakes import FakeBackend, FakeEmbedder  # noqa: E402
from tests.helpers import SEEDS_DIR, copy_index  # noqa: E402
from tests.servers import milvus_uri, postgres  # noqa: E402,F401  (real servers for QA_STORE=scale)

# fixtures that load a model (directly or through the ones they use)
MODEL_FIXTURES = {"embedder", "answer_model", "support_model", "index", "seeded_dir", "seeded_settings", "seeded_index"}
OTHER_KINDS = ("integration", "browser", "local_llm")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(kind) for kind in OTHER_KINDS):
            continue
        uses_model = MODEL_FIXTURES & set(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.integration if uses_model else pytest.mark.unit)


def _no_model(what: str) -> Callable[..., None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test {what}: use tests/fakes.py, or a model fixture (it is then "
                             "an integration test)")

    return refuse


@pytest.fixture(autouse=True)
def _unit_tests_load_no_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a `unit` test, loading a model or starting a process fails the test."""
    if request.node.get_closest_marker("unit") is None:
        return
    import qa.answer_model
    import qa.backends.local
    import qa.embed
    import qa.support_model

    monkeypatch.setattr(qa.embed.OnnxEmbedder, "__init__", _no_model("loaded the ONNX encoder"))
    monkeypatch.setattr(qa.embed.SentenceTransformerEmbedder, "__init__", _no_model("loaded the torch encoder"))
    monkeypatch.setattr(qa.answer_model.AnswerModel, "__init__", _no_model("loaded the answer model"))
    monkeypatch.setattr(qa.support_model.SupportModel, "__init__", _no_model("loaded the support model"))
    monkeypatch.setattr(qa.backends.local.LocalBackend, "__init__", _no_model("started the local LLM"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _no_model("started a process"))


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedder:
    """Hashing vectors of MiniLM's dimension: no model loaded."""
    return FakeEmbedder()


@pytest.fixture(scope="module")
def fake_backends() -> Iterator[Callable[[FakeBackend], FakeBackend]]:
    """`fake_backends(FakeBackend(name, ...))` registers a fake backend for the apps this module
    builds; every one is unregistered after the module."""
    names: list[str] = []

    def register(backend: FakeBackend) -> FakeBackend:
        register_backend(backend.name, backend.factory)
        names.append(backend.name)
        return backend

    yield register
    for name in names:
        unregister_backend(name)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(Settings())  # the default (ONNX) encoder, handed to every index and app


@pytest.fixture(scope="session")
def answer_model() -> AnswerModel:
    """The shipped answer-sentence model, loaded once."""
    return load_answer_model()


@pytest.fixture(scope="session")
def support_model() -> SupportModel:
    """The shipped support model, loaded once."""
    return load_support_model()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh index folder, ignoring the developer's QA_* environment."""
    return Settings.from_env({}, index_dir=tmp_path / "index",
                             tiktoken_cache_dir=tmp_path.parent / "tiktoken-cache")


@pytest.fixture
def index(settings: Settings, embedder: Embedder) -> Iterator[Index]:
    """An empty, writable index."""
    with Index.open(settings, embedder=embedder) as opened:
        yield opened


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index folder holding the ingested seeds, built once per session."""
    root = tmp_path_factory.mktemp("seeded")
    settings = Settings.from_env({}, index_dir=root / "index", tiktoken_cache_dir=root / "tiktoken")
    with Index.open(settings, embedder=embedder) as index:
        report = Ingestor(index, settings).ingest_paths([SEEDS_DIR])
    assert not report.problems and len(report.added) == 2
    return root / "index"


@pytest.fixture
def seeded_settings(seeded_dir: Path, tmp_path: Path) -> Settings:
    """Settings for a private copy of the seeded index (tests may write to it)."""
    copy = copy_index(seeded_dir, tmp_path / "seeded-index")
    return Settings.from_env({}, index_dir=copy, tiktoken_cache_dir=tmp_path.parent / "tiktoken-cache")


@pytest.fixture
def seeded_index(seeded_settings: Settings, embedder: Embedder) -> Iterator[Index]:
    with Index.open(seeded_settings, embedder=embedder) as opened:
        yield opened


