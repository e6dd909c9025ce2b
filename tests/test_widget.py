"""The chat widget (`qa/static/widget.js`) in headless Chromium against the real service.

Each server configuration runs once per module: uvicorn in a thread on a free port, over a copy
of the seeded index, sharing the session's embedding model. Screenshots of every state go to
`artifacts/widget/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from qa.embed import Embedder
from qa.settings import PROJECT_ROOT
from tests.fakes import FakeBackend
from tests.helpers import TAIWAN_ID, live_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = PROJECT_ROOT / "artifacts" / "widget"
CLOSED_PORT = "http://127.0.0.1:9/v1"  # nothing listens there: a real connection error
SLOW_MODEL = "slow-widget-test"
TIMEOUT = 60_000  # ms, for an answer to finish

QUESTION = "By how much will China increase its defense spending this year?"
FOLLOW_UP = "And how much did Taipei allocate for defence in 2024?"
OFF_TOPIC = "Who won the 2022 FIFA World Cup?"
TAIWAN_TITLE = "Taiwan seeks closer security ties"
REFUSAL = "The articles I have don’t cover that."
UNAVAILABLE = "The answering service is unavailable right now."


# streams a cited sentence one word every 0.3 s, long enough to press Stop
_WORDS = ("China will increase its defense spending by 7.2 percent this year [1]. " * 6).split()
SLOW = FakeBackend(SLOW_MODEL, [word if i == 0 else " " + word for i, word in enumerate(_WORDS)], delay=0.3)


# --- servers and the browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    """The service as shipped: extractive answers, no rate limit to trip over."""
    with live_server(seeded_dir, tmp_path_factory.mktemp("widget"), embedder, rate_limit_per_minute=0) as url:
        yield url


@pytest.fixture(scope="module")
def failing_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    """An OpenAI-compatible answer backend on a closed port: every answer fails with 503."""
    with live_server(seeded_dir, tmp_path_factory.mktemp("widget-failing"), embedder, rate_limit_per_minute=0,
               model="openai", openai_base_url=CLOSED_PORT, openai_max_retries=0, openai_timeout=5.0) as url:
        yield url


@pytest.fixture(scope="module")
def limited_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    with live_server(seeded_dir, tmp_path_factory.mktemp("widget-limited"), embedder, rate_limit_per_minute=2) as url:
        yield url


@pytest.fixture(scope="module")
def slow_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder,
                fake_backends: Callable[[FakeBackend], FakeBackend]) -> Iterator[str]:
    fake_backends(SLOW)
    with live_server(seeded_dir, tmp_path_factory.mktemp("widget-slow"), embedder, rate_limit_per_minute=0,
               model=SLOW_MODEL) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: scripts/install.sh test installs it (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, color_scheme="light")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# --- helpers -----------------------------------------------------------------------------------
def shot(page: Page, name: str) -> None:
    # Animations stopped: the typing dots and the streaming caret show in a steady state.
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")


def open_widget(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("button", name="Ask the news desk").click()
    expect(page.get_by_label("Your question")).to_be_focused()


def ask(page: Page, question: str) -> None:
    """Type `question`, press Enter, and wait until the answer (or error) is final."""
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    expect(page.locator("qa-chat .msg.user").last).to_contain_text(question)
    expect(page.locator("qa-chat .stop")).to_be_hidden(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Send")).to_be_visible()


def last_answer(page: Page) -> Any:
    return page.locator("qa-chat .msg.bot").last


# --- tests -------------------------------------------------------------------------------------
def test_streams_a_cited_answer_and_opens_the_citation_card(page: Page, server: str) -> None:
    page.goto(server + "/")
    shot(page, "00-closed")
    open_widget(page, server)
    # The host page styles every button uppercase with a thick border: none of it reaches the widget.
    send = page.get_by_role("button", name="Send")
    assert send.evaluate("e => getComputedStyle(e).textTransform") == "none"
    assert send.evaluate("e => getComputedStyle(e).borderTopWidth") == "0px"
    shot(page, "01-open")

    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_label("Your question").press("Enter")
    shot(page, "02-waiting")
    expect(page.locator("qa-chat .stop")).to_be_hidden(timeout=TIMEOUT)
    answer = last_answer(page)
    expect(answer.locator(".ans")).to_contain_text("7.2")
    markers = answer.locator("button.cite")
    assert markers.count() >= 1
    expect(answer.get_by_role("heading", name="Sources")).to_be_visible()
    expect(answer.locator(".srcs li").first).to_contain_text(TAIWAN_TITLE)
    assert page.locator("qa-chat [role=log]").get_attribute("aria-live") == "polite"
    shot(page, "03-answer")

    markers.first.click()
    card = answer.locator(".card")
    expect(card).to_be_visible()
    expect(card.locator("strong")).to_contain_text(TAIWAN_TITLE)
    expect(card.locator("mark")).to_contain_text("7.2 percent")
    expect(markers.first).to_have_attribute("aria-expanded", "true")
    shot(page, "04-citation-card")

    # Escape closes the card and leaves focus on the marker.
    card.get_by_role("button", name=re.compile("Close source")).focus()
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()
    expect(markers.first).to_be_focused()


def test_follow_up_sends_the_history(page: Page, server: str) -> None:
    open_widget(page, server)
    with page.expect_request(lambda r: r.url.endswith("/v1/ask/stream")) as first:
        ask(page, QUESTION)
    assert first.value.post_data_json == {"question": QUESTION, "history": []}
    first_answer = last_answer(page).locator(".ans").inner_text()

    with page.expect_request(lambda r: r.url.endswith("/v1/ask/stream")) as second:
        ask(page, FOLLOW_UP)
    body = second.value.post_data_json
    assert body["question"] == FOLLOW_UP
    history = body["history"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == QUESTION
    assert "7.2 percent" in history[1]["content"] and "[1]" not in history[1]["content"]
    assert history[1]["content"].split()[:5] == first_answer.split()[:5]
    expect(last_answer(page).locator(".ans")).to_contain_text("19 billion")
    assert last_answer(page).locator("button.cite").count() >= 1
    shot(page, "05-follow-up")


def test_refusal_is_a_human_message(page: Page, server: str) -> None:
    open_widget(page, server)
    ask(page, OFF_TOPIC)
    refusal = last_answer(page).locator(".refuse")
    expect(refusal).to_contain_text(REFUSAL)
    expect(last_answer(page).locator("button.cite")).to_have_count(0)
    shot(page, "06-refusal")


def test_backend_failure_offers_retry_with_the_same_question(page: Page, failing_server: str) -> None:
    open_widget(page, failing_server)
    ask(page, QUESTION)
    error = last_answer(page).locator(".err")
    expect(error).to_contain_text(UNAVAILABLE)
    retry = error.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    shot(page, "07-backend-failure")

    with page.expect_request(lambda r: r.url.endswith("/v1/ask/stream")) as again:
        retry.click()
    assert again.value.post_data_json["question"] == QUESTION
    expect(page.locator("qa-chat .stop")).to_be_hidden(timeout=TIMEOUT)
    expect(last_answer(page).locator(".err")).to_contain_text(UNAVAILABLE)
    expect(page.locator("qa-chat .msg.user")).to_have_count(1)  # retried in place, not asked anew


def test_rate_limiting_says_when_to_try_again(page: Page, limited_server: str) -> None:
    open_widget(page, limited_server)
    ask(page, OFF_TOPIC)
    ask(page, OFF_TOPIC)
    ask(page, OFF_TOPIC)
    error = last_answer(page).locator(".err")
    expect(error).to_contain_text(re.compile(r"Too many questions — try again in \d+ seconds?\."))
    expect(error.get_by_role("button", name="Retry")).to_be_visible()
    shot(page, "08-rate-limited")


def test_network_failure_and_untrusted_text(page: Page, server: str) -> None:
    open_widget(page, server)
    page.route("**/v1/ask/stream", lambda route: route.abort("connectionrefused"))
    ask(page, QUESTION)
    expect(last_answer(page).locator(".err")).to_contain_text("Couldn’t reach the answering service.")
    expect(last_answer(page).get_by_role("button", name="Retry")).to_be_visible()
    shot(page, "09-network-error")

    # Server text is text: markup in answers, titles and passages never becomes elements, links
    # are http(s) only, and a quote missing from its passage is shown highlighted on its own.
    hostile = "<img src=x onerror=window.pwned=1>"
    passage = {"number": 1, "article_id": TAIWAN_ID, "chunk_id": 0, "title": f"Title {hostile}",
               "text": f"Passage {hostile} text.", "start": 0, "end": 30, "published": "2025-03-05",
               "url": "javascript:window.pwned=1", "source": "Wire", "score": 1.0}
    final = {"answer": f"Answer {hostile} [1].", "refused": False, "passages": [passage], "timings": {},
             "citations": [{"marker": 1, "article_id": TAIWAN_ID, "chunk_id": 0, "title": passage["title"],
                            "url": passage["url"], "published": "2025-03-05", "quote": "not in the passage",
                            "start": 500, "end": 519, "source": "Wire"}]}
    events = [("passages", {"passages": [passage], "standalone_question": QUESTION}),
              ("delta", {"text": "Answer "}), ("delta", {"text": hostile}), ("citations", final), ("done", {})]
    body = "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)
    page.unroute("**/v1/ask/stream")
    page.route("**/v1/ask/stream", lambda route: route.fulfill(status=200, body=body,
                                                               content_type="text/event-stream"))
    ask(page, QUESTION)
    answer = last_answer(page)
    expect(answer.locator(".ans")).to_contain_text(f"Answer {hostile}")
    answer.locator("button.cite").first.click()
    expect(answer.locator(".card mark")).to_have_text("not in the passage")
    assert page.locator("qa-chat img").count() == 0
    assert answer.locator("a").count() == 0  # the javascript: URL is dropped
    assert page.evaluate("window.pwned") is None


def test_stop_keeps_what_was_received(page: Page, slow_server: str) -> None:
    open_widget(page, slow_server)
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_label("Your question").press("Enter")
    expect(last_answer(page).locator(".status")).to_be_visible()
    shot(page, "10-typing")
    expect(last_answer(page).locator(".draft")).to_contain_text("defense spending", timeout=TIMEOUT)
    shot(page, "11-streaming")
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    answer = last_answer(page)
    expect(answer.locator(".note")).to_contain_text("Stopped")
    expect(answer.locator(".ans")).to_contain_text("China will increase its defense spending")
    expect(page.get_by_label("Your question")).to_be_focused()
    shot(page, "12-stopped")


def test_phone_width_dark_theme_and_keyboard(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, color_scheme="dark",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(server + "/")
        shot(page, "13-phone-closed")
        # Keyboard only: Tab reaches the launcher; Enter opens the chat with the input focused.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement?.shadowRoot?.activeElement?.className") == "launch":
                break
        else:
            pytest.fail("Tab never reached the chat launcher")
        page.keyboard.press("Enter")
        question = page.get_by_label("Your question")
        expect(question).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(page.get_by_role("button", name="Close chat")).to_be_focused()
        page.keyboard.press("Tab")
        expect(question).to_be_focused()

        panel = page.locator("qa-chat .panel").bounding_box()
        box = question.bounding_box()
        assert panel and box
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 360
        assert box["width"] >= 200 and box["x"] + box["width"] <= 360

        page.keyboard.type(QUESTION)
        page.keyboard.press("Enter")
        expect(page.locator("qa-chat .stop")).to_be_hidden(timeout=TIMEOUT)
        expect(last_answer(page).locator(".ans")).to_contain_text("7.2")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        log_overflow = page.locator("qa-chat .log").evaluate("e => e.scrollWidth - e.clientWidth")
        assert log_overflow <= 0
        shot(page, "14-phone-answer")

        # The marker is reachable backwards from the input, and keyboard focus opens its card.
        marker = last_answer(page).locator("button.cite").last
        for _ in range(10):
            page.keyboard.press("Shift+Tab")
            if marker.evaluate("e => e.getRootNode().activeElement === e"):
                break
        else:
            pytest.fail("Shift+Tab never reached the citation marker")
        card = last_answer(page).locator(".card")
        expect(card).to_be_visible()
        expect(card.locator("mark")).to_contain_text("7.2 percent")
        shot(page, "15-phone-card")
        page.keyboard.press("Escape")
        expect(card).to_be_hidden()
        expect(marker).to_be_focused()
        page.keyboard.press("Enter")
        expect(card).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
