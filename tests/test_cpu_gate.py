"""The first-come, first-served gate on CPU-bound work."""

from __future__ import annotations

import threading
import time

from qa.cpu_gate import FifoGate, cpu_gate


def run_queued(gate: FifoGate, count: int) -> tuple[list[int], int]:
    """`count` threads that arrive one after another and hold the gate until all have arrived:
    the order they got in, and the most that were in at once."""
    order: list[int] = []
    inside, most = 0, 0
    lock = threading.Lock()
    hold = threading.Event()

    def work(i: int) -> None:
        nonlocal inside, most
        with gate.slot():
            with lock:
                order.append(i)
                inside += 1
                most = max(most, inside)
            hold.wait(10)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = []
    for i in range(count):
        thread = threading.Thread(target=work, args=(i,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while True:  # arrive in a known order: thread i is inside or queued before i + 1 starts
            with lock:
                arrived = len(order) + gate.waiting
            if arrived == i + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.001)
    hold.set()
    for thread in threads:
        thread.join(10)
    return order, most


def test_waiters_enter_in_arrival_order() -> None:
    # One slot: two threads admitted together could record their entry in either order.
    assert run_queued(FifoGate(1), 8) == (list(range(8)), 1)


def test_never_more_than_the_slots_at_once() -> None:
    order, most = run_queued(FifoGate(2), 8)
    assert sorted(order) == list(range(8)) and most == 2


def test_the_gate_is_reentrant() -> None:
    gate = FifoGate(1)
    with gate.slot(), gate.slot():  # nested use in one thread does not deadlock
        pass
    assert cpu_gate(3).slots == 3
    assert cpu_gate(0).slots >= 1
