"""ONNX Runtime sessions and tokenizers for the bundled models (encoder, answer model, support model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(model: Path | bytes, threads: int = 0) -> Any:
    """A CPU `onnxruntime.InferenceSession` for `model` (a file or its bytes): `threads` intra-op
    threads (0: one per core), one inter-op thread. Idle threads sleep instead of spinning: the
    cores are shared by concurrent requests, the other models and other processes, and a spinning
    pool burns the time another request needs (as OMP_WAIT_POLICY=PASSIVE in qa/__init__.py).
    Int8 weights stored for float arithmetic (`train/int8_weights.py`) are dequantized once, at
    load: without "disable_quant_qdq", onnxruntime keeps each DequantizeLinear to fuse it and runs
    it on every call (the answer model 1.8x slower)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def bare_tokenizer(path: Path) -> Any:
    """The `tokenizers.Tokenizer` in `path` without truncation or padding: the callers cut and
    pad word pieces themselves (a question or claim first, then the passage)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
