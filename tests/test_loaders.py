"""Tests for qa.loaders: every input format, validation, and error reporting."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qa.loaders import (
    SUPPORTED_SUFFIXES,
    ArticleError,
    article_from_mapping,
    iter_paths,
    load_path,
    normalize_date,
    title_from_stem,
)
from qa.types import Article, LoadProblem

BODY = (
    "Taipei has ramped up defence spending in recent years in response to China's growing "
    "military presence around the self-ruled island.\n"
    "Taiwan's spending on defence has increased around 80 percent in the past eight years, "
    "the official said.\n"
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _load_one(path: Path) -> Article:
    items = list(load_path(path))
    assert len(items) == 1, items
    assert isinstance(items[0], Article), items[0]
    return items[0]


def _problems(items: list[Article | LoadProblem]) -> list[LoadProblem]:
    return [item for item in items if isinstance(item, LoadProblem)]


def _articles(items: list[Article | LoadProblem]) -> list[Article]:
    return [item for item in items if isinstance(item, Article)]


# --- .txt ---------------------------------------------------------------------------------


def test_txt_headline_first_line_becomes_title_and_leaves_text(tmp_path: Path) -> None:
    headline = "Taiwan mulls big US arms purchase"
    article = _load_one(_write(tmp_path / "taiwan-arms.txt", f"{headline}\n{BODY}"))
    assert article.id == "taiwan-arms"
    assert article.title == headline
    assert headline not in article.text
    assert article.text.strip() == BODY.strip()
    assert (article.url, article.published, article.source) == (None, None, None)


def test_txt_sentence_first_line_stays_in_text_and_title_comes_from_stem(tmp_path: Path) -> None:
    article = _load_one(_write(tmp_path / "000_eaa377af9f908790.txt", BODY))
    assert article.id == "000_eaa377af9f908790"
    assert article.title == "000_eaa377af9f908790"
    assert article.text == BODY


def test_txt_long_first_line_is_not_a_headline(tmp_path: Path) -> None:
    long_line = "word " * 40  # 200 chars, no final punctuation
    article = _load_one(_write(tmp_path / "my-article.txt", f"{long_line}\n{BODY}"))
    assert article.title == "My article"
    assert article.text.startswith(long_line)


def test_txt_single_headline_like_line_is_text_not_title(tmp_path: Path) -> None:
    article = _load_one(_write(tmp_path / "note.txt", "Markets closed higher on Friday\n"))
    assert article.text.strip() == "Markets closed higher on Friday"
    assert article.title == "Note"


def test_txt_front_matter(tmp_path: Path) -> None:
    text = (
        "---\n"
        "title: Taiwan eyes arms deal\n"
        "published: 2024-11-14\n"
        "source: AFP\n"
        "url: https://example.com/a\n"
        "author: someone\n"
        "---\n"
        f"{BODY}"
    )
    article = _load_one(_write(tmp_path / "x.txt", text))
    assert article.id == "x"
    assert article.title == "Taiwan eyes arms deal"
    assert article.published == "2024-11-14"
    assert article.source == "AFP"
    assert article.url == "https://example.com/a"
    assert article.text == BODY


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_empty_article(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"blank{suffix}", "---\ntitle: Nothing here\n---\n \n\n")
    assert list(load_path(path)) == [LoadProblem(path=str(path), line=None, message="empty article")]


# --- .md ----------------------------------------------------------------------------------


def test_md_front_matter_and_heading(tmp_path: Path) -> None:
    text = (
        "---\n"
        "id: 42\n"
        "published: '2025-03-05T10:00:00Z'\n"
        "source: ' Reuters '\n"
        "tags: [defence, taiwan]\n"
        "---\n"
        "# Taiwan defence budget\n"
        "\n"
        "Taipei **allocated** a record $19 billion for 2024.\n"
        "\n"
        "## Background\n"
        "- item one\n"
    )
    article = _load_one(_write(tmp_path / "budget.md", text))
    assert article.id == "42"
    assert article.title == "Taiwan defence budget"
    assert article.published == "2025-03-05"
    assert article.source == "Reuters"
    assert "# Taiwan defence budget" not in article.text
    # The rest of the Markdown is kept verbatim.
    assert article.text.strip() == (
        "Taipei **allocated** a record $19 billion for 2024.\n\n## Background\n- item one"
    )


def test_md_front_matter_title_wins_over_heading(tmp_path: Path) -> None:
    text = "---\ntitle: From front matter\n---\n# Heading\n\nBody sentence.\n"
    article = _load_one(_write(tmp_path / "a.md", text))
    assert article.title == "From front matter"
    assert "# Heading" in article.text


def test_md_without_heading_uses_stem(tmp_path: Path) -> None:
    text = "```\n# not a heading\n```\nBody sentence without a heading.\n"
    article = _load_one(_write(tmp_path / "weekly_market-wrap.md", text))
    assert article.title == "Weekly market wrap"
    assert article.text == text


def test_md_bad_front_matter(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.md", "---\ntitle: [unclosed\n---\nBody.\n")
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert "front matter" in problem.message


def test_md_bad_front_matter_date(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad-date.md", "---\npublished: last tuesday\n---\nBody.\n")
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert "published" in problem.message


@pytest.mark.parametrize(
    ("stem", "title"),
    [("000_eaa377af9f908790", "000_eaa377af9f908790"), ("my-article", "My article"), ("a_b-c", "A b c")],
)
def test_title_from_stem(stem: str, title: str) -> None:
    assert title_from_stem(stem) == title


# --- .jsonl / .jsonl.gz -------------------------------------------------------------------


def _jsonl(records: list[object]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    lines: list[object] = [
        {"id": "a1", "title": "First", "text": "First text.", "url": " https://e.com/1 ", "extra": [1]},
        "{not json",
        {"id": "a3", "title": "No text here"},
        "",
        {"id": "a5", "title": "Empty", "text": "   \n "},
        {"id": "a6", "title": "Bad date", "text": "Body.", "published": "05/03/2025"},
        {"id": 7, "text": "A headline-less article starts here and keeps going for a while longer "
                          "than eighty characters in total.\nSecond line.", "published": "2025-03-05"},
        ["not", "an", "object"],
        {"title": "No id", "text": "Body."},
        {"id": "a10", "title": 5, "text": "Body."},
    ]
    path = _write(tmp_path / "batch.jsonl", _jsonl(lines))
    items = list(load_path(path))

    articles = _articles(items)
    assert [a.id for a in articles] == ["a1", "7"]
    first, seventh = articles
    assert first.url == "https://e.com/1"
    assert seventh.published == "2025-03-05"
    assert seventh.title == lines[6]["text"][:80].rstrip()  # type: ignore[index]
    assert "\n" not in seventh.title

    problems = {p.line: p.message for p in _problems(items)}
    assert set(problems) == {2, 3, 5, 6, 8, 9, 10}
    assert "JSON" in problems[2]
    assert '"text"' in problems[3] and "missing" in problems[3]
    assert '"text"' in problems[5] and "empty" in problems[5]
    assert "published" in problems[6] and "2025-03-05" in problems[6]
    assert "object" in problems[8]
    assert '"id"' in problems[9]
    assert '"title"' in problems[10]
    assert all(p.path == str(path) for p in _problems(items))
    # Problems come out in file order, interleaved with the articles.
    assert [item.line if isinstance(item, LoadProblem) else item.id for item in items] == [
        "a1", 2, 3, 5, 6, "7", 8, 9, 10,
    ]


def test_jsonl_gz(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl.gz"
    records = [{"id": f"n{i}", "title": f"T{i}", "text": f"Text {i}.", "source": "BBC"} for i in range(50)]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(_jsonl(records[:25]) + "not json\n" + _jsonl(records[25:]))
    items = list(load_path(path))
    assert [a.id for a in _articles(items)] == [r["id"] for r in records]
    assert [(p.line, "JSON" in p.message) for p in _problems(items)] == [(26, True)]
    assert all(a.source == "BBC" for a in _articles(items))


def test_corrupt_gzip_reports_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl.gz"
    payload = gzip.compress(_jsonl([{"id": str(i), "text": "x " * 200} for i in range(200)]).encode())
    path.write_bytes(payload[: len(payload) // 2])  # truncated download
    items = list(load_path(path))
    assert len(_articles(items)) < 200
    assert isinstance(items[-1], LoadProblem)
    assert "gzip" in items[-1].message
    assert len(_problems(items)) == 1


def test_not_gzip_at_all(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl.gz"
    path.write_text(_jsonl([{"id": "1", "text": "x"}]))
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert "gzip" in problem.message


def test_jsonl_non_utf8_line_is_reported_and_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "1", "text": "caf\xe9"}\n{"id": "2", "text": "ok"}\n')
    items = list(load_path(path))
    assert [a.id for a in _articles(items)] == ["2"]
    [problem] = _problems(items)
    assert problem.line == 1 and "UTF-8" in problem.message


# --- .html --------------------------------------------------------------------------------

PARAGRAPHS = [
    "Taiwan is considering a large purchase of American weapons to signal its commitment to its "
    "own defence, a senior security official said on Thursday.",
    "Taipei has ramped up defence spending in recent years in response to China's growing military "
    "presence around the self-ruled island, but it has been under pressure to do more.",
    "The island's spending on defence has increased around 80 percent in the past eight years, and "
    "next year's budget is set to hit a new high as it seeks a more agile defence approach.",
    "Defence Minister Wellington Koo told reporters on Wednesday that relevant needs would be "
    "proposed through an existing military exchange mechanism with the United States.",
]

NAV_AND_FOOTER = [
    "World News Section",
    "Markets and Business",
    "Sign in to your account",
    "Copyright 2024 Example News Corporation",
    "Privacy policy and terms of service",
]


def _html_page(head: str, heading: str = "<h1>Taiwan weighs big US arms package</h1>") -> str:
    paragraphs = "\n".join(f"      <p>{p}</p>" for p in PARAGRAPHS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
{head}
</head>
<body>
  <header>
    <nav><ul>
      <li><a href="/">Home</a></li>
      <li><a href="/world">{NAV_AND_FOOTER[0]}</a></li>
      <li><a href="/business">{NAV_AND_FOOTER[1]}</a></li>
      <li><a href="/login">{NAV_AND_FOOTER[2]}</a></li>
    </ul></nav>
  </header>
  <main>
    <article>
      {heading}
{paragraphs}
    </article>
  </main>
  <footer>
    <p>{NAV_AND_FOOTER[3]}. Contact the newsroom team.</p>
    <ul><li><a href="/privacy">{NAV_AND_FOOTER[4]}</a></li></ul>
  </footer>
</body>
</html>
"""


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    head = """  <title>Taiwan weighs big US arms package | Example News</title>
  <meta property="og:title" content="Taiwan weighs big US arms package">
  <meta property="og:site_name" content="Example News">
  <meta property="og:url" content="https://news.example.com/2024/11/taiwan-arms">
  <meta property="article:published_time" content="2024-11-14T08:30:00Z">"""
    article = _load_one(_write(tmp_path / "taiwan-arms.html", _html_page(head)))
    assert article.id == "taiwan-arms"
    assert article.title == "Taiwan weighs big US arms package"
    assert article.published == "2024-11-14"
    assert article.url == "https://news.example.com/2024/11/taiwan-arms"
    assert article.source == "Example News"
    for paragraph in PARAGRAPHS:
        assert paragraph in article.text
    for chrome in NAV_AND_FOOTER:
        assert chrome not in article.text


def test_html_h1_is_title_and_not_repeated_in_text(tmp_path: Path) -> None:
    article = _load_one(_write(tmp_path / "page.html", _html_page("  <title>Site | Section</title>")))
    assert article.title == "Taiwan weighs big US arms package"
    assert article.text.startswith(PARAGRAPHS[0])
    assert article.published is None


def test_htm_without_heading_falls_back_to_title_tag(tmp_path: Path) -> None:
    head = "  <title>Arms &amp; budgets in Taipei</title>"
    article = _load_one(_write(tmp_path / "page.htm", _html_page(head, heading="")))
    assert article.id == "page"
    assert article.title == "Arms & budgets in Taipei"
    assert PARAGRAPHS[0] in article.text


def test_html_without_any_title_uses_stem(tmp_path: Path) -> None:
    article = _load_one(_write(tmp_path / "arms-story.html", _html_page("", heading="")))
    assert article.title == "Arms story"


def test_html_without_article_text(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Gallery</title><script>var x = 1;</script></head>"
        "<body><div class='gallery'><img src='a.jpg'><img src='b.jpg'></div></body></html>"
    )
    path = _write(tmp_path / "menu.html", page)
    assert list(load_path(path)) == [
        LoadProblem(path=str(path), line=None, message="no article text found in the HTML")
    ]


# --- unreadable files ---------------------------------------------------------------------


def test_non_utf8_text_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 society returns to Taipei.\n".encode("latin-1"))
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert problem.path == str(path)
    assert "UTF-8" in problem.message


@pytest.mark.parametrize("name", ["secret.txt", "secret.md", "secret.html", "secret.jsonl", "secret.jsonl.gz"])
def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    path = _write(tmp_path / name, BODY)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # chmod does not stop root, so simulate the OS refusing to open the file.
    monkeypatch.setattr(Path, "read_bytes", denied)
    monkeypatch.setattr("builtins.open", denied)
    monkeypatch.setattr(gzip, "open", denied)
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert problem.path == str(path)
    assert "Permission denied" in problem.message


def test_load_path_unsupported_suffix(tmp_path: Path) -> None:
    path = _write(tmp_path / "doc.pdf", "x")
    [problem] = list(load_path(path))
    assert isinstance(problem, LoadProblem)
    assert ".jsonl.gz" in problem.message


# --- iter_paths ---------------------------------------------------------------------------


def test_iter_paths_expands_folders_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for relative in [
        "b.txt",
        "a.md",
        "sub/z.jsonl.gz",
        "sub/c.html",
        "sub/deeper/d.htm",
        "sub/notes.pdf",
        "e.JSONL",
        "sub.txt",
        ".hidden.txt",
        ".git/config.txt",
        "sub/.cache/f.txt",
    ]:
        _write(root / relative, "x")
    found = list(iter_paths([root]))
    assert all(isinstance(p, Path) for p in found)
    relative = [p.relative_to(root).as_posix() for p in found if isinstance(p, Path)]
    # A folder's files stay together, before a sibling file that shares its name prefix.
    assert relative == [
        "a.md", "b.txt", "e.JSONL", "sub/c.html", "sub/deeper/d.htm", "sub/z.jsonl.gz", "sub.txt",
    ]


def test_iter_paths_explicit_files_missing_paths_and_unsupported(tmp_path: Path) -> None:
    hidden = _write(tmp_path / ".draft.txt", "x")
    plain = _write(tmp_path / "b.txt", "x")
    unsupported = _write(tmp_path / "report.pdf", "x")
    missing = tmp_path / "nope.txt"
    found = list(iter_paths([plain, missing, hidden, unsupported, plain]))

    assert found[0] == plain
    assert found[1] == LoadProblem(path=str(missing), line=None, message="no such file or directory")
    assert found[2] == hidden  # named explicitly, so not skipped
    assert isinstance(found[3], LoadProblem) and found[3].path == str(unsupported)
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in found[3].message
    assert len(found) == 4  # the repeated file is yielded once


def test_iter_paths_folder_without_supported_files(tmp_path: Path) -> None:
    _write(tmp_path / "docs" / "a.pdf", "x")
    [problem] = list(iter_paths([tmp_path / "docs"]))
    assert isinstance(problem, LoadProblem)
    assert ".txt" in problem.message


# --- article_from_mapping / normalize_date ------------------------------------------------


def test_article_from_mapping_strips_and_defaults() -> None:
    article = article_from_mapping(
        {"id": " a-1 ", "title": "  Title ", "text": " Body. ", "source": " BBC ", "url": "", "x": 1}
    )
    assert article == Article(id="a-1", title="Title", text=" Body. ", source="BBC")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "a"}, '"text"'),
        ({"id": "a", "text": 3}, '"text"'),
        ({"text": "Body."}, '"id"'),
        ({"id": "", "text": "Body."}, '"id"'),
        ({"id": True, "text": "Body."}, '"id"'),
        ({"id": "a/b", "text": "Body."}, '"id"'),
        ({"id": "x" * 201, "text": "Body."}, '"id"'),
        ({"id": "a", "text": "Body.", "url": 5}, '"url"'),
        ({"id": "a", "text": "Body.", "source": ["BBC"]}, '"source"'),
        ({"id": "a", "text": "Body.", "published": "2025-13-01"}, "published"),
        ({"id": "a", "text": "Body.", "published": 20250305}, "published"),
    ],
)
def test_article_from_mapping_errors_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ArticleError, match=field):
        article_from_mapping(data)


def test_article_id_length_limit_is_inclusive() -> None:
    assert article_from_mapping({"id": "x" * 200, "text": "Body."}).id == "x" * 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-05", "2025-03-05"),
        (" 2025-03-05 ", "2025-03-05"),
        ("2025-03-05T10:00:00Z", "2025-03-05"),
        ("2025-03-05T23:30:00-05:00", "2025-03-05"),
        ("2025-03-05 10:00", "2025-03-05"),
    ],
)
def test_normalize_date(value: str, expected: str) -> None:
    assert normalize_date(value) == expected


@pytest.mark.parametrize("value", ["05/03/2025", "2025-02-30", "20250305", "2025-W10-3", "2025-03-05x", "", "March 5"])
def test_normalize_date_rejects(value: str) -> None:
    with pytest.raises(ArticleError, match="ISO date like 2025-03-05"):
        normalize_date(value)
