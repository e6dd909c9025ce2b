"""Tests for qa.clean: whitespace normalization, boilerplate removal, glued sentences."""

from __future__ import annotations

import pytest

from qa.clean import clean_text, is_boilerplate, split_glued_sentences

# The end of one SinoDaily/AFP seed article and the start of the next, exactly as they sit
# in the seed files when read back to back: the first file has no trailing newline, so the
# two sentences are glued ("$850 billion.Taipei"), and the site trailer follows the text.
SEED_EXCERPT = (
    "China will increase its defense spending by 7.2 percent this year, maintaining a steady growth "
    "rate as Beijing faces sluggish economic expansion amid growing geopolitical challenges from "
    "Taiwan to Ukraine. This was reported by Reuters.\n"
    "China has the world\u2019s second-largest military budget after the United States, with a proposed "
    "military budget for 2025 of $850 billion.Taipei has ramped up defence spending in recent years "
    "in response to China's growing military presence around the self-ruled island -- but it has been "
    "under pressure to do more.\n"
    '"While we do not have any list (of planned weapon acquisitions) with Trump\'s team, new progress '
    "or discussions... Taiwan is very willing to have further discussions with like-minded partners, "
    'especially the US, on how to enhance Taiwan\'s self-defence capabilities," the official said.\n'
    "Taiwan's spending on defence has increased around 80 percent in the past eight years, the "
    "official said.\n"
    '"Relevant needs that align with our operational requirements will be proposed through" an existing '
    "military exchange mechanism with the United States, Taiwan Defence Minister Wellington Koo told "
    "reporters on Wednesday, declining to comment on specific requests.\n"
    "Related Links\n"
    "Taiwan News at SinoDaily.com\n"
    "Subscribe Free To Our Daily Newsletters |\n"
    "Subscribe Free To Our Daily Newsletters |"
)

TRAILER_LINES = (
    "Related Links",
    "Taiwan News at SinoDaily.com",
    "Subscribe Free To Our Daily Newsletters |",
)


def _sentences(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and line not in TRAILER_LINES]


def test_seed_excerpt_loses_trailer_and_keeps_every_sentence() -> None:
    cleaned = clean_text(SEED_EXCERPT)

    for boilerplate in TRAILER_LINES:
        assert boilerplate not in cleaned
    assert "SinoDaily" not in cleaned
    assert "$850 billion. Taipei has" in cleaned
    assert "Taiwan Defence Minister Wellington Koo told reporters on Wednesday" in cleaned
    assert cleaned.endswith("declining to comment on specific requests.")
    # Every article line survives unchanged apart from the one inserted space.
    for line in _sentences(SEED_EXCERPT):
        assert line.replace("billion.Taipei", "billion. Taipei") in cleaned


def test_quotes_and_dashes_are_not_rewritten() -> None:
    text = "\u201cWe will,\u201d he said \u2014 it\u2019s \"done\" -- and 'final'."
    assert clean_text(text) == text


def test_whitespace_normalization() -> None:
    raw = "  \r\nFirst line.   \r\nSecond\u00a0line.\t\r\n\r\n\r\n\r\n\r\nNew paragraph.\n\nAnother one.  \n\n"
    assert clean_text(raw) == "First line.\nSecond line.\n\nNew paragraph.\n\nAnother one."


def test_single_and_double_newlines_are_kept_as_in_input() -> None:
    assert clean_text("One.\nTwo.\n\nThree.") == "One.\nTwo.\n\nThree."


@pytest.mark.parametrize(
    "line",
    [
        "Subscribe Free To Our Daily Newsletters |",
        "subscribe free to our daily newsletters",
        "Advertisement",
        "ADVERTISEMENT",
        "Share this article",
        "Click here to read the full report",
        "Sign up for our newsletter",
        "Sign up for our free daily newsletter to get the news first",
        "All rights reserved.",
        "\u00a9 2024 AFP. All rights reserved.",
        "Copyright 2024 Space Media Network",
        "Follow us on Twitter",
        "Follow us on Facebook and Instagram",
        "This website uses cookies to improve your experience.",
        "We use cookies",
        "Accept all cookies",
    ],
)
def test_boilerplate_lines_are_dropped(line: str) -> None:
    assert is_boilerplate(line)
    cleaned = clean_text(f"The minister spoke on Monday.\n{line}\nShe left on Tuesday.")
    assert cleaned == "The minister spoke on Monday.\nShe left on Tuesday."


@pytest.mark.parametrize(
    "sentence",
    [
        "Readers who subscribe to the paper received the report a day earlier.",
        "Millions subscribe to streaming services, the survey found.",
        "The company said it would advertise the jobs abroad.",
        "Click-through rates fell, the study said.",
        "Copyright law was reformed in 2019 after years of debate.",
        "The court said cookies stored by the site broke privacy law.",
        "Read more books, the minister told pupils.",
    ],
)
def test_real_sentences_mentioning_boilerplate_words_survive(sentence: str) -> None:
    assert not is_boilerplate(sentence)
    assert sentence in clean_text(f"Opening line.\n{sentence}\nClosing line.")


def test_trailer_header_drops_following_link_lines_only() -> None:
    text = (
        "The launch was delayed by a day.\n"
        "Read more\n"
        "\n"
        "Space News at SpaceDaily.com\n"
        "Why the rocket failed?\n"
        "The agency will publish a full report in March, officials said on Friday.\n"
    )
    cleaned = clean_text(text)
    assert cleaned == (
        "The launch was delayed by a day.\n"
        "The agency will publish a full report in March, officials said on Friday."
    )


@pytest.mark.parametrize("header", ["Related Links", "Related Articles", "related articles:", "Read more:"])
def test_trailer_headers(header: str) -> None:
    cleaned = clean_text(f"Body sentence here.\n{header}\nMore News at Example.com\nOther headline")
    assert cleaned == "Body sentence here."


@pytest.mark.parametrize(
    ("glued", "expected"),
    [
        ("budget of $850 billion.Taipei has", "budget of $850 billion. Taipei has"),
        ("the year 2024.Officials said", "the year 2024. Officials said"),
        ("Is it over?Nobody knows.", "Is it over? Nobody knows."),
        ("They won!Fans cheered.", "They won! Fans cheered."),
        ('he said "no".Then he left', 'he said "no". Then he left'),
        ("it rose in 2024.A new plan", "it rose in 2024. A new plan"),
    ],
)
def test_glued_sentences_are_split(glued: str, expected: str) -> None:
    assert split_glued_sentences(glued) == expected
    assert clean_text(glued) == expected


@pytest.mark.parametrize(
    "text",
    [
        "U.S. officials met U.K. envoys.",
        "Some allies, e.g. Japan, agreed.",
        "She holds a Ph.D in physics and a Ph.D. in law.",
        "Taiwan News at SinoDaily.com",
        "Visit www.BBC.co.uk for more.",
        "Growth was 3.5 percent.",
        "J.R.R. Tolkien wrote it.",
        "See https://example.com/News.Today for details.",
        "Contact press@Example.Org today.",
        "Ellipsis... Then more.",
    ],
)
def test_non_sentence_dots_are_left_alone(text: str) -> None:
    assert split_glued_sentences(text) == text
    assert clean_text(text) == text


def test_empty_and_boilerplate_only_text_gives_empty_string() -> None:
    assert clean_text("") == ""
    assert clean_text("\n\nAdvertisement\nRelated Links\nSome link\n") == ""
