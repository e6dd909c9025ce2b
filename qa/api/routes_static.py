"""The chat widget's files from `qa/static/`, when they are installed: `GET /` -> index.html and
`GET /widget.js`. 404 when the file is absent."""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.response import File

from qa.api.security import access
from qa.api.threads import blocking

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def static_file(name: str, media_type: str) -> File:
    """`qa/static/<name>`, or 404 (looked up per request: the files may be added later)."""
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFoundException(detail=f"{name} is not installed (no qa/static/{name})")
    return File(path, media_type=media_type, content_disposition_type="inline")


class StaticController(Controller):
    """The widget page and script."""

    path = "/"
    include_in_schema = False

    @get("/", opt=access("public"))
    async def index_page(self) -> File:
        return await blocking(static_file, "index.html", "text/html; charset=utf-8")

    @get("/widget.js", opt=access("public"))
    async def widget(self) -> File:
        return await blocking(static_file, "widget.js", "application/javascript; charset=utf-8")
