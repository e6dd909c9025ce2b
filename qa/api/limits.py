"""Limits that apply before a handler runs: the nesting depth of a JSON body (checked on the raw
bytes, so a deeply nested body is a 400 and never reaches a recursive decoder), and the limits
written into the OpenAPI schema so clients can read them."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar._openapi.plugin import OpenAPIPlugin

from qa.api import validation
from qa.loaders import MAX_ID_CHARS
from qa.settings import Settings

JSON_DEPTH_KEY = "max_json_depth"
ARTICLE_SCHEMA: dict[str, Any] = {  # what qa.loaders.article_from_mapping accepts
    "type": "object",
    "required": ["id", "text"],
    "properties": {
        "id": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": "^[^/]+$"},
                         {"type": "integer"}]},
        "title": {"type": "string"},
        "text": {"type": "string", "minLength": 1},
        "url": {"oneOf": [{"type": "string"}, {"type": "null"}]},
        "published": {"oneOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
        "source": {"oneOf": [{"type": "string"}, {"type": "null"}]},
    },
}
_CHECKED = "qa_json_depth_checked"


class LimitedRequest(Request):
    """A `Request` whose body is refused (400) when its JSON nests deeper than the app's limit."""

    async def body(self) -> bytes:
        body = await super().body()
        state = self.scope.setdefault("state", {})
        if not state.get(_CHECKED):
            state[_CHECKED] = True
            validation.json_depth(body, self.app.state[JSON_DEPTH_KEY])
        return body


def document_limits(app: Litestar, settings: Settings) -> None:
    """Write `settings`' limits (question length, k, history) into the app's OpenAPI schema."""
    schema: dict[str, Any] = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    components = schema.get("components", {}).get("schemas", {})
    question = {"minLength": 1, "maxLength": settings.max_question_chars}
    k_range = {"minimum": 1, "maximum": settings.max_k}
    for name, body in components.items():
        properties = body.get("properties", {})
        if name.endswith("AskBody"):
            properties.get("question", {}).update(question)
            properties.get("history", {}).update({"maxItems": settings.max_history_turns})
            _describe(properties.get("history"), f"At most {settings.max_history_turns} messages and "
                      f"{settings.max_history_chars} characters in all.")
        if name.endswith("ChatCompletionRequest"):
            properties.get("messages", {}).update({"minItems": 1, "maxItems": settings.max_history_turns + 1})
            _describe(properties.get("messages"), f"The last is the user's question (at most "
                      f"{settings.max_question_chars} characters); before it at most "
                      f"{settings.max_history_turns} messages and {settings.max_history_chars} characters.")
        if "k" in properties and name.endswith(("AskBody", "ChatCompletionRequest")):
            _set_range(properties["k"], k_range)
    body = schema.get("paths", {}).get("/v1/articles", {}).get("post", {}).get("requestBody", {})
    media = body.get("content", {}).get("application/json")
    if media is not None:
        described = media.get("schema", {})
        media["schema"] = {**described, "oneOf": [ARTICLE_SCHEMA, {"type": "array", "minItems": 1,
                                                                    "items": ARTICLE_SCHEMA}]}
    search = schema.get("paths", {}).get("/v1/search", {}).get("get", {})
    for parameter in search.get("parameters", []):
        if parameter.get("name") == "q":
            parameter.setdefault("schema", {}).update(question)
        if parameter.get("name") == "k":
            _set_range(parameter.setdefault("schema", {}), k_range)
    schema.setdefault("info", {})["description"] = (
        schema.get("info", {}).get("description", "")
        + f" Limits: bodies up to {settings.max_body_bytes} bytes, JSON nested at most "
        f"{settings.max_json_depth} deep; every refusal is a 4xx whose `detail` names the limit."
    )


def _set_range(prop: dict[str, Any], k_range: dict[str, int]) -> None:
    """`k` is `int | null`: put the range on the integer alternative."""
    alternatives = prop.get("oneOf") or prop.get("anyOf")
    if alternatives:
        for alternative in alternatives:
            if alternative.get("type") == "integer":
                alternative.update(k_range)
    else:
        prop.update(k_range)


def _describe(prop: dict[str, Any] | None, text: str) -> None:
    if prop is not None:
        prop["description"] = (prop.get("description", "") + " " + text).strip()
