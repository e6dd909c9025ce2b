"""Read article files (.txt, .md, .jsonl, .jsonl.gz, .html) into `Article` values.

Text is returned raw: cleaning happens later in the pipeline. The one exception is HTML,
where picking the main article text out of the page is the loader's job.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html as html_lib
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import trafilatura
import yaml

from qa.types import Article, LoadProblem

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl", ".jsonl.gz", ".html", ".htm")

MAX_ID_CHARS = 200
MAX_HEADLINE_CHARS = 150
DERIVED_TITLE_CHARS = 80
FRONT_MATTER_FIELDS = ("id", "title", "url", "published", "source")

_ISO_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
_MD_HEADING = re.compile(r"#\s+(.+?)(?:\s+#+)?\s*")
_CODE_FENCE = re.compile(r"\s{0,3}(```|~~~)")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CLOSERS = "\"'\u2019\u201d)]"


class ArticleError(ValueError):
    """Article data that cannot be used; the message names the field to fix."""


# --- validation shared with the HTTP API -------------------------------------------------


def normalize_date(value: str, field: str = "published") -> str:
    """Return "YYYY-MM-DD" for an ISO date or datetime ("2025-03-05T10:00:00Z"); else raise ArticleError."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not _ISO_DATE_PREFIX.match(text):
            raise ValueError
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat()
        if text[10] not in "Tt ":
            raise ValueError
        # The calendar date as written, not converted to UTC: it is the date the source printed.
        return dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ArticleError(f"{field} must be an ISO date like 2025-03-05 (got {value!r})") from None


def article_from_mapping(data: Mapping[str, Any]) -> Article:
    """Validate a JSON-like mapping (id, title, text, url, published, source) into an Article."""
    if "text" not in data or data["text"] is None:
        raise ArticleError('missing required field "text"')
    text = data["text"]
    if not isinstance(text, str):
        raise ArticleError(f'"text" must be a string, not {_type_name(text)}')
    if not text.strip():
        raise ArticleError('empty article: "text" is empty or only whitespace')

    article_id = _article_id(data.get("id"))
    title = _optional_str(data, "title") or _title_from_text(text)
    published = _optional_str(data, "published")
    return Article(
        id=article_id,
        title=title,
        text=text,
        url=_optional_str(data, "url"),
        published=normalize_date(published) if published else None,
        source=_optional_str(data, "source"),
    )


def _article_id(value: Any) -> str:
    if value is None:
        raise ArticleError('missing required field "id"')
    # bool is an int subclass; `"id": true` is a mistake, not an id.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ArticleError(f'"id" must be a string or an integer, not {_type_name(value)}')
    value = value.strip()
    if not value:
        raise ArticleError('"id" must not be empty')
    if "/" in value:
        raise ArticleError(f'"id" must not contain "/" (got {value!r})')
    if len(value) > MAX_ID_CHARS:
        raise ArticleError(f'"id" must be at most {MAX_ID_CHARS} characters (got {len(value)})')
    return value


def _optional_str(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ArticleError(f'"{field}" must be a string, not {_type_name(value)}')
    return value.strip() or None


def _title_from_text(text: str) -> str:
    first_line = next(line for line in text.splitlines() if line.strip())
    return first_line.strip()[:DERIVED_TITLE_CHARS].rstrip()


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


# --- finding files ------------------------------------------------------------------------


def iter_paths(paths: Sequence[Path]) -> Iterator[Path | LoadProblem]:
    """Yield article files: named files as given, folders expanded recursively in sorted order."""
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.exists():
            yield _problem(path, "no such file or directory")
        elif path.is_dir():
            found = False
            for file in _walk_folder(path):
                found = True
                if _first_visit(file, seen):
                    yield file
            if not found:
                yield _problem(path, f"no supported files in this folder ({_supported()})")
        elif _format_of(path) is None:
            yield _problem(path, f"unsupported file type; supported: {_supported()}")
        elif _first_visit(path, seen):
            yield path


def _walk_folder(folder: Path) -> Iterator[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        files.extend(Path(root, name) for name in names if not name.startswith(".") and _format_of(Path(name)))
    # Sorting by path components keeps a folder's contents together: "a/z.txt" < "a.txt".
    yield from sorted(files, key=lambda file: file.relative_to(folder).parts)


def _first_visit(path: Path, seen: set[Path]) -> bool:
    key = path.resolve()
    if key in seen:
        return False
    seen.add(key)
    return True


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    # Longest first, so "x.jsonl.gz" is not mistaken for anything shorter.
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def _supported() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


# --- loading one file ---------------------------------------------------------------------


def load_path(path: Path) -> Iterator[Article | LoadProblem]:
    """Yield the articles in one file, and a LoadProblem for each part that cannot be used."""
    path = Path(path)
    suffix = _format_of(path)
    if suffix in (".jsonl", ".jsonl.gz"):
        yield from _load_jsonl(path, compressed=suffix == ".jsonl.gz")
        return
    if suffix is None:
        yield _problem(path, f"unsupported file type; supported: {_supported()}")
        return
    content = _read_text(path)
    if isinstance(content, LoadProblem):
        yield content
    elif suffix in (".html", ".htm"):
        yield _load_html(path, content)
    else:
        yield _load_document(path, content, markdown=suffix == ".md")


def _problem(path: Path, message: str, line: int | None = None) -> LoadProblem:
    return LoadProblem(path=str(path), line=line, message=message)


def _read_text(path: Path) -> str | LoadProblem:
    try:
        data = path.read_bytes()
    except OSError as err:
        return _problem(path, f"cannot read file: {err.strerror or err}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return _problem(path, f"not valid UTF-8 (bad byte at offset {err.start}); re-save the file as UTF-8")


def _load_document(path: Path, content: str, *, markdown: bool) -> Article | LoadProblem:
    parsed = _split_front_matter(path, content)
    if isinstance(parsed, LoadProblem):
        return parsed
    meta, body = parsed
    title = meta.get("title")
    if not title:
        heading, body = _markdown_title(body) if markdown else _headline(body)
        title = heading or title_from_stem(_stem(path))
    if not body.strip():
        return _problem(path, "empty article")
    data = {**meta, "id": meta.get("id", _stem(path)), "title": title, "text": body}
    try:
        return article_from_mapping(data)
    except ArticleError as err:
        return _problem(path, str(err))


def _split_front_matter(path: Path, content: str) -> tuple[dict[str, Any], str] | LoadProblem:
    """Split leading `---` YAML front matter from the body; no front matter gives ({}, content)."""
    lines = content.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, content
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        return {}, content  # a lone leading "---" is a horizontal rule, not front matter
    try:
        meta = yaml.safe_load("".join(lines[1:end]))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None  # +1 for 1-based, +1 for the "---"
        reason = getattr(err, "problem", None) or str(err)
        return _problem(path, f"invalid YAML front matter: {reason}", line)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return _problem(path, "front matter must be YAML `key: value` lines (id, title, url, published, source)")
    fields = {key: meta[key] for key in FRONT_MATTER_FIELDS if meta.get(key) is not None}
    # YAML reads an unquoted 2025-03-05 as a date object.
    if isinstance(fields.get("published"), dt.date):
        fields["published"] = fields["published"].isoformat()
    return fields, "".join(lines[end + 1 :])


def _headline(body: str) -> tuple[str | None, str]:
    """Take the first line as the title if it reads like a headline and text follows it."""
    lines = body.splitlines(keepends=True)
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if index is None:
        return None, body
    candidate = lines[index].strip()
    rest = "".join(lines[index + 1 :])
    is_sentence = candidate.rstrip(_CLOSERS).endswith((".", "!", "?"))
    if len(candidate) > MAX_HEADLINE_CHARS or is_sentence or not rest.strip():
        return None, body
    return candidate, "".join(lines[:index]) + rest


def _markdown_title(body: str) -> tuple[str | None, str]:
    """Take the first `# Heading` outside code blocks as the title, removing that line."""
    lines = body.splitlines(keepends=True)
    in_code = False
    for index, line in enumerate(lines):
        if _CODE_FENCE.match(line):
            in_code = not in_code
            continue
        match = None if in_code else _MD_HEADING.fullmatch(line.rstrip("\r\n"))
        if match:
            return match.group(1).strip(), "".join(lines[:index] + lines[index + 1 :])
    return None, body


def title_from_stem(stem: str) -> str:
    """Make a title from a file name: "my-article" -> "My article"; ids like "000_eaa377af" stay."""
    words = [word for word in re.split(r"[-_\s]+", stem) if word]
    # A word mixing letters and digits (a hash, a code) means the stem is an identifier.
    if not words or any(not (word.isalpha() or word.isdigit()) for word in words):
        return stem
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _stem(path: Path) -> str:
    suffix = _format_of(path) or path.suffix
    return path.name[: len(path.name) - len(suffix)]


def _load_jsonl(path: Path, *, compressed: bool) -> Iterator[Article | LoadProblem]:
    line_number = 0
    try:
        # Binary line iteration streams the file and splits on "\n" only.
        with gzip.open(path, "rb") if compressed else open(path, "rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                item = _jsonl_line(path, line_number, raw)
                if item is not None:
                    yield item
    except (OSError, EOFError, zlib.error) as err:
        if compressed and not isinstance(err, (PermissionError, FileNotFoundError, IsADirectoryError)):
            where = f"after line {line_number}" if line_number else "at the start"
            yield _problem(path, f"corrupt gzip file {where} ({err}); the rest of the file was skipped")
        else:
            yield _problem(path, f"cannot read file: {getattr(err, 'strerror', None) or err}")


def _jsonl_line(path: Path, line_number: int, raw: bytes) -> Article | LoadProblem | None:
    """One JSONL line as an article or a problem; None for a blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        message = f"not valid UTF-8 (bad byte at column {err.start + 1}); re-save the file as UTF-8"
        return _problem(path, message, line_number)
    if line_number == 1:
        line = line.lstrip("\ufeff")
    if not line.strip():
        return None
    try:
        data = msgspec.json.decode(line)
    except msgspec.DecodeError as err:
        return _problem(path, f"not valid JSON ({err}); each line must be one JSON object", line_number)
    if not isinstance(data, dict):
        message = f'expected a JSON object like {{"id": ..., "title": ..., "text": ...}}, got {_type_name(data)}'
        return _problem(path, message, line_number)
    try:
        return article_from_mapping(data)
    except ArticleError as err:
        return _problem(path, str(err), line_number)


def _load_html(path: Path, content: str) -> Article | LoadProblem:
    text = trafilatura.extract(content, include_comments=False, include_tables=False, favor_precision=True)
    if not text or not text.strip():
        return _problem(path, "no article text found in the HTML")
    # extensive=False: take dates only from markup (meta tags, <time>), never guessed from prose.
    meta = trafilatura.extract_metadata(content, extensive=False)
    title = meta.title or _html_title(content) or title_from_stem(_stem(path))
    first, _, rest = text.partition("\n")
    if first.strip().casefold() == title.strip().casefold() and rest.strip():
        text = rest  # the page's <h1> repeats the title; keep it out of the body as for .md/.txt
    try:
        published = normalize_date(meta.date) if meta.date else None
    except ArticleError:
        published = None  # a malformed date in page metadata is not worth losing the article over
    data = {
        "id": _stem(path),
        "title": title,
        "text": text,
        "url": meta.url,
        "published": published,
        "source": meta.sitename,
    }
    try:
        return article_from_mapping(data)
    except ArticleError as err:
        return _problem(path, str(err))


def _html_title(content: str) -> str | None:
    match = _HTML_TITLE.search(content)
    if not match:
        return None
    return " ".join(html_lib.unescape(match.group(1)).split()) or None
