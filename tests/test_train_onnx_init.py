"""train/onnx_init.py: the shipped int8 answer model's weights recovered as floats for a later training
stage. Recovered wrongly (a layer transposed, mapped to the wrong module, left at the base's values),
the torch model would score sentences unlike the shipped one."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answer_model import MAX_LENGTH, AnswerModel
from qa.settings import PROJECT_ROOT

QUESTION = "Who is Taiwan's defence minister?"
PASSAGE = ("Taiwan Defence Minister Wellington Koo told reporters on Wednesday that needs would be proposed. "
           "The Financial Times reported on Monday that Taiwan was mulling buying arms. "
           "China will increase its defense spending by 7.2 percent this year.")


@pytest.mark.integration
def test_recovered_weights_score_sentences_as_the_shipped_model(answer_model: AnswerModel) -> None:
    import torch  # the test install brings it (scripts/install.sh test); the service does not need it

    from train.onnx_init import load_onnx_weights, state_dict_from_onnx
    from train.train_answer_model import AnswerNet, Example, features, seeded_setup

    _, base, tokenizer = seeded_setup(1)
    net = AnswerNet(base)
    shipped_onnx = PROJECT_ROOT / "qa" / "models" / "answer-minilm-int8" / "model.onnx"
    recovered = state_dict_from_onnx(shipped_onnx)
    assert set(recovered) == set(net.state_dict()) - {"encoder.pooler.dense.weight", "encoder.pooler.dense.bias"}
    load_onnx_weights(net, shipped_onnx)
    net.eval()
    ids, mask, types, pool, *_ = features(tokenizer, [Example(QUESTION, PASSAGE, [], "")], MAX_LENGTH)
    with torch.no_grad():
        logits = net(ids, mask, types)
        recovered_probabilities = torch.sigmoid(torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1))[0]
    shipped = [s.probability for s in answer_model.score(QUESTION, [PASSAGE])]
    assert len(shipped) == 3
    assert max(shipped) > 0.5 and shipped.index(max(shipped)) == 0  # the Koo sentence answers
    # The shipped model multiplies its int8 weights in float (train/int8_weights.py), as torch does the
    # recovered ones: the same scores to float rounding on every CPU. (With int8 activations, the
    # Koo sentence scored 0.58 on one machine and 0.77 on another, against 0.64 here.)
    assert recovered_probabilities.tolist() == pytest.approx(shipped, abs=1e-3)
    assert recovered_probabilities.argmax().item() == 0


@pytest.mark.integration
# the legacy ONNX exporter's notes on traced code and its own deprecation (export_int8 uses dynamo=False)
@pytest.mark.filterwarnings("ignore::UserWarning:torch", "ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_exporting_the_recovered_weights_gives_the_shipped_model_back(answer_model: AnswerModel,
                                                                      tmp_path: Path) -> None:
    """The training scripts' export (train_answer_model.export_int8: int8 weights, float arithmetic)
    of the shipped model's own weights scores as the shipped model: the same int8 grid, the same form."""
    import onnx

    from train.onnx_init import load_onnx_weights
    from train.train_answer_model import AnswerNet, export_int8, seeded_setup

    _, base, _ = seeded_setup(1)
    net = AnswerNet(base)
    load_onnx_weights(net, PROJECT_ROOT / "qa" / "models" / "answer-minilm-int8" / "model.onnx")
    net.eval()
    export_int8(net, tmp_path, base, logits_axes={0: "batch", 1: "length"})
    ops = {node.op_type for node in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "MatMulInteger" not in ops and "MatMul" in ops
    exported = [s.probability for s in AnswerModel(tmp_path).score(QUESTION, [PASSAGE])]
    assert exported == pytest.approx([s.probability for s in answer_model.score(QUESTION, [PASSAGE])], abs=2e-3)
