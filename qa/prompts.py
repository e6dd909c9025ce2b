"""Prompt templates: Jinja2 files in `prompts/`, rendered in a sandbox with strict variables.

A template defines a `system` and a `user` block and declares its version in a first-line
comment, `{# version: answer-1 #}`; the version is recorded in every answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from qa.backends.base import Message

_VERSION = re.compile(r"\{#\s*version:\s*(\S+)\s*#\}")


class PromptError(RuntimeError):
    """A template is missing, malformed or was rendered without a variable it needs."""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template that renders to chat messages."""

    name: str
    version: str
    template: jinja2.Template

    def render(self, **variables: Any) -> list[Message]:
        context = self.template.new_context(variables)
        messages = []
        for role in ("system", "user"):
            block = self.template.blocks.get(role)
            if block is None:
                continue
            try:
                text = "".join(block(context)).strip()
            except jinja2.UndefinedError as error:
                raise PromptError(f"prompt {self.name!r}: {error}") from None
            messages.append(Message(role=role, content=text))
        return messages


def _environment(directory: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text; passages are delimited, not HTML-escaped
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def load_prompt(directory: Path, name: str) -> PromptTemplate:
    """Load `directory/name.jinja` (its user loads it once and keeps it)."""
    path = directory / f"{name}.jinja"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PromptError(f"cannot read prompt template {path}: {error.strerror}") from None
    match = _VERSION.search(source.split("\n", 1)[0])
    if match is None:
        raise PromptError(f"{path} must start with a version comment: {{# version: {name}-1 #}}")
    try:
        template = _environment(directory).get_template(f"{name}.jinja")
    except jinja2.TemplateSyntaxError as error:
        raise PromptError(f"{path}:{error.lineno}: {error.message}") from None
    return PromptTemplate(name=name, version=match.group(1), template=template)


def delimit(text: str) -> str:
    """Article text made safe to place between the `<<<` and `>>>` lines that delimit a passage
    in a prompt: it cannot close its passage early or open another one."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")
