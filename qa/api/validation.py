"""Turn request input into the domain's requests, or raise a 4xx that says what to fix.

Type errors (a string where a number goes, unknown filter fields, malformed JSON) are caught by
Litestar's decoding of the schemas; this module checks what types cannot: ranges, lengths,
dates, known model names, and article payloads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from litestar.exceptions import ClientException, HTTPException
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from qa.answer_types import AskRequest
from qa.backends import available_backends
from qa.backends.base import Message
from qa.loaders import ArticleError, article_from_mapping
from qa.settings import Settings
from qa.types import Article, FilterError, Filters

HISTORY_ROLES = frozenset({"system", "user", "assistant"})


class UnprocessableArticles(HTTPException):
    """422: an article of the payload cannot be ingested; nothing was written."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY


def question(text: str, settings: Settings, *, field: str = "question") -> str:
    """The question, stripped; 400 when empty or longer than `settings.max_question_chars`."""
    stripped = text.strip()
    if not stripped:
        raise ClientException(f'"{field}" is empty: send the question as a non-empty string')
    if len(stripped) > settings.max_question_chars:
        raise ClientException(
            f'"{field}" is {len(stripped)} characters long; the limit is {settings.max_question_chars}'
        )
    return stripped


def passage_count(value: int | None, settings: Settings) -> int | None:
    """How many passages; 400 unless 1 <= k <= settings.max_k."""
    if value is None:
        return None
    if isinstance(value, bool) or not 1 <= value <= settings.max_k:
        raise ClientException(f'"k" must be between 1 and {settings.max_k} (got {value!r})')
    return value


def filters(value: Filters | None) -> Filters | None:
    """Filters with dates normalized to YYYY-MM-DD; 400 for a date that is not ISO."""
    if value is None:
        return None
    try:
        return value.normalized()
    except FilterError as error:
        raise ClientException(str(error)) from None


class ModelNotEnabled(ClientException):
    """400: `model` names no backend the operator enabled (`QA_MODEL`, `QA_ALLOWED_MODELS`). The
    OpenAI-compatible face answers it as a 404 in OpenAI's shape instead."""

    def __init__(self, name: str, enabled: tuple[str, ...]) -> None:
        known = "not enabled on this service" if name in available_backends() else "unknown"
        super().__init__(f'model {name!r} is {known}: choose one of {", ".join(enabled)} '
                         "(the operator enables backends with QA_ALLOWED_MODELS)")
        self.model = name
        self.enabled = enabled


def model(name: str | None, settings: Settings) -> str | None:
    """The one check of a requested backend: None (the default) or one the operator enabled;
    `ModelNotEnabled` otherwise."""
    if name is None:
        return None
    enabled = settings.enabled_models()
    if name not in enabled:
        raise ModelNotEnabled(name, enabled)
    return name


def history(messages: Sequence[Message], settings: Settings | None = None, *,
            field: str = "history") -> list[Message]:
    """Conversation history; 400 for a role other than system, user or assistant, or for more
    turns or characters than `settings.max_history_turns` / `max_history_chars`."""
    for position, message in enumerate(messages):
        if message.role not in HISTORY_ROLES:
            raise ClientException(
                f'history[{position}].role must be one of system, user, assistant (got {message.role!r})'
            )
    if settings is not None:
        history_size(len(messages), sum(len(m.content) for m in messages), settings, field=field)
    return list(messages)


def history_size(turns: int, chars: int, settings: Settings, *, field: str = "history") -> None:
    """400 when a conversation's history is over the turn or character limit."""
    if turns > settings.max_history_turns:
        raise ClientException(
            f'"{field}" holds {turns} messages; the limit is {settings.max_history_turns} '
            "(QA_MAX_HISTORY_TURNS): send only the latest turns"
        )
    if chars > settings.max_history_chars:
        raise ClientException(
            f'"{field}" holds {chars} characters; the limit is {settings.max_history_chars} '
            "(QA_MAX_HISTORY_CHARS): send only the latest turns, or shorten them"
        )


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes, limit: int) -> None:
    """400 when arrays and objects in a JSON body nest deeper than `limit` (checked on the raw
    bytes, before a recursive decoder could run out of stack)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise ClientException(
                    f"the JSON body nests arrays and objects more than {limit} deep "
                    "(QA_MAX_JSON_DEPTH): send a flatter body"
                )
        else:
            depth -= 1


def ask_request(
    text: str,
    settings: Settings,
    *,
    k_value: int | None = None,
    filter_value: Filters | None = None,
    history_value: Sequence[Message] = (),
    model_name: str | None = None,
) -> AskRequest:
    """A validated `AskRequest` for the answerer."""
    return AskRequest(
        question=question(text, settings),
        k=passage_count(k_value, settings),
        filters=filters(filter_value),
        history=history(history_value, settings),
        model=model(model_name, settings),
    )


def articles(payload: Any) -> list[Article]:
    """One article object or a non-empty list of them, validated as a whole: the first bad item
    rejects the request (422) with its position and the field to fix."""
    if isinstance(payload, dict):
        try:
            return [article_from_mapping(payload)]
        except ArticleError as error:
            raise UnprocessableArticles(detail=f"article: {error}") from None
    if not isinstance(payload, list):
        raise ClientException(
            'send one article object {"id", "title", "text", "url"?, "published"?, "source"?} '
            "or a list of them"
        )
    if not payload:
        raise ClientException("the list of articles is empty: send at least one article")
    result = []
    for position, item in enumerate(payload):
        if not isinstance(item, dict):
            raise UnprocessableArticles(
                detail=f"articles[{position}]: expected an article object, got {type(item).__name__}; "
                "nothing was written"
            )
        try:
            result.append(article_from_mapping(item))
        except ArticleError as error:
            raise UnprocessableArticles(
                detail=f"articles[{position}] (id {item.get('id')!r}): {error}; nothing was written"
            ) from None
    return result
