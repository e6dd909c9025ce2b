"""Scores whether a claim is supported by evidence with a local llama.cpp model: the probability
of "yes" versus "no" as the first answer token, read straight from the next-token logits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_cpp.llama_types import ChatCompletionRequestMessage

Render = Callable[[str, str], list[dict[str, str]]]
"""Builds the chat messages for `(claim, evidence)`."""

YES_WORDS = ("yes", " yes", "Yes", " Yes", "YES")
NO_WORDS = ("no", " no", "No", " No", "NO")


def prompt_render(prompts_dir: Path) -> Render:
    """Renders the judge prompt from `prompts_dir/judge.jinja`. Its wording was measured with
    Qwen2.5-Coder-1.5B: without "not your own knowledge", true but unrelated claims ("The Eiffel
    Tower is in Paris.") scored 0.3-0.4."""
    from qa.prompts import load_prompt

    template = load_prompt(prompts_dir, "judge")

    def render(claim: str, evidence: str) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content}
                for m in template.render(claim=claim.strip(), evidence=evidence.strip())]

    return render


def default_render(claim: str, evidence: str) -> list[dict[str, str]]:
    """The judge prompt from the project's own `prompts/judge.jinja`."""
    from qa.settings import Settings

    return prompt_render(Settings().prompts_dir)(claim, evidence)


class LLMJudge:
    """Support probabilities from a loaded `llama_cpp.Llama` (e.g. `LocalBackend.llama`).

    Pass the backend's `lock` when the model is shared: a llama.cpp context must not be used
    by two threads at once. Scoring resets the model's state, so results are deterministic.
    """

    def __init__(self, llama: Llama, render: Render = default_render, *,
                 lock: threading.Lock | None = None) -> None:
        self.llama = llama
        self.render = render
        self.lock = lock or threading.Lock()
        self._formatter = _chat_formatter(llama)
        self._yes_ids = _single_token_ids(llama, YES_WORDS)
        self._no_ids = _single_token_ids(llama, NO_WORDS)
        if not self._yes_ids or not self._no_ids:
            raise ValueError("the model's vocabulary has no single-token yes/no")

    def support_probability(self, claim: str, evidence: str) -> float:
        """P(yes) / (P(yes) + P(no)) for "is `claim` fully supported by `evidence`?"."""
        # Render's role/content dicts are the messages llama-cpp's TypedDicts describe
        messages = cast("list[ChatCompletionRequestMessage]", self.render(claim, evidence))
        prompt = self._formatter(messages=messages).prompt
        # The chat template already writes any special tokens, as llama-cpp's own chat path assumes.
        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        logits = self._next_token_logits(tokens)
        log_yes = _logsumexp(logits[self._yes_ids])
        log_no = _logsumexp(logits[self._no_ids])
        return float(1.0 / (1.0 + np.exp(log_no - log_yes)))

    def _next_token_logits(self, tokens: list[int]) -> np.ndarray:
        import llama_cpp

        with self.lock:
            # From scratch each time: reusing a cached prefix could shift the numbers slightly.
            self.llama.reset()
            self.llama.eval(tokens)
            # `llama.scores` is only filled with logits_all=True; read the last row from the context.
            pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(self.llama.n_vocab(),)).astype(np.float64)
        if not np.isfinite(logits).all() or not logits.any():
            raise RuntimeError("llama.cpp returned no logits for the judge prompt")
        return logits


def _chat_formatter(llama: Llama) -> Jinja2ChatFormatter:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("the model has no chat template in its GGUF metadata")

    def text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    return Jinja2ChatFormatter(template=template, eos_token=text(llama.token_eos()),
                               bos_token=text(llama.token_bos()), add_generation_prompt=True)


def _single_token_ids(llama: Llama, words: tuple[str, ...]) -> list[int]:
    ids: set[int] = set()
    for word in words:
        tokens = llama.tokenize(word.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return sorted(ids)


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))
