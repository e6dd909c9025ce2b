"""The Milvus filter expressions of the scale-out stack (qa.stores.milvus), without a server:
what each filter becomes, that no source can break out of its string literal, and the filters
it declines (the caller then filters by chunk ids)."""

from __future__ import annotations

import datetime as dt

from qa.stores.milvus import UNDATED, day_number, filter_expression, quoted, source_key
from qa.types import Filters


def unquote_like_go(literal: str) -> str:
    """Read a literal as Go's strconv.Unquote does for these escapes (\\", \\\\, \\u, \\U)."""
    assert literal[0] == literal[-1] == '"'
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        char = body[i]
        assert char != '"' and (0x20 <= ord(char) < 0x7F), "only printable ASCII, no bare quote inside"
        if char != "\\":
            out.append(char)
            i += 1
        elif body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
        elif body[i + 1] == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        else:
            assert body[i + 1] == "U"
            out.append(chr(int(body[i + 2:i + 10], 16)))
            i += 10
    return "".join(out)


def test_sources_cannot_leave_their_literal() -> None:
    for text in ['He said "hi"', "O'Neil \\ co", '" || id > 0 || source == "', "Le Monde – été 🌍", "a\nb\tc\x00",
                 "\\u0022", "\\"]:
        literal = quoted(text)
        assert unquote_like_go(literal) == text
    assert quoted('x"y') == '"x\\"y"' and quoted("é") == '"\\u00e9"' and quoted("🌍") == '"\\U0001f30d"'


def test_each_filter_becomes_a_clause_with_the_document_stores_meaning() -> None:
    day = dt.date(2024, 1, 14).toordinal()
    assert day_number("2024-01-14") == day and day_number("2024-01-14T10:00:00Z") == day
    assert day_number(None) == day_number("") == day_number("yesterday") == UNDATED
    assert filter_expression(Filters(source="BBC")) == 'source == "bbc"'
    assert filter_expression(Filters(source='The "Times"')) == 'source == "the \\"times\\""'
    assert filter_expression(Filters(published_from="2024-01-14")) == f"published >= {day}"
    # published_to leaves undated articles out (NULL <= x is not true); as_of keeps them
    assert filter_expression(Filters(published_to="2024-01-14")) == f"published >= 1 and published <= {day}"
    assert filter_expression(Filters(as_of="2024-01-14")) == f"published <= {day}"
    both = filter_expression(Filters(source="AP", published_from="2024-01-14", as_of="2024-02-01"))
    assert both == f'source == "ap" and published >= {day} and published <= {day + 18}'


def test_filters_it_cannot_state_exactly_are_declined() -> None:
    assert filter_expression(Filters()) is None
    assert filter_expression(Filters(source="Élysée")) is None  # lower() of non-ASCII depends on the locale
    assert filter_expression(Filters(source="")) is None  # "" is what an article without a source holds
    assert filter_expression(Filters(source="x" * 600)) is None  # longer than the field holds
    assert filter_expression(Filters(published_from="2024-1-4")) is None


def test_source_keys_lower_ascii_only() -> None:
    assert source_key("BBC News") == "bbc news" and source_key("ÉLYSÉE") == "ÉlysÉe"
    assert source_key(None) == "" and source_key("x" * 600) == ""
