"""HTTP latency and throughput of the running service, against the raw cost of a query.

    python bench/http_load.py [--clients 1,8,32] [--requests 200] [--index DIR]
    python bench/http_load.py --corpus /work/shared/eval/bbc/articles.jsonl.gz --corpus-limit 2000
    python bench/http_load.py --index /tmp/rtqa --questions ../shared/eval/realtimeqa/questions.jsonl.gz

Starts the real service (`qa serve`) on 127.0.0.1 with a scratch index of the bundled seeds (or
`--index DIR`, or the first `--corpus-limit` articles of `--corpus`, queried with their titles),
waits for /readyz, then for each number of concurrent clients sends `--requests` requests of
`GET /v1/search?q=...&k=5` and of `POST /v1/ask {"question": ...}` (the default answer backend,
extractive unless --model), and prints the latency p50/p99 and requests/s. First it measures,
in-process on the same index, the raw cost of a query: `embedder.encode([q])` plus
`FaissStore.search` (with as many candidates as the retriever asks for), each paired with the
same query sent to /v1/search by one client, and prints the /v1/search p50 over the raw p50
(target: <= 1.3). The client runs on the same machine as the service and shares its CPUs.
The service itself now defaults to OMP_WAIT_POLICY=PASSIVE (qa/__init__.py); `--omp-passive`
also sets it for this process before anything imports PyTorch or FAISS.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gzip
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "--omp-passive" in sys.argv:  # before PyTorch and FAISS load their OpenMP runtimes
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from qa.embed import load_embedder  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402
from qa.settings import Settings  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 140)
log = Console(stderr=True)

TARGET_RATIO = 1.3

# About the seeds (seeds/*.md): Taiwan's and China's defence spending, US ties, Ukraine lessons.
QUESTIONS = [
    "How much will China increase its defence spending this year?",
    "What is China's defence budget in yuan?",
    "How much has Taiwan's defence spending grown in the past eight years?",
    "How much did Taipei allocate for defence in 2024?",
    "Why does Taiwan want closer security ties with the United States?",
    "Why does Taiwan buy weapons from the US rather than from Europe?",
    "What did Trump say about Taiwan paying for its defence?",
    "Is Taiwan considering buying F-35 fighter jets?",
    "What is Taiwan learning from Ukraine?",
    "Which companies kept operating in Ukraine during the war?",
    "What did Andy Hunter say about critical infrastructure?",
    "What is China's economic growth target for 2025?",
    "By when does Xi Jinping want to complete military modernization?",
    "Which defence ministers were removed in China's corruption scandals?",
    "What is the proposed US military budget for 2025?",
    "Who is Taiwan's Vice Foreign Minister?",
    "What did the Financial Times report about Taiwan's arms purchases?",
    "What did Wellington Koo tell reporters?",
    "How is Taiwan upgrading its air raid warning and shelter systems?",
    "Who attended the closed-door seminar on preparedness in Taipei?",
    "Does China claim Taiwan as its territory?",
    "How did US-Taiwan relations change during Trump's first term?",
]


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the index -------------------------------------------------------------------------------------
def build_corpus_index(corpus: Path, limit: int, directory: Path, settings: Settings) -> None:
    """Ingest the first `limit` articles of a .jsonl(.gz) corpus into a new index in `directory`."""
    from qa.ingest import Ingestor

    sample = directory.parent / "corpus-sample.jsonl"
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt") as src, open(sample, "w") as dst:
        lines = list(itertools.islice(src, limit))
        dst.writelines(lines)
    # query with the titles of articles spread over the sample (the seed questions are off-topic)
    step = max(1, len(lines) // len(QUESTIONS))
    titles = [json.loads(line).get("title") for line in lines[::step]]
    if len([t for t in titles if t]) >= 5:
        QUESTIONS[:] = [t for t in titles if t][: len(QUESTIONS)]
    settings = settings.replace(index_dir=directory)
    started = time.perf_counter()
    with Index.open(settings, embedder=load_embedder(settings)) as index:
        report = Ingestor(index, settings, progress=None).ingest_paths([sample])
        index.save()
    log.print(f"ingested {len(report.added)} articles from {corpus.name} in "
              f"{time.perf_counter() - started:.0f} s", highlight=False)


def read_questions(path: Path, limit: int) -> list[str]:
    """The first `limit` questions of a .jsonl(.gz) file (dev split only, when it has splits)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row["question"] for row in rows if row.get("split", "dev") == "dev"][:limit]


# -- the service -------------------------------------------------------------------------------------
class Server:
    """`qa serve` in a child process, on a free port, with rate limiting off."""

    def __init__(self, index_dir: Path, model: str | None, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ, QA_RATE_LIMIT_PER_MINUTE="0", HF_HUB_OFFLINE="1")
        qa = Path(sys.executable).with_name("qa")
        command = [str(qa) if qa.exists() else "qa", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--index", str(index_dir)]
        if model:
            command += ["--model", model]
        self._log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"`qa serve` exited with status {self.process.returncode}:\n{self.tail()}")
            try:
                response = httpx.get(self.base_url + "/readyz", timeout=5)
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"`qa serve` was not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# -- load ----------------------------------------------------------------------------------------------
async def run_level(base_url: str, endpoint: str, clients: int, requests: int, k: int) -> dict:
    """`requests` requests from `clients` concurrent clients; latencies of the successful ones."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        question = QUESTIONS[i % len(QUESTIONS)]
        started = time.perf_counter()
        try:
            if endpoint == "search":
                response = await client.get("/v1/search", params={"q": question, "k": k})
            else:
                response = await client.post("/v1/ask", json={"question": question})
            elapsed = time.perf_counter() - started
        except httpx.HTTPError as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            return
        if response.status_code == 200:
            latencies.append(elapsed)
        else:
            errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1

    async def worker(client: httpx.AsyncClient) -> None:
        while (i := next(counter)) < requests:
            await one(client, i)

    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:
        for i in range(min(clients, 4)):  # open connections, warm the route
            await one(client, i)
        latencies.clear()
        errors.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


def paired_query_cost(settings: Settings, index_dir: Path, base_url: str, rounds: int, k: int) -> dict:
    """The raw cost of a query in this process, paired with the same query over HTTP.

    For each question in turn: `embedder.encode([q])` + `FaissStore.search` (as many candidates as
    the retriever asks for) on the same index, and `GET /v1/search?q=...` to the service, one
    request at a time, in alternating order. Pairing them means both see the same machine load. Timed in a worker
    thread, as the service's handlers run (`qa.api.threads.blocking`), after one warm-up encode on the main
    thread (PyTorch's OpenMP pool then behaves as in the service; see bench/README.md). A last
    sample times encode + search on the main thread, where `qa search`/`qa ask` run it. After each
    pair, `Retriever.search` (what /v1/search runs: dense + BM25 + fusion + fetch) is timed too,
    to split the service's extra time between retrieval and the HTTP layer."""
    settings = settings.replace(index_dir=index_dir)
    embedder = load_embedder(settings)
    index = Index.open(settings, embedder=embedder, writable=False, create=False)
    store = index.vectors
    n = max(k, settings.search_candidates)  # what the retriever asks FAISS for
    retriever = Retriever(index, settings)
    result: dict = {"encode": [], "search": [], "total": [], "http": [], "main thread": [], "errors": 0,
                    "retriever": [], "keyword": [], "fetch": [],
                    "candidates": n, "vectors": len(store), "index_type": store.index_type}

    def raw(q: str) -> tuple[float, float]:
        started = time.perf_counter()
        vector = embedder.encode([q])
        encoded = time.perf_counter()
        store.search(vector, n)
        return encoded - started, time.perf_counter() - encoded

    def paired() -> None:
        with httpx.Client(base_url=base_url, timeout=300) as client:
            for i in range(rounds + 5):
                q = QUESTIONS[i % len(QUESTIONS)]
                if i % 2:  # alternate the order, so neither side always runs just after the other
                    encode, search = raw(q)
                started = time.perf_counter()
                response = client.get("/v1/search", params={"q": q, "k": k})
                elapsed = time.perf_counter() - started
                if not i % 2:
                    encode, search = raw(q)
                if i < 5:  # warm-up
                    continue
                if response.status_code != 200:
                    result["errors"] += 1
                    continue
                result["encode"].append(encode)
                result["search"].append(search)
                result["total"].append(encode + search)
                result["http"].append(elapsed)
                # where the service's extra time goes: the full hybrid retrieval, in-process
                started = time.perf_counter()
                timings = retriever.search(q, k).timings
                result["retriever"].append(time.perf_counter() - started)
                result["keyword"].append(timings.keyword_ms / 1000)
                result["fetch"].append(timings.fetch_ms / 1000)

    try:
        embedder.encode(["warm up on the main thread"])
        worker = threading.Thread(target=paired)
        worker.start()
        worker.join()
        for i in range(3 + max(10, rounds // 10)):
            total = sum(raw(QUESTIONS[i % len(QUESTIONS)]))
            if i >= 3:
                result["main thread"].append(total)
    finally:
        index.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint and level")
    parser.add_argument("--index", type=Path, help="an existing index folder (default: a scratch index of seeds/)")
    parser.add_argument("--corpus", type=Path, help="a .jsonl(.gz) corpus to ingest into a scratch index")
    parser.add_argument("--corpus-limit", type=int, default=2000, help="articles of --corpus to ingest")
    parser.add_argument("--questions", type=Path,
                        help="ask these questions instead (a .jsonl(.gz) with a `question` field; only the "
                             "`dev` split when rows have one), e.g. RealTime QA's for its index")
    parser.add_argument("--endpoints", default="search,ask", help="search, ask or both")
    parser.add_argument("--k", type=int, default=5, help="k of /v1/search")
    parser.add_argument("--model", help="answer backend for /v1/ask (default: QA_MODEL or extractive)")
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.add_argument("--omp-passive", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE for the service and the raw measurement (idle OpenMP "
                             "threads sleep instead of spinning; much faster on a loaded machine)")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    if args.questions:
        QUESTIONS[:] = read_questions(args.questions, max(args.requests, 50))
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    settings = Settings.from_env()

    console.print(f"[bold]bench/http_load.py[/] {datetime.datetime.now().isoformat(timespec='seconds')}  "
                  f"{platform.node()}: {os.cpu_count()} CPUs, load {load()} (1/5/15 min), "
                  f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}", highlight=False)
    with tempfile.TemporaryDirectory(prefix="qa-bench-http-") as scratch:
        scratch_dir = Path(scratch)
        if args.index:
            index_dir, what = args.index, str(args.index)
        elif args.corpus:
            index_dir = scratch_dir / "index"
            build_corpus_index(args.corpus, args.corpus_limit, index_dir, settings)
            what = f"scratch index of the first {args.corpus_limit} articles of {args.corpus.name}"
        else:
            index_dir, what = scratch_dir / "index", f"scratch index of {settings.seeds_dir}"
        server = Server(index_dir, args.model, scratch_dir / "serve.log")
        try:
            started = time.perf_counter()
            ready = server.wait_ready(args.ready_timeout)
            console.print(f"service ready in {time.perf_counter() - started:.1f} s: {what}: "
                          f"{ready.get('articles')} articles, {ready.get('chunks')} chunks, "
                          f"answer model {ready.get('model')}", highlight=False)

            # the raw cost of a query, paired with /v1/search from one client
            raw = paired_query_cost(settings, index_dir, server.base_url, max(args.requests, 50), args.k)
            raw_table = Table(title=f"Raw query cost in-process vs GET /v1/search, paired, {len(raw['total'])} "
                                    f"queries ({raw['vectors']} vectors, index {raw['index_type']}, "
                                    f"{raw['candidates']} candidates)")
            for column in ("stage", "p50 ms", "p99 ms"):
                raw_table.add_column(column, justify="right")
            for stage, label in (("encode", "embedder.encode([q])"), ("search", "FaissStore.search"),
                                 ("total", "raw: encode + search"), ("http", "GET /v1/search, 1 client"),
                                 ("retriever", "Retriever.search in-process (hybrid)"),
                                 ("keyword", "  of which BM25 keyword search"), ("fetch", "  of which SQLite fetch"),
                                 ("main thread", "raw on the main thread (CLI)")):
                raw_table.add_row(label, *(f"{v:.2f}" for v in percentiles(raw[stage])))
            console.print(raw_table)

            table = Table(title=f"HTTP, {args.requests} requests per row (service and client share the CPUs)")
            for column in ("endpoint", "clients", "ok", "errors", "p50 ms", "p99 ms", "req/s", "load 1m"):
                table.add_column(column, justify="right")
            for endpoint in endpoints:
                for clients in levels:
                    result = asyncio.run(run_level(server.base_url, endpoint, clients, args.requests, args.k))
                    ok = len(result["latencies"])
                    p50, p99 = percentiles(result["latencies"]) if ok else (float("nan"),) * 2
                    errors = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "0"
                    label = "GET /v1/search" if endpoint == "search" else "POST /v1/ask"
                    table.add_row(label, str(clients), str(ok), errors, f"{p50:.1f}", f"{p99:.1f}",
                                  f"{ok / result['wall']:.1f}", f"{os.getloadavg()[0]:.1f}")
                    log.print(f"{label} x{clients}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                              f"{ok / result['wall']:.1f} req/s, errors {errors}, load {load()}", highlight=False)
                table.add_section()
            console.print(table)
        finally:
            server.stop()
    raw_p50, http_p50 = percentiles(raw["total"])[0], percentiles(raw["http"])[0]
    ratio = http_p50 / raw_p50
    verdict = "[green]meets[/]" if ratio <= TARGET_RATIO else "[red]misses[/]"
    console.print(f"/v1/search p50 / raw encode+search p50 (paired, 1 client): {http_p50:.2f} / {raw_p50:.2f} ms "
                  f"= [bold]{ratio:.2f}x[/] ({verdict} the target <= {TARGET_RATIO}x)")
    console.print(f"load at the end: {load()} (1/5/15 min)", highlight=False)


if __name__ == "__main__":
    main()
