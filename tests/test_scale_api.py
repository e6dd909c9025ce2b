"""The service on Milvus + PostgreSQL (real servers): an answer through the HTTP API, two `qa
serve` replicas that see each other's writes and deletes at once, and a replica killed mid-write
that loses no acknowledged article."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from qa.api import create_app
from qa.embed import Embedder
from qa.settings import PROJECT_ROOT, Settings
from tests.helpers import TAIWAN_ID, free_port, wait_until_ready
from tests.servers import scale_overrides

pytestmark = pytest.mark.integration
QUESTION = "By how much will China increase its defense spending this year?"


def test_ask_through_the_http_api_on_milvus_and_postgres(tmp_path: Path, embedder: Embedder, postgres,
                                                         milvus_uri: str) -> None:
    settings = Settings.from_env({}, index_dir=tmp_path / "unused", tiktoken_cache_dir=tmp_path / "tiktoken",
                                 rate_limit_per_minute=0, **scale_overrides(postgres, milvus_uri))
    with TestClient(create_app(settings, embedder=embedder)) as client:  # ingests the seeds
        response = client.post("/v1/ask", json={"question": QUESTION, "k": 5})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert not answer["refused"] and "7.2" in answer["answer"]
        assert any(c["article_id"] == TAIWAN_ID and "7.2" in c["quote"] for c in answer["citations"])
        citation = answer["citations"][0]
        article = client.get(f"/v1/articles/{citation['article_id']}").json()
        assert article["text"][citation["start"]:citation["end"]] == citation["quote"]


class Replica:
    """`python -m qa.cli serve` on the shared servers (the real ONNX encoder)."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--port", str(self.port), "--index", str(root / "unused")],
            env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self) -> Replica:
        wait_until_ready(self.url, lambda: self.process.poll() is None)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(30)


@pytest.fixture(scope="module")
def replica_env(tmp_path_factory: pytest.TempPathFactory, postgres, milvus_uri: str) -> dict[str, str]:
    root = tmp_path_factory.mktemp("replicas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {f"QA_{k.upper()}": v for k, v in scale_overrides(postgres, milvus_uri).items()}
    env |= {"QA_SEEDS_DIR": str(root / "no-seeds"), "QA_TIKTOKEN_CACHE_DIR": str(root / "tiktoken"),
            "QA_RATE_LIMIT_PER_MINUTE": "0", "QA_RECENCY_WEIGHT": "0", "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(PROJECT_ROOT), "QA_ENCODER_THREADS": "1"}
    return env


@pytest.fixture(scope="module")
def replicas(replica_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    root = tmp_path_factory.mktemp("replica-roots")
    started = [Replica(replica_env, root / "a"), Replica(replica_env, root / "b")]
    try:
        yield [replica.wait() for replica in started]
    finally:
        for replica in started:
            replica.stop()


def found(url: str, query: str, article_id: str) -> bool:
    results = httpx.get(f"{url}/v1/search", params={"q": query, "k": 3}, timeout=30).json()["results"]
    return article_id in [r["article_id"] for r in results]


def test_replicas_see_each_others_writes_and_deletes_at_once(replicas: list[Replica]) -> None:
    a, b = replicas
    body = [{"id": "okapi", "title": "Okapi calf born at the zoo",
             "text": "An okapi calf was born at the city zoo, the first of the rare forest giraffes bred there."}]
    assert httpx.post(f"{a.url}/v1/articles", json=body, timeout=30).status_code == 201
    assert found(b.url, "okapi calf zoo", "okapi")  # the next search on the other replica
    assert httpx.get(f"{b.url}/v1/articles/okapi", timeout=30).status_code == 200
    assert httpx.delete(f"{b.url}/v1/articles/okapi", timeout=30).status_code == 204
    assert not found(a.url, "okapi calf zoo", "okapi")
    assert httpx.get(f"{a.url}/v1/articles/okapi", timeout=30).status_code == 404


def test_a_replica_killed_mid_write_loses_no_acknowledged_article(
        replicas: list[Replica], replica_env: dict[str, str], tmp_path: Path) -> None:
    survivor = replicas[1]
    victim = Replica(replica_env, tmp_path).wait()
    acknowledged: list[str] = []

    def write_until_killed() -> None:
        with httpx.Client(base_url=victim.url, timeout=30) as http:
            for n in range(10_000):
                article_id = f"kill{n}"
                body = [{"id": article_id, "title": f"Bulletin {n}",
                         "text": f"Bulletin number {n} reports that the marker word zq{n}x appeared. " * 3}]
                try:
                    if http.post("/v1/articles", json=body).status_code == 201:
                        acknowledged.append(article_id)
                except httpx.TransportError:
                    return

    writer = threading.Thread(target=write_until_killed)
    writer.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.stop(signal.SIGKILL)  # mid-write: requests are in flight
    writer.join(30)
    assert len(acknowledged) >= 5
    for article_id in acknowledged:
        n = article_id.removeprefix("kill")
        assert httpx.get(f"{survivor.url}/v1/articles/{article_id}", timeout=30).status_code == 200
        assert found(survivor.url, f"zq{n}x bulletin {n}", article_id), article_id
