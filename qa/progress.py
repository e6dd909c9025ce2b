"""Progress bars for long ingests and evaluations, also where output is a log rather than a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
LOG_INTERVAL_S = 30.0  # off a terminal a bar is a log line: one every this many seconds, not per redraw


def progress_bar(iterable: Iterable[T] | None = None, *, show: bool | None, **options: Any) -> tqdm:
    """A tqdm bar. `show=None` shows it on a terminal only; `True` always (off a terminal, one
    line every `LOG_INTERVAL_S` seconds, so `--progress` in CI or under nohup still says how far
    a long ingest got); `False` never."""
    on_terminal = sys.stderr.isatty()
    if show is None:
        show = on_terminal
    if show and not on_terminal:
        options.setdefault("mininterval", LOG_INTERVAL_S)
        options.setdefault("ncols", 100)
    else:
        options.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=not show, **options)
