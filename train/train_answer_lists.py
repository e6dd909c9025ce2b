"""Stage 3 of the answer model: learn to choose among the passages retrieval really returns.

Stages 1-2 (`train/train_answer_model.py`) score sentences of one passage at a time, with random
negatives; over five retrieved passages that model picked worse sentences than plain relevance,
fooled by the other paragraphs of the same article. This stage reads the lists written by
`train/mine_passages.py` (a dev question with its top retrieved passages) and trains on the top
`answer_passages` passages of each, exactly as the extractive backend will score them:

  - every sentence is labelled by whether it holds a gold answer string;
  - loss = binary cross-entropy per sentence (the calibrated probability behind refusals)
          + a listwise term (softmax over all sentences of the list, the answer's share)
          + 0.5 x the short-answer span loss on passages holding the answer;
  - a share of the lists drop the passages of the gold article(s) and every passage holding the
    answer, so "none of these answers it" is learned from realistic near misses.

    PYTHONPATH=. python train/train_answer_lists.py --lists A.jsonl B.jsonl --init train/stage2.pt \
        --out qa/models/answer-minilm-int8
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from qa.answer_model import MAX_LENGTH
from train.onnx_init import load_onnx_weights
from train.train_answer_model import (
    SEED,
    AnswerNet,
    Example,
    contains,
    export,
    features,
    optimizer_step,
    optimizer_with_schedule,
    print_progress,
    seeded_setup,
)

PASSAGES = 5  # Settings.answer_passages
UNANSWERABLE_SHARE = 0.25


def read_lists(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def make_list(row: dict, unanswerable: bool) -> list[Example]:
    """The passages the backend would score for this question (or its unanswerable variant)."""
    answers = [a.strip() for a in row["answers"] if a.strip()]
    passages = row["passages"]
    if unanswerable:
        passages = [p for p in passages if not p["gold"] and not contains(p["text"], answers)]
    return [Example(row["question"], p["text"], answers, row.get("source", "")) for p in passages[:PASSAGES]]


def usable(row: dict) -> bool:
    """A list teaches sentence choice only when one of its passages holds the answer string."""
    answers = [a.strip() for a in row["answers"] if a.strip()]
    return any(contains(p["text"], answers) for p in row["passages"][:PASSAGES])


def list_loss(model: AnswerNet, tokenizer: Tokenizer, lists: list[list[Example]]) -> tuple[torch.Tensor, float]:
    flat = [ex for group in lists for ex in group]
    ids, mask, types, pool, labels, valid, starts, ends = features(tokenizer, flat, MAX_LENGTH)
    logits = model(ids, mask, types)
    sentence = torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1)  # [passages, sentences]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(sentence, labels, reduction="none")
    loss = (bce * valid).sum() / valid.sum().clamp(min=1)
    listwise, at, n_lists = torch.tensor(0.0), 0, 0
    for group in lists:
        rows = slice(at, at + len(group))
        at += len(group)
        scores = sentence[rows].masked_fill(valid[rows] == 0, -1e4).flatten()
        positive = (labels[rows] * valid[rows]).flatten() > 0
        if positive.any():
            listwise = listwise + torch.logsumexp(scores, 0) - torch.logsumexp(scores[positive], 0)
            n_lists += 1
    if n_lists:
        loss = loss + listwise / n_lists
    if (starts >= 0).any():
        neg = mask == 0
        s_logits = logits[:, :, 1].masked_fill(neg, -1e4)
        e_logits = logits[:, :, 2].masked_fill(neg, -1e4)
        loss = loss + 0.25 * (torch.nn.functional.cross_entropy(s_logits, starts, ignore_index=-100)
                              + torch.nn.functional.cross_entropy(e_logits, ends, ignore_index=-100))
    return loss, float(listwise.detach()) / max(n_lists, 1)


def selection_accuracy(model: AnswerNet, tokenizer: Tokenizer, rows: list[dict]) -> dict:
    """Over each list: share whose best sentence holds the answer (of lists where one does), and
    best probability on answerable vs unanswerable variants."""
    model.eval()
    right, n, best_pos, best_neg = 0, 0, [], []
    with torch.no_grad():
        for row in rows:
            for unanswerable in (False, True):
                group = make_list(row, unanswerable)
                if not group:
                    continue
                ids, mask, types, pool, labels, valid, _, _ = features(tokenizer, group, MAX_LENGTH)
                logits = model(ids, mask, types)
                sentence = torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1).masked_fill(valid == 0, -1e4)
                best = int(sentence.flatten().argmax())
                prob = float(torch.sigmoid(sentence.flatten()[best]))
                if unanswerable:
                    best_neg.append(prob)
                elif labels.sum() > 0:
                    n += 1
                    right += int(labels.flatten()[best] > 0)
                    best_pos.append(prob)
    model.train()
    return {"lists": n, "best_sentence_holds_answer": round(right / max(n, 1), 4),
            "mean_best_prob_answerable": round(float(np.mean(best_pos)) if best_pos else 0.0, 4),
            "mean_best_prob_unanswerable": round(float(np.mean(best_neg)) if best_neg else 0.0, 4),
            "unanswerable_best_over_0.5": round(float(np.mean(np.array(best_neg) > 0.5)) if best_neg else 0.0, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=Path, nargs="+", required=True)
    parser.add_argument("--probe", type=Path, nargs="*", default=[], help="held-out dev lists for the metrics")
    parser.add_argument("--init", type=Path, default=None,
                        help="a stage 1-2 checkpoint (.pt), or a shipped int8 model.onnx to continue from")
    parser.add_argument("--out", type=Path, default=Path("qa/models/answer-minilm-int8"))
    parser.add_argument("--checkpoint", type=Path, default=Path("train/answer-lists.pt"))
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lists-per-step", type=int, default=2)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--probe-limit", type=int, default=400)
    parser.add_argument("--before", action="store_true", help="also measure the initial model")
    parser.add_argument("--freeze-layers", type=int, default=0,
                        help="keep the embeddings and this many lower layers as stage 2 left them (faster steps)")
    args = parser.parse_args()

    rng, base, tokenizer = seeded_setup(args.threads)

    rows = [r for r in read_lists(args.lists) if usable(r)]
    rng.shuffle(rows)
    rows = rows[: args.limit]
    probe = [r for r in read_lists(args.probe) if usable(r)] if args.probe else []
    train_probe = rows[: args.probe_limit // 2]
    probe = probe[: args.probe_limit]
    print(f"{len(rows)} training lists, {len(probe)} probe lists", flush=True)

    model = AnswerNet(base)
    if args.init is not None and args.init.suffix == ".onnx":
        load_onnx_weights(model, args.init)
    elif args.init is not None:
        model.load_state_dict(torch.load(args.init))
    if args.freeze_layers:
        frozen = [model.encoder.embeddings, *model.encoder.encoder.layer[: args.freeze_layers]]
        for module in frozen:
            for parameter in module.parameters():
                parameter.requires_grad_(False)
    before = {"train": selection_accuracy(model, tokenizer, train_probe),
              "probe": selection_accuracy(model, tokenizer, probe)} if args.before else {}
    print("before", json.dumps(before), flush=True)
    model.train()
    steps = math.ceil(len(rows) * args.epochs / args.lists_per_step)
    optimizer, scheduler = optimizer_with_schedule(model, args.lr, steps)
    started, step, running = time.time(), 0, None
    while step < steps:
        order = list(range(len(rows)))
        rng.shuffle(order)
        for k in range(0, len(order), args.lists_per_step):
            if step >= steps:
                break
            lists = [make_list(rows[i], rng.random() < UNANSWERABLE_SHARE) for i in order[k:k + args.lists_per_step]]
            lists = [group for group in lists if group]
            if not lists:
                continue
            loss, listwise = list_loss(model, tokenizer, lists)
            loss.backward()
            optimizer_step(model, optimizer, scheduler)
            step += 1
            running = float(loss) if running is None else 0.98 * running + 0.02 * float(loss)
            print_progress(step, steps, started, f"loss {running:.4f} listwise {listwise:.3f}")
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.checkpoint)
    metrics = {
        "train_minutes": round((time.time() - started) / 60, 1),
        "lists": len(rows), "steps": steps,
        "before": before,
        "train_probe": selection_accuracy(model, tokenizer, train_probe),
        "dev_probe": selection_accuracy(model, tokenizer, probe) if probe else None,
        "args": {k: str(v) for k, v in vars(args).items()}, "seed": SEED,
    }
    print(json.dumps(metrics, indent=1), flush=True)
    export(model, args.out, base)
    (args.out / "training-metrics-lists.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print("exported", args.out, flush=True)


if __name__ == "__main__":
    main()
