"""Error responses: every response carries X-Request-ID, and every 5xx is logged with its cause
and that id."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from qa.api import create_app
from qa.docstore import DocStore
from qa.embed import Embedder
from qa.settings import Settings
from tests.fakes import FakeBackend
from tests.helpers import cap_docstore, copy_index

BROKEN_MODEL = "broken-with-a-bug"


# Fails the way a bug does: not a BackendError, an unexpected exception
BUGGY = FakeBackend(BROKEN_MODEL, error=lambda: ZeroDivisionError("a bug deep in the backend"))


@pytest.fixture(scope="module")
def client(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder,
           fake_backends: Callable[[FakeBackend], FakeBackend]) -> Iterator[TestClient]:
    fake_backends(BUGGY)
    root = tmp_path_factory.mktemp("errors")
    settings = Settings.from_env({}, index_dir=copy_index(seeded_dir, root / "index"),
                                 tiktoken_cache_dir=root / "tiktoken", rate_limit_per_minute=0,
                                 allowed_models=(BROKEN_MODEL,))
    with TestClient(create_app(settings, embedder=embedder)) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz"), ("GET", "/no/such/page"), ("GET", "/v1/articles/x"),
                                              ("POST", "/v1/search"), ("GET", "/v1/articles?limit=0")])
def test_every_response_carries_a_request_id(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert len(response.headers["x-request-id"]) == 32
    ids = {client.request(method, path).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3  # one per request


def test_a_sane_client_request_id_is_kept_and_a_hostile_one_replaced(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"}).headers["x-request-id"] == "lb-7f3a.42"
    replaced = client.get("/healthz", headers={"X-Request-ID": "x\tinjected" + "y" * 100}).headers["x-request-id"]
    assert replaced != "x\tinjected" + "y" * 100 and len(replaced) == 32


def test_a_bug_is_a_logged_500_with_the_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="qa.api"):
        response = client.post("/v1/ask", json={"question": "What did China say?", "model": BROKEN_MODEL})
    assert response.status_code == 500
    rid = response.headers["x-request-id"]
    assert rid in response.json()["detail"] and "a bug deep" not in response.text  # no internals leak
    logged = [r for r in caplog.records if rid in r.getMessage()]
    assert logged and "ZeroDivisionError: a bug deep in the backend" in logged[0].getMessage()
    assert logged[0].exc_info is not None  # with the traceback


def test_a_failing_stream_logs_its_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="qa.api"):
        response = client.post("/v1/ask/stream", json={"question": "What did China say?", "model": BROKEN_MODEL})
    assert response.status_code == 200 and "event: error" in response.text
    rid = response.headers["x-request-id"]
    assert any(rid in r.getMessage() and "ZeroDivisionError" in r.getMessage() for r in caplog.records)


# --- disk full over HTTP ---------------------------------------------------------------------
def test_a_write_on_a_full_disk_is_507_and_stores_nothing(client: TestClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    articles = [{"id": f"full{i}", "title": f"Full {i}", "text": f"Story {i} about the port. " * 300} for i in range(3)]
    cap_docstore(monkeypatch, spare_pages=2)
    response = client.post("/v1/articles", json=articles)
    assert response.status_code == 507, response.text
    detail = response.json()["detail"]
    assert "the disk is full" in detail and "nothing of this write was stored" in detail
    monkeypatch.undo()
    for i in range(3):
        assert client.get(f"/v1/articles/full{i}").status_code == 404


def test_a_write_that_landed_is_acknowledged_even_if_the_vector_file_cannot_be_saved(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("qa.vectorstore.os.fsync", no_space)
    article = {"id": "landed", "title": "Landed", "text": "The harbour reopened on Monday after the storm."}
    response = client.post("/v1/articles", json=article)
    monkeypatch.undo()
    assert response.status_code == 201, response.text
    hits = client.get("/v1/search", params={"q": "harbour reopened after the storm", "k": 1}).json()["results"]
    assert hits[0]["article_id"] == "landed"


def test_a_damaged_document_store_is_a_503_saying_so(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def malformed(self: DocStore, **_: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(DocStore, "list_articles", malformed)
    with caplog.at_level(logging.ERROR, logger="qa.api"):
        response = client.get("/v1/articles")
    assert response.status_code == 503
    assert "docs.sqlite" in response.json()["detail"] and "malformed" in response.json()["detail"]
    assert any(response.headers["x-request-id"] in r.getMessage() for r in caplog.records)
