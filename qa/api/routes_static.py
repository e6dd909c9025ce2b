"""The chat widget's files from `qa/static/`, when they are installed: `GET /` -> index.html and
`GET /widget.js`. 404 when the file is absent."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.response import File

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def static_file(name: str, media_type: str) -> File:
    """`qa/static/<name>`, or 404 (looked up per request: the files may be added later)."""
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFoundException(detail=f"{name} is not installed (no qa/static/{name})")
    return File(path, media_type=media_type, content_disposition_type="inline")


@get("/", sync_to_thread=True, include_in_schema=False)
def index_page() -> File:
    return static_file("index.html", "text/html; charset=utf-8")


@get("/widget.js", sync_to_thread=True, include_in_schema=False)
def widget() -> File:
    return static_file("widget.js", "application/javascript; charset=utf-8")
