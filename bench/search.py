"""Vector search at scale: build time, memory, single-query latency and recall of each index type.

    python bench/search.py [--sizes 100000,1000000] [--types flat,hnsw,ivf] [--queries 200] [--dim 384]
    python bench/search.py --sizes 10000000 --types "IVF16384_HNSW32,SQ8" --nprobe 16,32,64,128

Vectors are synthetic but clustered, so approximate search has something to find: a two-level
Gaussian mixture (topics -> sub-topics, skewed cluster sizes) plus anisotropic noise, L2-normalized
like the embedder's output. Queries are fresh draws from the same distribution. They are generated
in fixed batches (vector i is the same whatever the size), so memory stays bounded.

For each size x index type the store is built through `qa.vectorstore.FaissStore` (what the
service uses; `ivf` resolves to the factory string the service builds from that many vectors):
the first `add` is a training sample (FaissStore trains on its first batch), then the rest in
batches. It prints build seconds, memory (VmRSS delta after the build, and the peak during it),
then, for each search parameter (HNSW efSearch, IVF nprobe), the latency p50/p99 of single
queries, one at a time like the service (`FaissStore.search(q[None], k)`), and recall@k against
exact inner-product search over the same vectors (computed once per size, in batches).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import contextlib

from qa.vectorstore import FaissStore, factory_string  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 170)
log_console = Console(stderr=True)

BATCH = 100_000  # vectors per generated batch (the data of size N is a prefix of the data of size 10N)
TARGET_RECALL, TARGET_P50_MS = 0.95, 10.0  # the target for 10M chunks on one 24 GiB box


# -- data ---------------------------------------------------------------------------------------
@dataclass
class Mixture:
    """A two-level Gaussian mixture on the unit sphere, generated batch by batch."""

    dim: int
    centers: int = 4096
    topics: int = 64
    spread: float = 1.0  # sub-topic offset from its topic
    noise: float = 1.0  # total noise variance (expected squared norm) relative to a unit center
    decay: float = 1.0  # noise variance of the i-th direction ~ (i+1)^-decay, directions shuffled
    shift: float = 0.4  # weight of a direction common to all vectors (embeddings share a mean)
    seed: int = 0
    _centers: np.ndarray = field(init=False, repr=False)
    _weights: np.ndarray = field(init=False, repr=False)
    _scale: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0])
        topics = _normalize(rng.standard_normal((self.topics, self.dim), dtype=np.float32))
        parent = rng.integers(0, self.topics, self.centers)
        offsets = _normalize(rng.standard_normal((self.centers, self.dim), dtype=np.float32))
        common = _normalize(rng.standard_normal((1, self.dim), dtype=np.float32))
        self._centers = _normalize(_normalize(topics[parent] + self.spread * offsets) + self.shift * common)
        weights = rng.lognormal(0.0, 1.0, self.centers)  # skewed cluster sizes, as in real corpora
        self._weights = weights / weights.sum()
        variance = (np.arange(self.dim) + 1.0) ** -self.decay
        variance = rng.permutation(variance * (self.noise / variance.sum()))
        self._scale = np.sqrt(variance).astype(np.float32)

    def batch(self, index: int, size: int, stream: int = 1) -> np.ndarray:
        """Vectors of batch `index` (stream 1: the database, stream 2: the queries)."""
        rng = np.random.default_rng([self.seed, stream, index])
        which = rng.choice(self.centers, size=size, p=self._weights)
        # uniform noise with the variance of each direction (4x cheaper than normal draws; after the
        # scaling and the normalization, what matters for search is the variance, not the shape)
        vectors = rng.random((size, self.dim), dtype=np.float32)
        vectors -= 0.5
        vectors *= self._scale * np.float32(math.sqrt(12.0))
        vectors += self._centers[which]
        return _normalize(vectors)

    def database(self, n: int, first: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of vectors first..n-1, in batches of at most BATCH."""
        start = first
        while start < n:
            b = start // BATCH
            block = self.batch(b, BATCH)[start - b * BATCH : min(n - b * BATCH, BATCH)]
            ids = np.arange(start, start + len(block), dtype=np.int64)
            yield ids, block
            start += len(block)

    def queries(self, n: int) -> np.ndarray:
        return self.batch(0, n, stream=2)


def _normalize(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class ExactTopK:
    """Exact top-k ids by inner product, accumulated batch by batch (faiss.IndexFlatIP per batch)."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries, self.k = queries, k
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.ids = np.full((len(queries), k), -1, np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        scores, local = flat.search(self.queries, min(self.k, len(vectors)))
        scores_all = np.hstack([self.scores, scores])
        ids_all = np.hstack([self.ids, ids[local]])
        order = np.argsort(-scores_all, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(scores_all, order, axis=1)
        self.ids = np.take_along_axis(ids_all, order, axis=1)


def ground_truth(mix: Mixture, n: int, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids over all n vectors, in one pass over the data."""
    exact = ExactTopK(queries, k)
    for ids, vectors in mix.database(n):
        exact.update(ids, vectors)
    return exact.ids


# -- memory ---------------------------------------------------------------------------------------
def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_mib() -> float:
    return _status_kib("VmHWM") / 1024


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak of one build can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def release_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- building and measuring --------------------------------------------------------------------------
@dataclass
class Built:
    store: FaissStore
    spec: str
    build_s: float
    train_s: float
    mem_mib: float
    peak_mib: float


def nlist_of(spec: str) -> int | None:
    for part in spec.replace("_", ",").split(","):
        if part.startswith("IVF") and part[3:].isdigit():
            return int(part[3:])
    return None


def needs_training(spec: str, dim: int) -> bool:
    return not faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT).is_trained


def build(mix: Mixture, n: int, index_type: str, train_size: int, exact: ExactTopK | None = None,
          per_list: int = 40) -> Built:
    """Build a FaissStore of n vectors; with `exact`, also feed it every vector (the ground truth
    comes from the same pass over the data, outside the timed adds)."""
    spec = factory_string(index_type, n)  # what `Index.rebuild_vectors` builds from n vectors
    nlist = nlist_of(spec)
    if nlist:  # FaissStore trains on its first add: make that a sample big enough for the lists
        first = min(n, max(train_size, per_list * nlist))
    elif needs_training(spec, mix.dim):
        first = min(n, max(train_size, BATCH))
    else:
        first = min(n, BATCH)
    release_memory()
    before = rss_mib()
    reset_peak()
    store = FaissStore(mix.dim, spec)
    build_s = train_s = 0.0
    # the training sample is the first `first` vectors, added in one call
    sample_ids = np.arange(first, dtype=np.int64)
    sample = np.vstack([v for _, v in mix.database(first)])
    if exact is not None:
        exact.update(sample_ids, sample)
    started = time.perf_counter()
    store.add(sample_ids, sample)
    train_s = time.perf_counter() - started
    build_s += train_s
    del sample, sample_ids
    done = first
    last_report = time.monotonic()
    for ids, vectors in mix.database(n, first=first):
        if exact is not None:
            exact.update(ids, vectors)
        started = time.perf_counter()
        store.add(ids, vectors)
        build_s += time.perf_counter() - started
        done += len(ids)
        if time.monotonic() - last_report > 30:
            last_report = time.monotonic()
            log_console.print(f"  {spec}: {done:,}/{n:,} added, {build_s:.0f} s in add", highlight=False)
    release_memory()
    return Built(store, spec, build_s, train_s, rss_mib() - before, peak_mib() - before)


def sweep(store: FaissStore, spec: str, args: argparse.Namespace) -> list[tuple[str, object]]:
    """(parameter name, value) settings to measure; applied by `apply`."""
    inner = faiss.downcast_index(store._index.index)  # noqa: SLF001 - a benchmark may look inside
    if isinstance(inner, faiss.IndexHNSW):
        return [("efSearch", v) for v in args.ef]
    if isinstance(inner, faiss.IndexIVF):
        return [("nprobe", v) for v in args.nprobe]
    if faiss.try_extract_index_ivf(inner) is not None:
        # e.g. OPQ..,IVF..,PQ.. (an IndexPreTransform): FaissStore passes no nprobe for these, so the
        # service would search them with the index's own nprobe (1); set it on the index here.
        return [("nprobe*", v) for v in args.nprobe]
    return [("-", None)]


def apply(store: FaissStore, name: str, value: object) -> None:
    if name == "efSearch":
        store.hnsw_ef_search = int(value)
    elif name == "nprobe":
        store.ivf_nprobe = int(value)
    elif name == "nprobe*":
        faiss.extract_index_ivf(store._index.index).nprobe = int(value)  # noqa: SLF001


def measure(store: FaissStore, queries: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, recall@k) of single-query searches, timed in a worker thread as the
    service's handlers run them (FAISS's OpenMP threads behave differently on the main thread
    when the machine is loaded)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(_measure(store, queries, truth, k)))
    worker.start()
    worker.join()
    return out[0]


def _measure(store: FaissStore, queries: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float, float]:
    for q in queries[: min(10, len(queries))]:  # warm up caches and the OpenMP pool
        store.search(q[None, :], k)
    latencies = np.empty(len(queries))
    found = np.empty((len(queries), k), np.int64)
    for row, q in enumerate(queries):
        started = time.perf_counter()
        _, ids = store.search(q[None, :], k)
        latencies[row] = time.perf_counter() - started
        found[row] = ids[0]
    hits = sum(len(np.intersect1d(found[r], truth[r])) for r in range(len(queries)))
    p50, p99 = np.percentile(latencies * 1000, [50, 99])
    return float(p50), float(p99), hits / truth.size


def skip_reason(index_type: str, n: int, dim: int, args: argparse.Namespace) -> str | None:
    spec = factory_string(index_type, n)
    if "HNSW" in spec.split(",")[0].split("_")[0] and not spec.startswith("IVF") and n > args.hnsw_max:
        return (f"skipped {spec} at {n:,}: an HNSW graph over {n:,} vectors takes hours to build on "
                f"{os.cpu_count()} cores (limit --hnsw-max {args.hnsw_max:,})")
    full_vectors = spec == "Flat" or spec.startswith("HNSW") or spec.endswith(",Flat")
    if full_vectors and n * dim * 4 / 2**30 > args.max_raw_gib:
        return (f"skipped {spec} at {n:,}: it keeps the raw float32 vectors, "
                f"{n * dim * 4 / 2**30:.1f} GiB > --max-raw-gib {args.max_raw_gib} "
                "(use a compressed code, e.g. SQ8/PQ)")
    return None


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated vector counts")
    parser.add_argument("--types", default="flat,hnsw,ivf",
                        help="flat, hnsw, ivf or FAISS index_factory strings, comma-separated; "
                             "separate factory strings that contain commas with ';'")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF nprobe values to sweep")
    parser.add_argument("--ef", default="64,128,256", help="HNSW efSearch values to sweep")
    parser.add_argument("--train-size", type=int, default=100_000,
                        help="training sample for IVF/PQ types (at least --train-per-list x nlist is used)")
    parser.add_argument("--train-per-list", type=int, default=40,
                        help="training vectors per IVF list (FAISS warns below 39; fewer trains faster)")
    parser.add_argument("--hnsw-max", type=int, default=2_000_000, help="skip HNSW above this size")
    parser.add_argument("--max-raw-gib", type=float, default=8.0,
                        help="skip types keeping raw float32 vectors above this size")
    parser.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0: FAISS default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    types = parse_types(args.types, args.dim)
    args.nprobe = [int(v) for v in args.nprobe.split(",")]
    args.ef = [int(v) for v in args.ef.split(",")]
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    console.print(
        f"[bold]bench/search.py[/] {datetime.datetime.now().isoformat(timespec='seconds')}  "
        f"{platform.node()}: {os.cpu_count()} CPUs, faiss {faiss.__version__} "
        f"({faiss.get_compile_options().strip()}), {faiss.omp_get_max_threads()} OpenMP threads, "
        f"load {load()} (1/5/15 min)", highlight=False)
    console.print(f"types: {types}  sizes: {sizes}  queries: {args.queries}  dim: {args.dim}  k: {args.k}",
                  highlight=False)
    mix = Mixture(args.dim, seed=args.seed)
    queries = mix.queries(args.queries)

    table = Table(title=f"FaissStore, {args.dim}-d clustered vectors, {args.queries} single queries, recall@{args.k}")
    for column in ("vectors", "index (factory)", "param", "build s", "train s", "RSS MiB", "peak MiB",
                   "p50 ms", "p99 ms", f"recall@{args.k}", "load 1m"):
        table.add_column(column, justify="right")
    notes: list[str] = []
    for n in sizes:
        truth = None
        for index_type in types:
            reason = skip_reason(index_type, n, args.dim, args)
            if reason:
                notes.append(reason)
                log_console.print(reason, highlight=False)
                continue
            log_console.print(f"{n:,} {index_type}: building ({factory_string(index_type, n)})", highlight=False)
            exact = ExactTopK(queries, args.k) if truth is None else None  # in the first build's pass
            built = build(mix, n, index_type, args.train_size, exact, args.train_per_list)
            if exact is not None:
                truth = exact.ids
            log_console.print(f"  built in {built.build_s:.1f} s, RSS +{built.mem_mib:.0f} MiB, load {load()}",
                              highlight=False)
            first = True
            for name, value in sweep(built.store, built.spec, args):
                apply(built.store, name, value)
                p50, p99, recall = measure(built.store, queries, truth, args.k)
                ok = recall >= TARGET_RECALL and p50 <= TARGET_P50_MS
                table.add_row(
                    f"{n:,}" if first else "", built.spec if first else "",
                    "" if value is None else f"{name}={value}",
                    f"{built.build_s:.1f}" if first else "",
                    f"{built.train_s:.1f}" if first and needs_training(built.spec, args.dim) else "",
                    f"{built.mem_mib:,.0f}" if first else "", f"{built.peak_mib:,.0f}" if first else "",
                    f"{p50:.2f}", f"{p99:.2f}",
                    f"[green]{recall:.3f}[/]" if ok else f"{recall:.3f}",
                    f"{os.getloadavg()[0]:.1f}",
                )
                log_console.print(f"  {name}={value}: p50 {p50:.2f} ms p99 {p99:.2f} ms recall {recall:.3f}",
                                  highlight=False)
                first = False
            table.add_section()
            del built
            release_memory()
    console.print(table)
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"green recall: meets the target recall@{args.k} >= {TARGET_RECALL} with p50 <= "
                  f"{TARGET_P50_MS:g} ms. RSS MiB: VmRSS after the build minus before; peak: the high-water "
                  f"mark during the build (includes the batch being generated). load at the end: {load()}",
                  highlight=False)


def parse_types(text: str, dim: int) -> list[str]:
    """Index types from `--types`: ';'-separated, or ','-separated with factory strings that contain
    commas put back together ("flat,hnsw,IVF1024,SQ8,PQ32" -> flat, hnsw, IVF1024,SQ8, PQ32)."""
    def valid(spec: str) -> bool:
        try:
            faiss.index_factory(dim, factory_string(spec, 1_000_000), faiss.METRIC_INNER_PRODUCT)
            return True
        except RuntimeError:
            return False

    if ";" in text:
        types = [t.strip() for t in text.split(";") if t.strip()]
        for spec in types:
            if not valid(spec):
                raise SystemExit(f"--types: {spec!r} is not an index type FAISS can build")
        return types

    types: list[str] = []
    pending = ""
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if not pending and types and not valid(token) and valid(f"{types[-1]},{token}"):
            types[-1] += f",{token}"  # e.g. a trailing ",RFlat"
            continue
        pending = f"{pending},{token}" if pending else token
        if valid(pending):
            types.append(pending)
            pending = ""
    if pending:
        raise SystemExit(f"--types: {pending!r} is not an index type FAISS can build")
    return types


if __name__ == "__main__":
    main()
