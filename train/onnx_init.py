"""Float weights recovered from an int8 answer model (`qa/models/answer-minilm-int8`),
as a state dict for `train.train_answer_model.AnswerNet`: a later training stage can start from the
shipped model when the float checkpoint of the stage before is gone. Each int8 weight becomes
(q - zero point) x scale, per output channel for the linear layers, per tensor for the embeddings;
the rounding (at most half a quantization step) is the only difference from the float weights.
`train_answer_lists.py --init .../model.onnx` starts from it (`load_onnx_weights`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def state_dict_from_onnx(path: Path) -> dict[str, torch.Tensor]:
    """The AnswerNet parameters held (or quantized) in the ONNX graph at `path`."""
    model = onnx.load(str(path))
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state = {name: torch.from_numpy(array.copy()) for name, array in tensors.items()
             if array.dtype == np.float32 and array.ndim > 0 and not name.startswith("onnx::")}
    for name in list(tensors):
        if name.endswith(".weight_quantized"):  # embeddings (DequantizeLinear, one scale per tensor)
            base = name.removesuffix("_quantized")
            state[base] = torch.from_numpy(dequantize(tensors, base))
    for node in model.graph.node:
        # int8 weights multiplied in float (train/int8_weights.py), or a dynamic quantization's
        if node.op_type == "MatMul" and node.input[1].endswith("_dequantized"):
            weight = node.input[1].removesuffix("_dequantized")
        elif node.op_type == "MatMulInteger":
            weight = node.input[1].removesuffix("_quantized")
        else:
            continue
        # '/encoder/encoder/layer.0/attention/self/query/MatMul_output_0_output_quantized' -> module path
        module = node.output[0].strip("/").rsplit("/MatMul", 1)[0].replace("/", ".")
        # ONNX multiplies x @ W ([in, out]); torch.nn.Linear keeps W transposed ([out, in])
        state[f"{module}.weight"] = torch.from_numpy(dequantize(tensors, weight).T.copy())
    return state


def load_onnx_weights(model: torch.nn.Module, path: Path) -> None:
    """Load the weights of the ONNX model at `path` into `model` (an AnswerNet); the pooler, which
    the head does not use and the export leaves out, keeps the base model's values."""
    state = model.state_dict()
    state.update(state_dict_from_onnx(path))
    model.load_state_dict(state)


def dequantize(tensors: dict[str, np.ndarray], base: str) -> np.ndarray:
    """The float weight `base` of a quantized graph's initializers: (q - zero point) x scale, per
    output channel when the scale is one per column."""
    quantized = tensors[f"{base}_quantized"].astype(np.float32)
    zero = tensors[f"{base}_zero_point"].astype(np.float32)
    return ((quantized - zero) * tensors[f"{base}_scale"]).astype(np.float32)
