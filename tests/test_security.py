"""Security defaults, probed as an attacking web page or client would: CORS, cross-site writes,
the write policy without a key, /metrics under the read policy, and forged proxy headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from qa.api import create_app
from qa.api.security import server_options, startup_summary
from qa.embed import Embedder
from qa.settings import Settings, SettingsError
from tests.helpers import copy_index, live_server

ARTICLE = {"id": "planted", "title": "Planted", "text": "A page on another site planted this article."}
EVIL = "https://evil.example"


def make_settings(seeded_dir: Path, root: Path, **overrides: Any) -> Settings:
    index_dir = copy_index(seeded_dir, root / "index")
    return Settings.from_env({}, index_dir=index_dir, tiktoken_cache_dir=root / "tiktoken",
                             rate_limit_per_minute=0, **overrides)


@pytest.fixture(scope="module")
def default_client(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                   embedder: Embedder) -> Iterator[TestClient]:
    """The app with default settings (listening on 127.0.0.1, no key, no CORS origins)."""
    settings = make_settings(seeded_dir, tmp_path_factory.mktemp("sec-default"))
    with TestClient(create_app(settings, embedder=embedder)) as client:
        yield client


def test_no_cors_by_default_and_an_empty_setting_means_none(default_client: TestClient) -> None:
    assert Settings().cors_origins == ()
    assert Settings.from_env({"QA_CORS_ORIGINS": ""}).cors_origins == ()
    response = default_client.get("/v1/articles", headers={"Origin": EVIL})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = default_client.options("/v1/articles/x", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "DELETE"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cross_site_simple_post_cannot_plant_an_article(default_client: TestClient) -> None:
    # what a form or fetch(no-cors) on another site sends: text/plain, its own Origin
    planted = default_client.post("/v1/articles", content=httpx.Request("POST", "/", json=ARTICLE).content,
                                  headers={"Content-Type": "text/plain", "Origin": EVIL})
    assert planted.status_code == 403 and EVIL in planted.json()["detail"]
    json_from_elsewhere = default_client.post("/v1/articles", json=ARTICLE, headers={"Origin": EVIL})
    assert json_from_elsewhere.status_code == 403
    delete = default_client.delete("/v1/articles/eaa377af9f908790", headers={"Origin": "null"})
    assert delete.status_code == 403
    ask = default_client.post("/v1/ask", json={"question": "q"}, headers={"Origin": EVIL})
    assert ask.status_code == 403
    # no Origin (curl, scripts) but not JSON: refused too, saying what to send
    plain = default_client.post("/v1/articles", content=b'{"id": "x"}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["detail"]
    form = default_client.post("/v1/ask", data={"question": "q"})
    assert form.status_code == 415
    assert default_client.get("/v1/articles/planted").status_code == 404


def test_same_origin_pages_and_scripts_still_write(default_client: TestClient) -> None:
    same_origin = default_client.post("/v1/articles", json={**ARTICLE, "id": "own-page"},
                                      headers={"Origin": "http://testserver.local"})
    assert same_origin.status_code == 201
    charset = default_client.post("/v1/articles", content=b'{"id": "script", "title": "S", "text": "Scripted text."}',
                                  headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 201
    assert default_client.delete("/v1/articles/own-page").status_code == 204
    behind_a_proxy = default_client.post("/v1/articles", json={**ARTICLE, "id": "own-page"}, headers={
        "Origin": "https://qa.example", "Host": "127.0.0.1:8000", "X-Forwarded-Host": "qa.example"})
    assert behind_a_proxy.status_code == 201
    assert default_client.delete("/v1/articles/own-page").status_code == 204
    assert default_client.delete("/v1/articles/script").status_code == 204


def test_named_origins_get_cors_and_may_write(seeded_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = make_settings(seeded_dir, tmp_path, cors_origins=("https://news.example",), api_key="k")
    with TestClient(create_app(settings, embedder=embedder)) as client:
        preflight = client.options("/v1/articles", headers={
            "Origin": "https://news.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key"})
        assert preflight.headers["access-control-allow-origin"] == "https://news.example"
        written = client.post("/v1/articles", json=ARTICLE,
                              headers={"Origin": "https://news.example", "X-API-Key": "k"})
        assert written.status_code == 201
        assert client.post("/v1/articles", json=ARTICLE, headers={"Origin": EVIL, "X-API-Key": "k"}).status_code == 403


def test_origins_and_proxies_that_are_not_addresses_are_refused() -> None:
    with pytest.raises(SettingsError, match="QA_CORS_ORIGINS: 'news.example' is not an origin"):
        Settings.from_env({"QA_CORS_ORIGINS": "news.example"})
    with pytest.raises(SettingsError, match="QA_TRUSTED_PROXIES: 'proxy' is not an IP"):
        Settings.from_env({"QA_TRUSTED_PROXIES": "proxy"})
    assert Settings.from_env({"QA_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == ("10.0.0.0/8", "::1")


@pytest.mark.parametrize(
    ("overrides", "status", "policy"),
    [
        ({"host": "0.0.0.0"}, 403, "writes are refused: the service listens on 0.0.0.0 without QA_API_KEY"),
        ({"host": "0.0.0.0", "open_writes": True}, 201, "writes are open to every client (QA_OPEN_WRITES=true"),
        ({"host": "::1"}, 201, "writes are open to this machine only"),
        ({"host": "0.0.0.0", "api_key": "k"}, 401, "writes need the API key"),
    ],
)
def test_writes_without_a_key_need_loopback_or_an_explicit_opt_in(
        seeded_dir: Path, tmp_path: Path, embedder: Embedder, overrides: dict[str, Any], status: int,
        policy: str) -> None:
    settings = make_settings(seeded_dir, tmp_path, **overrides)
    assert startup_summary(settings)[0].startswith(policy)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        response = client.post("/v1/articles", json=ARTICLE)
        assert response.status_code == status, response.text
        if status == 403:
            assert "QA_API_KEY" in response.json()["detail"] and "QA_OPEN_WRITES" in response.json()["detail"]
            assert client.delete("/v1/articles/eaa377af9f908790").status_code == 403
        assert client.get("/v1/articles").status_code == 200  # reads stay open


def test_metrics_follow_the_read_policy(seeded_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = make_settings(seeded_dir, tmp_path, api_key="k", require_key_for_reads=True)
    assert "reads and /metrics need the API key" in startup_summary(settings)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        assert client.get("/metrics").status_code == 401
        assert "qa_index_articles" in client.get("/metrics", headers={"X-API-Key": "k"}).text
        assert client.get("/healthz").status_code == 200


def test_proxy_headers_are_ignored_unless_the_proxy_is_trusted() -> None:
    assert server_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    trusted = Settings(trusted_proxies=("10.0.0.0/8",))
    assert server_options(trusted) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8"}
    assert "X-Forwarded-For ignored" in " ".join(startup_summary(Settings()))


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)])
def test_forged_forwarded_for_does_not_bypass_the_rate_limit(seeded_dir: Path, tmp_path: Path, embedder: Embedder,
                                                             trusted: tuple[str, ...]) -> None:
    with live_server(seeded_dir, tmp_path, embedder, rate_limit_per_minute=2, trusted_proxies=trusted) as url:
        statuses = [httpx.get(f"{url}/v1/articles", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(4)]
        if trusted:  # behind a trusted proxy every forwarded client has its own budget...
            assert statuses == [200, 200, 200, 200]
            same = [httpx.get(f"{url}/v1/articles", headers={"X-Forwarded-For": "198.51.100.7"}).status_code
                    for _ in range(3)]
            assert same == [200, 200, 429]  # ...and is limited by it
        else:  # from anyone else the header is ignored: one client, one budget
            assert statuses == [200, 200, 429, 429]
