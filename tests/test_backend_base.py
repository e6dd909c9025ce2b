"""Refusals are typed: a backend marks them with `Refusal` pieces."""

from __future__ import annotations

from collections.abc import Iterator

from qa.backends.base import REFUSAL, Refusal, as_refusal, marking_refusals


def test_an_llm_refusal_gets_an_empty_marker_after_its_text() -> None:
    pieces = list(marking_refusals(iter(["I don't know", " based on the provided articles."])))
    assert pieces[:2] == ["I don't know", " based on the provided articles."]
    assert isinstance(pieces[-1], Refusal) and pieces[-1] == ""
    assert not any(isinstance(p, Refusal) for p in marking_refusals(iter(["Taipei spent $19 billion [1]."])))


def test_an_abandoned_stream_closes_the_backends_stream() -> None:
    closed = []

    def generate() -> Iterator[str]:
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    stream = marking_refusals(generate())
    assert next(stream) == "a"
    stream.close()
    assert closed == [True]


def test_a_complete_refusal_is_a_refusal() -> None:
    assert isinstance(as_refusal(REFUSAL), Refusal)
    assert not isinstance(as_refusal("Taipei spent $19 billion [1]."), Refusal)
