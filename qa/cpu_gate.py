"""A first-come, first-served limit on CPU-bound work: at most one running task per core.

Threads beyond the limit wait in arrival order, so under load requests finish roughly in the
order they came and the tail stays near the median (instead of every request slowing down
together while dozens share two cores).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator


class FifoGate:
    """A counting semaphore that admits waiters strictly in arrival order; re-entrant per thread."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: collections.deque[threading.Event] = collections.deque()
        self._local = threading.local()

    @property
    def waiting(self) -> int:
        """Threads queued for a slot."""
        with self._lock:
            return len(self._waiting)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._acquire()
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                self._release()

    def _acquire(self) -> None:
        with self._lock:
            if self._running < self.slots and not self._waiting:
                self._running += 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # _release handed its slot over (the running count stays)

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._running -= 1


def cpu_gate(workers: int = 0) -> FifoGate:
    """A gate with `workers` slots (0: one per core). The service builds one and shares it."""
    return FifoGate(workers if workers > 0 else (os.cpu_count() or 1))
