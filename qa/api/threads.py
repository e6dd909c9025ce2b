"""The API's one threading style: handlers are `async`, and each blocking call (the model, the
index, the disk) runs through `blocking(fn, *args)` in anyio's worker threads, so the event loop
stays free. The one exception is an answer stream: its generator keeps a thread of its own
(`qa.api.sse.iterate_in_thread`), because it holds per-thread state (the re-entrant FIFO CPU slot of
`qa.cpu_gate`) across its items and must not hop between pool threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def blocking(fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """`fn(*args)` in a worker thread."""
    return await anyio.to_thread.run_sync(fn, *args)
