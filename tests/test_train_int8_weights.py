"""train/int8_weights.py: a dynamically quantized model rewritten to multiply its int8 weights in float.
Its outputs must be those of the dequantized weights (no activation quantization left, so no
CPU-dependent integer kernel), and the shipped answer and support models must be in that form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qa.onnx_session import cpu_session
from qa.settings import PROJECT_ROOT
from train.int8_weights import float_arithmetic
from train.onnx_init import dequantize

pytestmark = pytest.mark.integration  # runs onnxruntime sessions


def two_layer_model(path: Path) -> None:
    """x [n, 16] -> relu(x @ w1 + 0.1) @ w2, fp32, saved at `path`."""
    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 1, (16, 32)).astype(np.float32)
    w2 = rng.normal(0, 1, (32, 4)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "two_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
         numpy_helper.from_array(np.full(32, 0.1, np.float32), "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture
def dynamic_model(tmp_path: Path) -> Path:
    """The two-layer model as `quantize_dynamic` writes it (per channel, int8 weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    two_layer_model(tmp_path / "fp32.onnx")
    quantize_dynamic(str(tmp_path / "fp32.onnx"), str(tmp_path / "dynamic.onnx"), per_channel=True,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    return tmp_path / "dynamic.onnx"


def test_rewritten_model_computes_with_dequantized_weights(dynamic_model: Path, tmp_path: Path) -> None:
    quantized = onnx.load(str(dynamic_model))
    tensors = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
    w1, w2 = dequantize(tensors, "w1"), dequantize(tensors, "w2")
    rewritten = float_arithmetic(quantized)
    ops = [node.op_type for node in rewritten.graph.node]
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops
    assert ops.count("DequantizeLinear") == 2 and ops.count("MatMul") == 2
    onnx.save(rewritten, str(tmp_path / "rewritten.onnx"))

    x = np.random.default_rng(8).normal(0, 1, (5, 16)).astype(np.float32)
    expected = np.maximum(x @ w1 + 0.1, 0) @ w2
    (got,) = cpu_session(tmp_path / "rewritten.onnx", 1).run(["y"], {"x": x})
    (dynamic,) = cpu_session(dynamic_model, 1).run(["y"], {"x": x})
    assert np.abs(got - expected).max() < 1e-4
    # the dynamic model's uint8 activations are what the rewrite removes: it is measurably off
    assert np.abs(dynamic - expected).max() > 1e-3


def test_rewrite_refuses_a_graph_it_does_not_know(dynamic_model: Path) -> None:
    model = onnx.load(str(dynamic_model))
    cast = next(node for node in model.graph.node if node.op_type == "Cast")
    cast.op_type = "Identity"
    del cast.attribute[:]
    with pytest.raises(ValueError, match="not the pattern quantize_dynamic writes"):
        float_arithmetic(model)


@pytest.mark.parametrize("name", ["answer-minilm-int8", "support-minilm-int8"])
def test_shipped_models_multiply_int8_weights_in_float(name: str) -> None:
    model = onnx.load(str(PROJECT_ROOT / "qa" / "models" / name / "model.onnx"))
    ops = [node.op_type for node in model.graph.node]
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops
    # the weights stay 8-bit on disk: int8 for the MatMuls, uint8 for the embeddings
    eight_bit = [t for t in model.graph.initializer if t.data_type in (TensorProto.INT8, TensorProto.UINT8)]
    assert sum(int(np.prod(t.dims)) for t in eight_bit) > 20_000_000
