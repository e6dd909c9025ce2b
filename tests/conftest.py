"""Shared fixtures: the real embedding model (loaded once), settings pointing into tmp folders,
and an index of the bundled seeds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.embed import SentenceTransformerEmbedder, get_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import Ingestor  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402

SEEDS_DIR = PROJECT_ROOT / "seeds"
TAIWAN_ID = "eaa377af9f908790"  # Taiwan security ties / China's 7.2% defence budget rise
TRUMP_ID = "d9ca4110e3c13ed8"  # Taiwan defence spending under Trump (SinoDaily)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return get_embedder(Settings())  # the same instance the backends share


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh index folder, ignoring the developer's QA_* environment."""
    return Settings.from_env({}, index_dir=tmp_path / "index",
                             tiktoken_cache_dir=tmp_path.parent / "tiktoken-cache")


@pytest.fixture
def index(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[Index]:
    """An empty, writable index."""
    with Index.open(settings, embedder=embedder) as opened:
        yield opened


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Path:
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
    copy = tmp_path / "seeded-index"
    shutil.copytree(seeded_dir, copy)
    (copy / "write.lock").unlink(missing_ok=True)
    return Settings.from_env({}, index_dir=copy, tiktoken_cache_dir=tmp_path.parent / "tiktoken-cache")


@pytest.fixture
def seeded_index(seeded_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[Index]:
    with Index.open(seeded_settings, embedder=embedder) as opened:
        yield opened
