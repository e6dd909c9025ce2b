"""The `qa` command line: ingest, search (table and JSON), delete, list, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.embed import SentenceTransformerEmbedder
from tests.helpers import SEEDS_DIR, TAIWAN_ID, TRUMP_ID, cap_docstore


@pytest.fixture
def run(embedder: SentenceTransformerEmbedder, tmp_path: Path):
    """Invoke the CLI in-process (it shares the session's already-loaded model)."""
    env = {"QA_INDEX_DIR": str(tmp_path / "index"), "QA_TIKTOKEN_CACHE_DIR": str(tmp_path / "tt")}

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_ingest_search_delete_round_trip(run) -> None:
    result = run("ingest", str(SEEDS_DIR))
    assert result.exit_code == 0, result.output
    assert "2 articles" in result.output

    result = run("search", "How much did Taipei allocate for defence in 2024?", "-k", "2", "--json")
    assert result.exit_code == 0
    results = json.loads(result.output)["results"]
    assert len(results) == 2
    assert set(results[0]) >= {"article_id", "chunk_id", "title", "text", "score", "start", "end",
                               "published", "url"}
    assert results[0]["article_id"] == TRUMP_ID and "$19 billion" in results[0]["text"]

    table = run("search", "Who heads the American Chamber of Commerce in Ukraine?", "-k", "1")
    assert table.exit_code == 0 and TAIWAN_ID in table.output

    listing = run("list")
    assert TAIWAN_ID in listing.output and TRUMP_ID in listing.output

    assert run("delete", TRUMP_ID).exit_code == 0
    after = json.loads(run("search", "Taipei defence budget 2024", "--json").output)["results"]
    assert all(r["article_id"] != TRUMP_ID for r in after)
    assert run("delete", TRUMP_ID).exit_code != 0


def test_ingest_with_nothing_usable_fails(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "no text"}\nnot json\n')
    result = run("ingest", str(bad))
    assert result.exit_code != 0
    assert "bad.jsonl:1" in result.output and "bad.jsonl:2" in result.output
    assert "nothing could be ingested" in result.output


def test_search_filters_and_bad_date(run) -> None:
    run("ingest", str(SEEDS_DIR))
    filtered = json.loads(run("search", "defence", "--source", "SinoDaily", "--json").output)["results"]
    assert filtered and {r["article_id"] for r in filtered} == {TRUMP_ID}
    bad = run("search", "defence", "--from", "last tuesday")
    assert bad.exit_code != 0 and "ISO date" in bad.output
    as_of = json.loads(run("search", "defence", "--as-of", "2025-03-05", "--json").output)["results"]
    assert as_of  # the seeds are undated: an as-of date keeps them
    bad = run("search", "defence", "--as-of", "tomorrow")
    assert bad.exit_code != 0 and "as_of must be an ISO date" in bad.output


def test_search_without_an_index_says_what_to_do(run) -> None:
    result = run("search", "anything")
    assert result.exit_code != 0 and "qa ingest" in result.output


@pytest.mark.integration
def test_console_script_runs_as_a_real_process(tmp_path: Path) -> None:
    env = os.environ | {"QA_INDEX_DIR": str(tmp_path / "nothing-here")}
    result = subprocess.run([sys.executable, "-m", "qa.cli", "list"], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "no index in" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_is_one_line_saying_so(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("ingest", str(SEEDS_DIR)).exit_code == 0
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({"id": f"m{i}", "title": f"M {i}", "text": f"Story {i} of the port. " * 300})
                            + "\n" for i in range(3)))
    cap_docstore(monkeypatch, spare_pages=2)
    result = run("ingest", str(more), "--no-progress")
    assert result.exit_code != 0
    assert "error: cannot write" in result.output and "the disk is full" in result.output
    assert "Traceback" not in result.output and "cannot rollback" not in result.output
    monkeypatch.undo()
    assert "2 articles" in run("list").output


@pytest.mark.integration
def test_serve_says_which_security_policy_is_in_force(tmp_path: Path) -> None:
    from tests.helpers import free_port

    env = os.environ | {"QA_INDEX_DIR": str(tmp_path / "index"), "QA_HOST": "0.0.0.0", "QA_PORT": str(free_port()),
                        "QA_TRUSTED_PROXIES": "10.0.0.0/8", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while not any("rate limit" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        process.kill()
        process.wait()
    text = "".join(lines)
    assert "writes are refused: the service listens on 0.0.0.0 without QA_API_KEY" in text
    assert "cross-origin access: none" in text and "X-Forwarded-For trusted from 10.0.0.0/8" in text


def test_serve_with_a_damaged_index_is_one_line(tmp_path: Path, seeded_dir: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(seeded_dir, index)
    (index / "docs.sqlite").write_bytes(b"this is not a database" * 100)
    for name in ("docs.sqlite-wal", "docs.sqlite-shm"):
        (index / name).unlink(missing_ok=True)
    env = os.environ | {"QA_INDEX_DIR": str(index), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run([sys.executable, "-m", "qa.cli", "serve"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "docs.sqlite is not a readable SQLite database" in result.stderr and "qa ingest" in result.stderr
