"""The trained support model: does a short piece of evidence state what a claim says?

A MiniLM cross-encoder (fine-tuned by `train/train_support_model.py`, shipped as int8 ONNX in
`qa/models/support-minilm-int8/`) reads "[CLS] claim [SEP] evidence [SEP]" and gives one logit;
its sigmoid is the probability that the evidence (one or two sentences) supports the claim. It was
trained on claims worded like questions rather than like the passage (a question with its answer
put in), against the passage sentence that holds the answer (supported) and against the same
sentence with a wrong answer in the claim, other sentences of the passage and similar passages of
other questions (not supported). So it recognises a paraphrase, which the lexical scorer cannot,
and mostly rejects a wrong name; it reads numbers loosely, so `qa.support.ModelSupportScorer`
checks a claim's numbers and names word for word on top.

Run time needs only onnxruntime, tokenizers and numpy; `encode_pair` is also what training uses.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from qa.onnx_session import bare_tokenizer, cpu_session

MODEL_PACKAGE_DIR = "models/support-minilm-int8"
MAX_CLAIM_TOKENS = 64
MAX_LENGTH = 192  # word pieces per (claim, evidence) pair; evidence is one or two sentences
CLS_ID, SEP_ID = 101, 102


def encode_pair(tokenizer, claim: str | list[int], evidence: str,
                max_length: int = MAX_LENGTH) -> tuple[list[int], list[int]]:
    """Word-piece ids and token types of "[CLS] claim [SEP] evidence [SEP]", the evidence cut to
    fit; `claim` may be given as its word pieces already."""
    claim_ids = (tokenizer.encode(claim, add_special_tokens=False).ids if isinstance(claim, str)
                 else claim)[:MAX_CLAIM_TOKENS]
    evidence_ids = tokenizer.encode(evidence, add_special_tokens=False).ids[: max_length - len(claim_ids) - 3]
    ids = [CLS_ID, *claim_ids, SEP_ID, *evidence_ids, SEP_ID]
    return ids, [0] * (len(claim_ids) + 2) + [1] * (len(evidence_ids) + 1)


class SupportModel:
    """P(evidence supports claim) from the shipped ONNX model."""

    def __init__(self, directory: Path, threads: int = 0) -> None:
        self.tokenizer = bare_tokenizer(directory / "tokenizer.json")
        self.session = cpu_session(directory / "model.onnx", threads)
        self.lock = threading.Lock()  # the tokenizer is shared; sessions are thread-safe

    def probabilities(self, claim: str, evidence: Sequence[str]) -> list[float]:
        """For each evidence text, the probability that it supports `claim`."""
        with self.lock:
            claim_ids = self.tokenizer.encode(claim, add_special_tokens=False).ids  # once for every window
            pairs = [encode_pair(self.tokenizer, claim_ids, text) for text in evidence]
        out = []
        # One pair per call, unpadded: a padded batch of 16 windows was no faster (202 ms against
        # 187 ms one by one, 2 cores, 2026-12-03). The arithmetic is float: the same scores either way.
        for ids, types in pairs:
            (logits,) = self.session.run(["logits"], {
                "input_ids": np.array([ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
                "token_type_ids": np.array([types], dtype=np.int64),
            })
            out.append(round(float(1.0 / (1.0 + np.exp(-float(logits.reshape(-1)[0])))), 4))
        return out


def support_model_dir(model_dir: str = "") -> Path:
    """The folder of the support model (default: the shipped one); a clear error if it is not there."""
    directory = Path(model_dir) if model_dir else Path(str(resources.files("qa").joinpath(MODEL_PACKAGE_DIR)))
    if not (directory / "model.onnx").is_file() or not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no support model (model.onnx, tokenizer.json) in {directory}: set "
                                "QA_SUPPORT_MODEL_DIR, run train/train_support_model.py, or choose "
                                "QA_SUPPORT_SCORER=lexical")
    return directory


def load_support_model(model_dir: str = "", threads: int = 0) -> SupportModel:
    """The support model in `model_dir` (default: the shipped one), loaded (~0.3 s)."""
    return SupportModel(support_model_dir(model_dir), threads)
