"""The package as users get it: the wheel is built from this checkout and installed into a fresh
virtualenv outside the source tree, and `qa ingest`, `qa ask` and `qa serve` run from there with
only what the wheel carries (prompts, seeds, the encoder)."""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import TAIWAN_ID, TRUMP_ID, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: builds offline with the setuptools of the test environment.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(ROOT)], check=True, cwd=out)
    (built,) = out.glob("qa-*.whl")
    return built


def is_qa(name: str) -> bool:
    """An entry of site-packages that belongs to the checkout's own (editable) install of qa."""
    return name == "qa" or name.startswith(("qa-", "qa.")) or (name.startswith("__editable__") and "qa" in name)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the wheel. Its dependencies are this environment's, linked in one
    by one without the checkout's own install of qa, so installing them again costs nothing."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    deps = root / "deps"
    deps.mkdir()
    for folder in map(Path, site.getsitepackages()):
        for entry in folder.iterdir():
            if not is_qa(entry.name) and not entry.name.endswith(".pth") and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (purelib,) = (root / "lib").glob("python3*/site-packages")
    (purelib / "deps.pth").write_text(f"{deps}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install",
                    "--quiet", "--no-deps", str(wheel)], check=True, env=run_env(root), cwd=root)
    return root


def run_env(home: Path) -> dict[str, str]:
    """The environment of a user's shell: none of this checkout's paths or QA_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") and k != "PYTHONPATH"}
    return env | {"HOME": str(home), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def qa(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "qa"), *args], capture_output=True, text=True, cwd=cwd,
                          env=run_env(cwd), timeout=300)


def test_the_wheel_carries_prompts_seeds_and_models(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for prompt in (ROOT / "prompts").glob("*.jinja"):
        assert f"qa/_prompts/{prompt.name}" in names
    for seed in (ROOT / "seeds").iterdir():
        assert f"qa/_seeds/{seed.name}" in names
    assert "qa/static/widget.js" in names and "qa/places.txt" in names
    for model in ("minilm-l6-int8", "answer-minilm-int8", "support-minilm-int8"):
        assert f"qa/models/{model}/model.onnx" in names and f"qa/models/{model}/tokenizer.json" in names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "prompts/", "seeds/"))]


def test_installed_wheel_ingests_and_answers_outside_the_tree(venv: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import qa; print(qa.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=run_env(tmp_path), check=True)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    article = tmp_path / "articles" / "port.md"
    article.parent.mkdir()
    article.write_text("---\nid: port-strike\ntitle: Port strike ends\npublished: 2025-02-03\n---\n"
                       "Dock workers in Rotterdam ended a nine-day strike on Monday after the port "
                       "authority agreed to a 6 percent pay rise.\n")
    ingested = qa(venv, "ingest", "--index", "idx", "articles", "--no-progress", cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    asked = qa(venv, "ask", "--index", "idx", "--json", "What pay rise ended the Rotterdam strike?", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert '"refused": false' in asked.stdout and "6 percent" in asked.stdout and "port-strike" in asked.stdout


@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([str(venv / "bin" / "qa"), "serve", "--index", "idx", "--port", str(port)],
                               cwd=tmp_path, env=run_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, lambda: process.poll() is None, timeout=120)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_installed_wheel_serves_the_bundled_seeds(served: str) -> None:
    assert httpx.get(f"{served}/readyz").json()["articles"] == 2  # the seeds, from inside the wheel
    answer = httpx.post(f"{served}/v1/ask", json={"question": "How much did Taipei allocate for defence in 2024?"},
                        timeout=60).json()
    assert not answer["refused"] and "19 billion" in answer["answer"]
    assert {c["article_id"] for c in answer["citations"]} <= {TAIWAN_ID, TRUMP_ID}
    assert any(c["article_id"] == TRUMP_ID for c in answer["citations"])
    assert httpx.get(f"{served}/widget.js").status_code == 200
