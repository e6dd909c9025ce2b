"""Shared fixtures: the real embedding model (loaded once), settings pointing into tmp folders,
and an index of the bundled seeds."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.docstore import DocStore  # noqa: E402
from qa.embed import Embedder, get_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import Ingestor  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402
from tests.servers import milvus_uri, postgres  # noqa: E402,F401  (real servers for QA_STORE=scale)

SEEDS_DIR = PROJECT_ROOT / "seeds"
TAIWAN_ID = "eaa377af9f908790"  # Taiwan security ties / China's 7.2% defence budget rise
TRUMP_ID = "d9ca4110e3c13ed8"  # Taiwan defence spending under Trump (SinoDaily)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder(Settings())  # the default (ONNX) encoder, the same instance the backends share


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


def copy_index(source: Path, destination: Path) -> Path:
    """A private copy of an index folder (without the writer's lock file)."""
    shutil.copytree(source, destination)
    (destination / "write.lock").unlink(missing_ok=True)
    return destination


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(seeded_dir: Path, root: Path, embedder: Embedder, **overrides: Any) -> Iterator[str]:
    """The real app (`create_app`) under uvicorn on 127.0.0.1, on a copy of the seeded index;
    yields its base URL once /readyz answers."""
    from qa.api import create_app
    from qa.api.security import server_options

    copy_index(seeded_dir, root / "index")
    port = free_port()
    settings = Settings.from_env({}, index_dir=root / "index", tiktoken_cache_dir=root / "tiktoken",
                                 host="127.0.0.1", port=port, **overrides)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, embedder=embedder), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on",
                                           **server_options(settings)))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, thread.is_alive)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the server did not shut down"


def wait_until_ready(url: str, alive: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `url`/readyz until it answers 200; fail if the server stops (`alive()` false) or
    `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert alive() and time.monotonic() < deadline, f"the server at {url} did not become ready"
        time.sleep(0.1)


def cap_docstore(monkeypatch: pytest.MonkeyPatch, spare_pages: int) -> None:
    """A full disk, simulated with `PRAGMA max_page_count`: every SQLite connection of the
    document store may grow the file by `spare_pages` pages only."""
    original = DocStore._conn

    def capped(self: DocStore) -> sqlite3.Connection:
        conn = original(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
        return conn

    monkeypatch.setattr(DocStore, "_conn", capped)
