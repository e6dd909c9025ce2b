"""`/v1/search` throughput with 1 and 2 `qa serve` replicas on the same scale-out stack (used by
bench/stores.py --http). Clients spread requests round-robin over the replicas; every replica
embeds its queries with the bundled ONNX MiniLM. On a 2-core machine the replicas, the servers
and the client share the same cores: this shows that replicas add up, not what N machines give.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port, wait_until_ready  # noqa: E402


def start_replica(env: dict[str, str], scratch: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--index",
                                str(scratch / f"unused{port}")], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, lambda: process.poll() is None, timeout=300)
    return process, url


def load(urls: list[str], questions: list[str], clients: int, requests: int) -> dict:
    """`requests` GET /v1/search?q=...&k=5 from `clients` threads over `urls`; req/s and p50/p99 ms."""
    latencies: list[float] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                started = time.perf_counter()
                params = {"q": questions[n % len(questions)], "k": 5}
                response = http.get(f"{urls[n % len(urls)]}/v1/search", params=params)
                response.raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"requests_per_s": round(len(latencies) / seconds, 1), "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1)}


def throughput(scale_env: dict[str, str], questions: list[str], scratch: Path, clients: int = 8,
               requests: int = 300, replicas: tuple[int, ...] = (1, 2)) -> dict:
    """/v1/search with one replica, then two, on the stack `scale_env` (QA_* variables) names
    (the embedded stack: one replica, it has one writer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | scale_env
    env |= {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "QA_RATE_LIMIT_PER_MINUTE": "0",
            "QA_SEEDS_DIR": str(scratch / "no-seeds"), "QA_TIKTOKEN_CACHE_DIR": str(scratch / "tiktoken")}
    results = {}
    processes = []
    try:
        urls = []
        for n in replicas:
            process, url = start_replica(env, scratch)
            processes.append(process)
            urls.append(url)
            load(urls, questions[:20], clients, 40)  # warm-up
            results[f"{n}_replica{'s' if n > 1 else ''}"] = load(urls, questions, clients, requests)
            print(n, results, flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
    return results
