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
    answer, so "none of these answers it" is learned from realistic near misses;
  - with `--swap-copies N`, each list whose question names a place that an answer's sentence
    names too is also trained N more times asked about another place: one its passages name but
    no answer's sentence does, else a country none of them names ("What percentage rise did China
    announce?" over a passage whose 7.2% sentence is about China becomes "... did Taiwan
    announce?"): every sentence is then a negative, so the model learns that a sentence about
    somewhere else does not answer, however close its words.

    PYTHONPATH=. python train/train_answer_lists.py --lists A.jsonl B.jsonl --init train/stage2.pt \
        --out qa/models/answer-minilm-int8
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from qa.answer_model import MAX_LENGTH
from qa.chunk import split_sentences
from qa.places import elsewhere, listed_places, places_in
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


def swapped_question(row: dict, rng: random.Random) -> str | None:
    """The question asked about another place (`--swap-copies`): one its passages name but no
    answer's sentence does, else a listed country none of them names; None when the question names
    no place that an answer's sentence names."""
    answers = [a.strip() for a in row["answers"] if a.strip()]
    passages = [p["text"] for p in row["passages"][:PASSAGES]]
    answering = [text[s:e] for text in passages for s, e in split_sentences(text) if contains(text[s:e], answers)]
    in_answers = set().union(*(places_in(sentence) for sentence in answering))
    asked = [place for place in places_in(row["question"])
             if any(not elsewhere(place, known) for known in in_answers)]  # "US" for "United States" too
    if not asked:
        return None
    place = sorted(asked)[0]
    named = set().union(*(places_in(text) for text in passages))
    others = sorted(other for other in named
                    if other not in in_answers and all(elsewhere(other, known) for known in in_answers))
    if not others:
        others = [country for country in countries()
                  if country not in named and all(elsewhere(country, known) for known in named)]
    return re.sub(rf"(?<!\w){re.escape(place)}(?!\w)", others[rng.randrange(len(others))], row["question"])


@functools.cache
def countries() -> list[str]:
    """The listed places that are not another name of one, nor inside one."""
    return sorted(name for name, place in listed_places().items() if place.same == name and place.within is None)


def make_swapped_list(row: dict, question: str) -> list[Example]:
    """Every passage of the list, asked `question` (about another place): nothing answers it."""
    return [Example(question, p["text"], [], row.get("source", "")) for p in row["passages"][:PASSAGES]]


def usable(row: dict) -> bool:
    """A list teaches sentence choice only when one of its passages holds the answer string."""
    answers = [a.strip() for a in row["answers"] if a.strip()]
    return any(contains(p["text"], answers) for p in row["passages"][:PASSAGES])


def draw_list(row: dict, rng: random.Random) -> list[Example]:
    """One training list for `row`: asked about another place (a copy marked "swap"), else as
    retrieved or, a share of the time, without its answers."""
    question = swapped_question(row, rng) if row.get("swap") else None
    if question is not None:
        return make_swapped_list(row, question)
    return make_list(row, rng.random() < UNANSWERABLE_SHARE)


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
    best probability on the answerable, unanswerable and place-swapped variants."""
    model.eval()
    right, n, best_pos, best_neg, best_swapped = 0, 0, [], [], []
    swaps = random.Random(SEED)
    with torch.no_grad():
        for row in rows:
            swapped = swapped_question(row, swaps)
            variants = {"answerable": make_list(row, False), "unanswerable": make_list(row, True),
                        "swapped": make_swapped_list(row, swapped) if swapped else []}
            for variant, group in variants.items():
                if not group:
                    continue
                ids, mask, types, pool, labels, valid, _, _ = features(tokenizer, group, MAX_LENGTH)
                logits = model(ids, mask, types)
                sentence = torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1).masked_fill(valid == 0, -1e4)
                best = int(sentence.flatten().argmax())
                prob = float(torch.sigmoid(sentence.flatten()[best]))
                if variant == "swapped":
                    best_swapped.append(prob)
                elif variant == "unanswerable":
                    best_neg.append(prob)
                elif labels.sum() > 0:
                    n += 1
                    right += int(labels.flatten()[best] > 0)
                    best_pos.append(prob)
    model.train()
    return {"lists": n, "best_sentence_holds_answer": round(right / max(n, 1), 4),
            "mean_best_prob_answerable": round(float(np.mean(best_pos)) if best_pos else 0.0, 4),
            "mean_best_prob_unanswerable": round(float(np.mean(best_neg)) if best_neg else 0.0, 4),
            "unanswerable_best_over_0.5": round(float(np.mean(np.array(best_neg) > 0.5)) if best_neg else 0.0, 4),
            "swapped_lists": len(best_swapped),
            "swapped_best_over_0.5": round(float(np.mean(np.array(best_swapped) > 0.5)) if best_swapped else 0.0, 4)}


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
    parser.add_argument("--swap-copies", type=int, default=0,
                        help="train each list with a place to swap this many more times, asked about another place")
    parser.add_argument("--seed", type=int, default=SEED,
                        help="seeds the list order and the lists drawn (another seed: the run-to-run spread)")
    parser.add_argument("--freeze-layers", type=int, default=0,
                        help="keep the embeddings and this many lower layers as stage 2 left them (faster steps)")
    args = parser.parse_args()

    rng, base, tokenizer = seeded_setup(args.threads, args.seed)

    rows = [r for r in read_lists(args.lists) if usable(r)]
    rng.shuffle(rows)
    rows = rows[: args.limit]
    swappable = [{**row, "swap": True} for row in rows if swapped_question(row, random.Random(SEED))]
    rows += swappable * args.swap_copies
    probe = [r for r in read_lists(args.probe) if usable(r)] if args.probe else []
    train_probe = rows[: args.probe_limit // 2]
    probe = probe[: args.probe_limit]
    print(f"{len(rows)} training lists ({len(swappable)} x {args.swap_copies} asked about another place),"
          f" {len(probe)} probe lists", flush=True)

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
            lists = [draw_list(rows[i], rng) for i in order[k:k + args.lists_per_step]]
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
        "args": {k: str(v) for k, v in vars(args).items()}, "seed": args.seed,
    }
    print(json.dumps(metrics, indent=1), flush=True)
    export(model, args.out, base)
    (args.out / "training-metrics-lists.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print("exported", args.out, flush=True)


if __name__ == "__main__":
    main()
