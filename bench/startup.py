"""`qa serve` start-up per encoder: seconds until /readyz answers 200, resident memory, torch or not.

    python bench/startup.py [--rounds R]

For each encoder (QA_ENCODER=onnx, the default, and torch) the bundled seeds are ingested into a
scratch index, then `qa serve` is started R times (alternating encoders) on it; each start is timed
from process launch to the first 200 from /readyz, and its VmRSS read after a /v1/search.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(env: dict[str, str], index: Path) -> tuple[float, float, bool]:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError("qa serve did not become ready")
            time.sleep(0.05)
        ready = time.perf_counter() - started
        httpx.get(f"{url}/v1/search", params={"q": "Taiwan defence budget"}, timeout=60).raise_for_status()
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        return ready, rss_mb(process.pid), "libtorch" in maps
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    encoders = ("onnx", "torch")
    results: dict[str, list[tuple[float, float, bool]]] = {e: [] for e in encoders}
    with tempfile.TemporaryDirectory() as tmp:
        envs, indexes = {}, {}
        for encoder in encoders:
            envs[encoder] = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {
                "QA_ENCODER": encoder, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                "QA_TIKTOKEN_CACHE_DIR": f"{tmp}/tiktoken"}
            indexes[encoder] = Path(tmp) / f"index-{encoder}"
            subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(ROOT / "seeds"), "--index",
                            str(indexes[encoder]), "--no-progress"], env=envs[encoder], check=True,
                           stdout=subprocess.DEVNULL)
        for _ in range(rounds):
            for encoder in encoders:
                results[encoder].append(start(envs[encoder], indexes[encoder]))
    table = Table(title=f"qa serve on the seeds index, median of {rounds} starts")
    for column in ("encoder", "ready (s)", "RSS after a search (MB)", "torch loaded"):
        table.add_column(column, justify="right")
    for encoder, runs in results.items():
        table.add_row(encoder, f"{statistics.median(r[0] for r in runs):.2f}",
                      f"{statistics.median(r[1] for r in runs):.0f}", str(any(r[2] for r in runs)))
    Console(width=120).print(table)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
