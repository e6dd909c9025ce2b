"""Helpers the tests share that are not fixtures: seed ids, index copies, a live server."""

from __future__ import annotations

import contextlib
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

from qa.docstore import DocStore
from qa.embed import Embedder
from qa.settings import PROJECT_ROOT, Settings

SEEDS_DIR = PROJECT_ROOT / "seeds"
TAIWAN_ID = "eaa377af9f908790"  # Taiwan security ties / China's 7.2% defence budget rise
TRUMP_ID = "d9ca4110e3c13ed8"  # Taiwan defence spending under Trump (SinoDaily)


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
def live_server(seeded_dir: Path, root: Path, embedder: Embedder, *, apps: list[Any] | None = None,
                **overrides: Any) -> Iterator[str]:
    """The real app (`create_app`) under uvicorn on 127.0.0.1, on a copy of the seeded index;
    yields its base URL once /readyz answers (and appends the app to `apps`, when given)."""
    from qa.api import create_app
    from qa.api.security import server_options

    copy_index(seeded_dir, root / "index")
    port = free_port()
    settings = Settings.from_env({}, index_dir=root / "index", tiktoken_cache_dir=root / "tiktoken",
                                 host="127.0.0.1", port=port, **overrides)
    app = create_app(settings, embedder=embedder)
    if apps is not None:
        apps.append(app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",
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
