"""The in-process LLM, run in a worker process: llama.cpp is native code, and a crash in it (a CPU
feature it mis-detects, an out-of-memory kill) must cost one request, not the service.

`LocalWorker` starts the worker, sends it one request at a time over a pipe and supervises it: if
the worker dies, the request it was serving fails with a 503 that says so, and a new worker is
started in the background for the requests after it.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from qa.backends.base import BackendError

log = logging.getLogger("qa.local")


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker needs to load the model (sent to it at start)."""

    model_path: str
    context: int
    threads: int
    prompts_dir: Path  # for the judge prompt


class WorkerDied(BackendError):
    """The worker process ended while serving a request."""


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class LocalWorker:
    """A supervised worker process holding one llama.cpp model. Thread-safe: requests are served
    one at a time, in the order they take the lock."""

    def __init__(self, config: WorkerConfig, *, load_timeout: float = 600.0) -> None:
        self.config = config
        self.load_timeout = load_timeout
        self.model_path = ""
        self.restarts = 0
        self.in_flight = False  # a request is being served
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        with self._lock:
            self._start()

    @property
    def pid(self) -> int | None:
        """The worker's process id (None while it is being restarted)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
             stream: bool) -> Iterator[str]:
        """The answer as text deltas (one whole text when `stream` is false)."""
        with self._lock:
            conn = self._ready()
            conn.send(("chat", messages, max_tokens, temperature, stream))
            finished = False
            self.in_flight = True
            try:
                while True:
                    try:
                        kind, value = self._supervised_receive()
                    except BackendError:
                        finished = True  # the request ended: with an error it reported, or its death
                        raise
                    if kind == "delta":
                        yield value
                    elif kind == "done":
                        finished = True
                        if value:
                            yield value
                        return
            finally:
                if not finished and self._conn is conn:
                    self._cancel(conn)
                self.in_flight = False

    def judge(self, claim: str, evidence: str) -> float:
        """P(supported) of `claim` given `evidence`, from the model's yes/no logits."""
        with self._lock:
            self._ready().send(("judge", claim, evidence))
            self.in_flight = True
            try:
                return float(self._supervised_receive()[1])
            finally:
                self.in_flight = False

    def close(self) -> None:
        """Stop the worker."""
        with self._lock:
            self._stop()

    # --- supervision ---------------------------------------------------------------------------

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child, self.config), daemon=True,
                                  name="qa-local-llm")
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            _, value = self._receive(timeout=self.load_timeout)
        except WorkerDied as died:
            self._stop()
            raise BackendError(f"the local model's worker could not start ({died})", status=503) from None
        except BackendError:
            self._stop()
            raise
        self.model_path = value["model_path"]
        log.info("local model worker %d ready (%s)", process.pid, self.model_path)

    def _ready(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self._stop()
            self._start()
        assert self._conn is not None
        return self._conn

    def _supervised_receive(self) -> tuple[str, Any]:
        """The worker's next message; if it died instead, a 503 saying so, and a new worker."""
        try:
            return self._receive()
        except WorkerDied as died:
            log.error("local model worker died (%s); restarting it", died)
            self._stop()
            self.restarts += 1
            threading.Thread(target=self._restart, name="qa-local-llm-restart", daemon=True).start()
            raise BackendError(
                f"the local model's worker process died ({died}); it is being restarted, "
                "try again in a moment", status=503,
            ) from None

    def _receive(self, timeout: float | None = None) -> tuple[str, Any]:
        """The worker's next message; `WorkerDied` (saying how) if it ends first, `BackendError`
        for an error it reports."""
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not conn.poll(0.2):
                if not process.is_alive() or (deadline is not None and time.monotonic() > deadline):
                    raise EOFError
            message = conn.recv()
        except (EOFError, OSError):
            process.join(timeout=1.0)
            raise WorkerDied(_exit_reason(process.exitcode), status=503) from None
        if message[0] == "error":
            _, status, text = message
            raise BackendError(text, status=status)
        return message[0], message[1]

    def _cancel(self, conn: Connection) -> None:
        """Stop an abandoned stream and read up to its end, so the next request starts clean."""
        try:
            conn.send(("cancel",))
            while self._receive()[0] != "done":
                pass
        except WorkerDied:
            self._stop()  # the next request starts a new worker
        except (BackendError, OSError):
            pass

    def _restart(self) -> None:
        # Takes the lock, so requests arriving meanwhile wait for the new worker.
        with self._lock:
            if self._process is None:
                try:
                    self._start()
                except BackendError as error:
                    log.error("%s", error)  # the next request tries again and reports it

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None and process.is_alive():
            process.kill()
            process.join(timeout=5.0)


# --- the worker process ----------------------------------------------------------------------


def serve(conn: Connection, config: WorkerConfig) -> None:
    """The worker's main loop: load the model, then answer requests until the pipe closes."""
    try:
        llama = _load(config)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", 503, f"cannot load the local model {config.model_path}: {error}"))
        return
    conn.send(("ready", {"model_path": str(llama.model_path)}))
    judge = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if request[0] == "chat":
                _chat(conn, llama, *request[1:])
            elif request[0] == "judge":
                if judge is None:
                    from qa.llm_judge import LLMJudge, prompt_render

                    judge = LLMJudge(llama, prompt_render(config.prompts_dir))
                conn.send(("done", judge.support_probability(request[1], request[2])))
            elif request[0] != "cancel":  # a cancel that crossed the stream's end
                conn.send(("error", 500, f"unknown request {request[0]!r}"))
        except (ValueError, RuntimeError) as error:  # e.g. the prompt exceeds the context window
            conn.send(("error", 502, f"local model failed: {error}"))


def _load(config: WorkerConfig) -> Any:
    import llama_cpp

    # llama.cpp is built portable (scripts/install.sh: GGML_NATIVE=OFF), so no CPU-specific
    # kernels such as AMX, which crashed a native build at the first decode.
    return llama_cpp.Llama(model_path=config.model_path, n_ctx=config.context, n_threads=config.threads,
                           n_threads_batch=config.threads, verbose=False, seed=0)


def _chat(conn: Connection, llama: Any, messages: list[dict[str, str]], max_tokens: int,
          temperature: float, stream: bool) -> None:
    result = llama.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                          temperature=temperature, stream=stream)
    if not stream:
        conn.send(("done", result["choices"][0]["message"].get("content") or ""))
        return
    for chunk in result:
        content = chunk["choices"][0]["delta"].get("content")
        if content:
            conn.send(("delta", content))
        if conn.poll() and conn.recv()[0] == "cancel":
            break
    conn.send(("done", None))
