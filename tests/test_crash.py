"""The crash loop: `kill -9` of an ingest and of the service at random points, over and over on
one index, checking after each kill (as the next start does) that every acknowledged write is
there, that nothing half-written is (a list POST is all or nothing), and that SQLite and FAISS
agree. The processes use a hashing embedder (tests/crash_worker.py) so each starts in a second."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import httpx
import numpy as np
import pytest

from qa.index import Index
from qa.settings import PROJECT_ROOT
from tests.crash_worker import POOL, article, settings_for
from tests.fakes import FakeEmbedder
from tests.helpers import free_port, wait_until_ready

pytestmark = pytest.mark.integration  # kills real processes

KILLS = 24  # half during ingests, half during served writes
ABSENT = None


class Expectations:
    """What each article may be after a crash: its last acknowledged version, or one whose write
    had begun but was not acknowledged (`None`: absent)."""

    def __init__(self) -> None:
        self.confirmed: dict[str, str | None] = {}
        self.allowed: dict[str, set[str | None]] = {}
        self.in_flight: list[dict[str, str]] = []  # one transaction each: all of it lands or none
        self.acknowledged = 0

    def begin(self, put: dict[str, str], deleted: list[str]) -> None:
        for article_id, title in [*put.items(), *((d, ABSENT) for d in deleted)]:
            self.allowed.setdefault(article_id, {self.confirmed.get(article_id)}).add(title)
        if len(put) > 1:
            self.in_flight.append(put)

    def ack(self, put: dict[str, str], deleted: list[str]) -> None:
        if put in self.in_flight:
            self.in_flight.remove(put)
        for article_id, title in [*put.items(), *((d, ABSENT) for d in deleted)]:
            self.confirmed[article_id] = title
            self.allowed[article_id] = {title}
            self.acknowledged += 1

    def check(self, index: Index) -> list[str]:
        """Violations (acknowledged writes lost, unknown versions); then adopt what is stored."""
        problems = []
        for put in self.in_flight:
            stored = [index.docstore.get_article(a) for a in put]
            landed = sum(1 for a, s in zip(put, stored) if s is not None and s.article.title == put[a])
            if landed not in (0, len(put)):
                problems.append(f"a transaction half landed: {landed} of {put}")
        self.in_flight.clear()
        for article_id, allowed in self.allowed.items():
            stored = index.docstore.get_article(article_id)
            title = stored.article.title if stored else ABSENT
            if title not in allowed:
                problems.append(f"{article_id}: stored {title!r}, expected one of {allowed}")
            self.confirmed[article_id] = title
            self.allowed[article_id] = {title}
        return problems


def stores_agree(index: Index) -> None:
    chunk_ids = {row[0] for row in index.docstore._conn().execute("SELECT id FROM chunks")}
    vector_ids = set() if index.vectors._index is None else \
        set(faiss.vector_to_array(index.vectors._index.id_map).astype(np.int64).tolist())
    assert vector_ids == chunk_ids, f"{len(vector_ids ^ chunk_ids)} ids differ between FAISS and SQLite"
    for article_id in {row[0] for row in index.docstore._conn().execute("SELECT id FROM articles")}:
        stored = index.docstore.get_article(article_id).article
        chunks = index.docstore.chunks_of(article_id)
        assert chunks and all(stored.text[c.start : c.end] == c.text for c in chunks), article_id
    assert not list(index.directory.glob("*.tmp*")), "a temporary file survived the restart"


def kill_ingest(index_dir: Path, tiktoken: Path, rng: random.Random, expect: Expectations, env: dict) -> None:
    process = subprocess.Popen([sys.executable, "-m", "tests.crash_worker", "ingest", str(index_dir), str(tiktoken),
                                str(rng.randrange(10**6))], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline() == "ready\n"
    time.sleep(rng.uniform(0.0, 1.2))
    process.send_signal(signal.SIGKILL)
    process.wait()
    for line in process.stdout:
        kind, _, payload = line.partition(" ")
        entry = json.loads(payload)
        (expect.begin if kind == "begin" else expect.ack)(entry["put"], entry["del"])


def kill_service(index_dir: Path, tiktoken: Path, rng: random.Random, expect: Expectations, env: dict) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.crash_worker", "serve", str(index_dir), str(tiktoken),
                                str(port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, lambda: process.poll() is None)
    stop = threading.Event()
    client_rng = random.Random(rng.random())

    def write_until_killed() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for n in range(10_000):
                if stop.is_set():
                    return
                try:
                    if client_rng.random() < 0.2:
                        victim = f"c{client_rng.randrange(POOL)}"
                        expect.begin({}, [victim])
                        if http.delete(f"/v1/articles/{victim}").status_code in (204, 404):
                            expect.ack({}, [victim])
                    else:
                        batch = {a.id: a for a in (article(client_rng, f"http{port}.{n}.{i}")
                                                   for i in range(client_rng.randint(1, 5)))}
                        put = {a.id: a.title for a in batch.values()}
                        expect.begin(put, [])
                        body = [{"id": a.id, "title": a.title, "text": a.text} for a in batch.values()]
                        response = http.post("/v1/articles", json=body)
                        assert response.status_code == 201, response.text
                        expect.ack(put, [])
                except httpx.TransportError:
                    return  # killed

    writer = threading.Thread(target=write_until_killed)
    writer.start()
    time.sleep(rng.uniform(0.1, 1.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    stop.set()
    writer.join(30)
    assert not writer.is_alive()


def test_kill_9_at_random_points_loses_no_acknowledged_write(tmp_path: Path) -> None:
    index_dir, tiktoken = tmp_path / "index", tmp_path / "tiktoken"
    settings = settings_for(str(index_dir), str(tiktoken))
    with Index.open(settings, embedder=FakeEmbedder()):
        pass  # created
    env = os.environ | {"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1"}
    rng = random.Random(13)
    expect = Expectations()
    started, lost = time.monotonic(), []
    for kill in range(KILLS):
        (kill_ingest if kill % 2 == 0 else kill_service)(index_dir, tiktoken, rng, expect, env)
        with Index.open(settings, embedder=FakeEmbedder()) as index:  # the next start
            lost += expect.check(index)
            stores_agree(index)
    seconds = time.monotonic() - started
    with Index.open(settings, embedder=FakeEmbedder(), writable=False) as index:
        articles = index.docstore.count()[0]
    print(f"{KILLS} kills in {seconds:.0f} s, {expect.acknowledged} acknowledged writes, {articles} articles, "
          f"{len(lost)} lost")
    assert not lost, "\n".join(lost[:10])
    assert expect.acknowledged > 100 and articles > 0
