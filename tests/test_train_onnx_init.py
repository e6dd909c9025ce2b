"""train/onnx_init.py: the shipped int8 answer model's weights recovered as floats for a later training
stage. Recovered wrongly (a layer transposed, mapped to the wrong module, left at the base's values),
the torch model would score sentences unlike the shipped one."""

from __future__ import annotations

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
    # int8 activations in the shipped model, floats here: close, not equal. How close depends on the CPU
    # onnxruntime's int8 kernels run on: for the answer, 0.64 recovered against 0.58 shipped where the test
    # was written, 0.77 shipped on an AMD EPYC with AVX2 and no VNNI (2026-12-03). A layer recovered wrongly
    # moves the scores further than that, or changes which sentence answers (checked above).
    assert recovered_probabilities.tolist() == pytest.approx(shipped, abs=0.15)
    assert recovered_probabilities.argmax().item() == 0
