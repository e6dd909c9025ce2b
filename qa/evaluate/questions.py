"""Question sets: the JSONL format, how a question counts, and selecting a split."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.loaders import ArticleError, normalize_date

ANSWERABLE = "answerable"
UNANSWERABLE = "unanswerable"
SKIPPED = "skipped"


class QuestionFileError(ValueError):
    """A question file that cannot be read; the message says where and what to fix."""


# --- questions ---------------------------------------------------------------------------------


@dataclass
class EvalQuestion:
    """One question of an evaluation set."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    date: str | None = None
    split: str | None = None
    answerable: bool | None = None  # explicit flag from the file, if any

    @property
    def as_of(self) -> str | None:
        """`date` as YYYY-MM-DD, or None when it is missing or not a date."""
        try:
            return normalize_date(self.date, "date") if self.date else None
        except ArticleError:
            return None

    @property
    def kind(self) -> str:
        """answerable | unanswerable | skipped (see the module docstring)."""
        if self.answerable is False:
            return UNANSWERABLE
        if self.gold_ids or self.answerable is True:
            return ANSWERABLE
        if not self.answers:
            return UNANSWERABLE
        return SKIPPED

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "question") -> EvalQuestion:
        question = data.get("question")
        if not isinstance(question, str) or not question.strip():
            raise QuestionFileError(f'{where}: missing "question" (a non-empty string)')
        answers = data.get("answers") or []
        gold_ids = data.get("gold_ids") or []
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not isinstance(gold_ids, list):
            raise QuestionFileError(f'{where}: "answers" and "gold_ids" must be lists')
        answerable = data.get("answerable")
        return cls(
            id=str(data.get("id", where)),
            question=question.strip(),
            answers=[str(a) for a in answers if str(a).strip()],
            gold_ids=[str(g) for g in gold_ids],
            date=data.get("date"),
            split=data.get("split"),
            answerable=answerable if isinstance(answerable, bool) else None,
        )


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from a .jsonl or .jsonl.gz file (blank lines ignored)."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    questions = []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as error:
                    raise QuestionFileError(f"{where}: not valid JSON ({error})") from None
                if not isinstance(data, dict):
                    raise QuestionFileError(f"{where}: expected a JSON object per line")
                questions.append(EvalQuestion.from_mapping(data, where))
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise QuestionFileError(f"cannot read {path}: {error}") from None
    return questions


def select_questions(
    questions: Iterable[EvalQuestion], split: str | None = None
) -> tuple[list[EvalQuestion], int]:
    """Questions of `split`; by default every question whose split isn't "heldout".
    Returns (kept, how many heldout questions were left out)."""
    kept, heldout = [], 0
    for question in questions:
        if split is not None:
            if question.split == split:
                kept.append(question)
            elif question.split == "heldout":
                heldout += 1
        elif question.split == "heldout":
            heldout += 1
        else:
            kept.append(question)
    return kept, heldout
