"""Train the support model shipped in qa/models/support-minilm-int8/ (see its README.md).

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2: for (claim, evidence of one or two
sentences) it gives one logit, "the evidence states what the claim says" (mean pooling, a linear
head, binary cross-entropy). Training and run time share `qa.support_model.encode_pair`.

Claims are written like an LLM's answer, not like the passage: a question with its answer put in
("Which luxury automaker recalled nearly 200,000 vehicles?" + "BMW" -> "BMW recalled nearly
200,000 vehicles."; `claim_from`), so supporting evidence is usually a paraphrase of the claim.
Data (never the RealTime QA heldout split, never the SQuAD test half):
  - SQuAD v1.1 dev, the train half by Wikipedia article (CC BY-SA 4.0): supported = the sentence
    (sometimes with its neighbour) holding the answer; not supported = the same evidence with a
    claim naming another answer of the article, the evidence with its answer replaced, other
    sentences of the paragraph, windows of other paragraphs of the article.
  - RealTime QA dev (research use), 85% of its weeks: supported = the gold evidence; not
    supported = a claim with a wrong quiz choice, the evidence of a similar question. The other
    15% of weeks are a validation set.
  - Verbatim and trimmed sentences as supported claims, so copying stays supported.

    PYTHONPATH=. python train/train_support_model.py --out qa/models/support-minilm-int8
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from qa.chunk import split_sentences
from qa.support_model import encode_pair
from train.train_answer_model import (
    EVAL_DIR,
    SEED,
    clean_answer,
    contains,
    epoch_batches,
    export_int8,
    optimizer_step,
    optimizer_with_schedule,
    print_progress,
    read_jsonl,
    seeded_setup,
    squad_half,
)


@dataclass
class Pair:
    claim: str
    evidence: str
    label: float
    source: str


# --- claims from (question, answer) --------------------------------------------------------------

_AUX = frozenset("is are was were has have had will would can could should may might must".split())
_IRREGULAR = frozenset(
    "won led made became took gave said went came got began left held found built wrote told brought "
    "bought sold met ran paid lost kept set put hit chose drove flew grew knew saw struck sent spent sank "
    "beat fell broke rose fought stood shot threw caught taught sought won't".split())
_BLANK = re.compile(r"_{2,}")


def _as_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return [str(value)]
    return [str(v) for v in parsed] if isinstance(parsed, list | tuple) else [str(parsed)]


def _is_verb(word: str) -> bool:
    lowered = word.lower()
    return lowered in _AUX or lowered in _IRREGULAR or (lowered.endswith("ed") and len(lowered) > 4)


def claim_from(question: str, answer: str, rng: random.Random, recipe: str = "v1") -> str:
    """A declarative claim stating `answer` to `question`, worded like a model's answer."""
    question = question.strip()
    if _BLANK.search(question):
        return _BLANK.sub(answer, question, count=1).rstrip("?").rstrip() + "."
    spans = split_sentences(question)
    context = question[: spans[-1][0]].strip() if len(spans) > 1 else ""
    last = question[spans[-1][0]:].strip().rstrip("?").strip() if spans else question.rstrip("?")
    claim = _declarative(last, answer, rng, recipe)
    return f"{context} {claim}".strip() if context and rng.random() < 0.7 else claim


def _declarative(question: str, answer: str, rng: random.Random, recipe: str) -> str:
    match = re.match(r"(?i)(who|what|which)\s+(.+)$", question)
    if match:
        words = match.group(2).split()
        wh = match.group(1).lower()
        verb_at = 0 if wh == "who" else next((i for i, w in enumerate(words) if _is_verb(w)), -1)
        # v3 also leaves "What did X do" to the fallback (v1 made "The did X that do ... is Y.")
        checked = {words[0].lower(), words[verb_at].lower()} if recipe != "v1" and words else {words[verb_at].lower()}
        if verb_at >= 0 and words and not checked & {"did", "does", "do"}:
            noun, rest = " ".join(words[:verb_at]), " ".join(words[verb_at:])
            if noun and rng.random() < 0.4:
                return f"The {noun} that {rest} is {answer}."
            return f"{answer[:1].upper() + answer[1:]} {rest}."
    choice = rng.random()
    if choice < 0.4:
        return f"{question}? {answer[:1].upper() + answer[1:]}."
    if choice < 0.7:
        return f"{question}: {answer}."
    return f"The answer to \"{question}?\" is {answer}."


def _same_kind(a: str, b: str) -> bool:
    """Both numbers, both names or both common words: a plausible wrong answer for the other."""
    def kind(text: str) -> str:
        if any(c.isdigit() for c in text):
            return "number"
        return "name" if text[:1].isupper() else "word"
    return kind(a) == kind(b)


_MENTION = re.compile(r"\b(?:[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’-]*)*"  # a name of one or more words
                      r"|\d[\d,.]*(?:\s+(?:percent|million|billion))?)")  # a number


def _mentions(text: str) -> list[str]:
    """Names and numbers of `text`, not counting a capitalized word that starts a sentence alone."""
    out = []
    for match in _MENTION.finditer(text):
        mention = match.group().rstrip(".,")
        before = text[:match.start()].rstrip()
        if not mention or (" " not in mention and not mention[0].isdigit() and (not before or before[-1] in ".!?\"")):
            continue
        out.append(mention)
    return list(dict.fromkeys(out))


def _overlaps(candidate: str, answers: list[str]) -> bool:
    lowered = candidate.lower()
    return any(a.lower() in lowered or lowered in a.lower() for a in answers)


def _other_number(text: str, rng: random.Random) -> str:
    """`text` with its first number changed ("1,200 people" -> "1,207 people")."""
    match = re.search(r"\d+", text)
    assert match is not None
    value = int(match.group())
    other = value + rng.choice([-1, 1]) * rng.randint(1, max(2, value // 3 + 1))
    return text[:match.start()] + str(max(0, other) if other != value else value + 1) + text[match.end():]


def _replace(text: str, old: str, new: str) -> str:
    return re.sub(re.escape(old), new.replace("\\", ""), text, count=1, flags=re.IGNORECASE)


# --- SQuAD ---------------------------------------------------------------------------------------

def squad_pairs(rng: random.Random, half: str, limit: int = 10**9, recipe: str = "v1") -> list[Pair]:
    paragraphs = {p["id"]: p for p in read_jsonl(EVAL_DIR / "squad" / "paragraphs.jsonl.gz")}
    by_title: dict[str, list[str]] = {}
    for pid, p in paragraphs.items():
        by_title.setdefault(p["title"], []).append(pid)
    questions = [q for q in read_jsonl(EVAL_DIR / "squad" / "questions.jsonl.gz")
                 if squad_half(paragraphs[_as_list(q["gold_ids"])[0]]["title"]) == half]
    answers_by_title: dict[str, list[str]] = {}
    for q in questions:
        title = paragraphs[_as_list(q["gold_ids"])[0]]["title"]
        answers_by_title.setdefault(title, []).extend(clean_answer(a) for a in _as_list(q["answers"])[:1])
    rng.shuffle(questions)
    pairs: list[Pair] = []
    for q in questions[:limit]:
        gold = paragraphs[_as_list(q["gold_ids"])[0]]
        answers = [clean_answer(a) for a in _as_list(q["answers"]) if clean_answer(a)]
        text = gold["text"]
        spans = split_sentences(text)
        holding = [i for i, (s, e) in enumerate(spans) if contains(text[s:e], answers)]
        if not answers or not holding:
            continue
        i = holding[0]
        window = text[spans[i][0]:spans[i][1]]
        if rng.random() < 0.3 and len(spans) > 1:  # with a neighbour, as the run-time windows come
            j = i + 1 if i + 1 < len(spans) and (i == 0 or rng.random() < 0.5) else i - 1
            a, b = min(i, j), max(i, j)
            window = text[spans[a][0]:spans[b][1]]
        answer = next(a for a in answers if a.lower() in window.lower())
        claim = claim_from(q["question"], answer, rng, recipe)
        pairs.append(Pair(claim, window, 1.0, "squad-pos"))
        # a claim naming another answer of the same kind, against the same evidence
        wrong = [a for a in answers_by_title[gold["title"]]
                 if a and a.lower() not in window.lower() and _same_kind(a, answer)
                 and not contains(a, answers) and not contains(answer, [a])]
        if wrong:
            bad = rng.choice(wrong)
            pairs.append(Pair(claim_from(q["question"], bad, rng, recipe), window, 0.0, "squad-neg-claim"))
            if recipe != "v1" or rng.random() < 0.5:  # the right claim, the evidence with its answer replaced
                pairs.append(Pair(claim, _replace(window, answer, bad), 0.0, "squad-neg-altered"))
        # a claim naming another name or number of the evidence itself, in the answer's role:
        # "Who topped the table?" -> "China" from "France came second and China third"
        role = [c for c in _mentions(window) if _same_kind(c, answer) and not _overlaps(c, answers)]
        if role and recipe != "v1":
            pairs.append(Pair(claim_from(q["question"], rng.choice(role), rng, recipe), window, 0.0, "squad-neg-role"))
        if any(c.isdigit() for c in answer) and recipe != "v1":  # ... or with its number changed
            pairs.append(Pair(claim, _replace(window, answer, _other_number(answer, rng)), 0.0, "squad-neg-number"))
        others = [k for k in range(len(spans)) if k not in holding]
        if others:
            k = rng.choice(others)
            end = k + 1 if k + 1 in others and rng.random() < 0.3 else k  # two sentences, as positives may be
            pairs.append(Pair(claim, text[spans[k][0]:spans[end][1]], 0.0, "squad-neg-sentence"))
        if rng.random() < 0.5:
            other_ids = [pid for pid in by_title[gold["title"]] if pid != gold["id"]]
            if other_ids:
                other = paragraphs[rng.choice(other_ids)]["text"]
                ospans = split_sentences(other)
                cands = [other[s:e] for s, e in ospans if not contains(other[s:e], answers)]
                if cands:
                    pairs.append(Pair(claim, rng.choice(cands), 0.0, "squad-neg-paragraph"))
        if rng.random() < 0.15:  # copying is supported: the sentence, or its tail after a lead-in
            sentence = text[spans[i][0]:spans[i][1]]
            words = sentence.split()
            cut = rng.randint(0, min(4, max(0, len(words) - 6)))
            pairs.append(Pair(" ".join(words[cut:]), window, 1.0, "squad-verbatim"))
    return pairs


# --- RealTime QA -------------------------------------------------------------------------------

def rtqa_week_half(question_id: str) -> str:
    """'train' or 'val': RealTime QA dev split by quiz week (the id's date), 85/15."""
    week = question_id.split("_")[0]
    return "val" if int(hashlib.md5(week.encode()).hexdigest(), 16) % 100 < 15 else "train"


def rtqa_pairs(rng: random.Random, half: str, recipe: str = "v1") -> list[Pair]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    evidence = {e["id"]: e for e in read_jsonl(EVAL_DIR / "realtimeqa" / "evidence.jsonl.gz")}
    questions = [q for q in read_jsonl(EVAL_DIR / "realtimeqa" / "questions.jsonl.gz")
                 if q["split"] == "dev" and _as_list(q["gold_ids"]) and rtqa_week_half(q["id"]) == half]
    usable = []
    for q in questions:
        gold = evidence.get(_as_list(q["gold_ids"])[0])
        answers = [clean_answer(a) for a in _as_list(q["answers"]) if clean_answer(a)]
        if gold is not None and answers and contains(gold["text"], answers):
            usable.append((q, gold, answers))
    texts = [g["text"] for _, g, _ in usable]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(texts)
    matrix = vectorizer.transform(texts)
    pairs: list[Pair] = []
    for n, (q, gold, answers) in enumerate(usable):
        answer = next(a for a in answers if a.lower() in gold["text"].lower())
        claim = claim_from(q["question"], answer, rng, recipe)
        pairs.append(Pair(claim, gold["text"], 1.0, "rtqa-pos"))
        choices = [clean_answer(c) for c in _as_list(q.get("choices") or "[]")]
        wrong = [c for c in choices if c and not contains(c, answers) and c.lower() not in gold["text"].lower()]
        role = [c for c in choices if c and not _overlaps(c, answers) and c.lower() in gold["text"].lower()]
        role += [c for c in _mentions(gold["text"]) if _same_kind(c, answer) and not _overlaps(c, answers)]
        if role and recipe != "v1":  # a wrong answer the evidence names in another role
            pairs.append(Pair(claim_from(q["question"], rng.choice(role), rng, recipe), gold["text"], 0.0,
                              "rtqa-neg-role"))
        if wrong:
            bad = rng.choice(wrong)
            pairs.append(Pair(claim_from(q["question"], bad, rng, recipe), gold["text"], 0.0, "rtqa-neg-choice"))
            if recipe != "v1" or rng.random() < 0.4:
                pairs.append(Pair(claim, _replace(gold["text"], answer, bad), 0.0, "rtqa-neg-altered"))
        sims = (matrix @ vectorizer.transform([q["question"] + " " + answer]).T).toarray().ravel()
        for idx in np.argsort(-sims)[:5]:
            if idx != n and not contains(texts[idx], answers):
                pairs.append(Pair(claim, texts[idx], 0.0, "rtqa-neg-similar"))
                break
    return pairs


# --- RGB (evaluation only) ----------------------------------------------------------------------

def rgb_pairs() -> list[Pair]:
    """RGB en_fact: "query: answer." against true passages (supported) and against the same
    passages with the answer altered, plus unrelated ones (not supported)."""
    pairs = []
    for row in read_jsonl(EVAL_DIR / "rgb" / "en_fact.jsonl.gz"):
        answers = _as_list(row["answer"])
        claim = f"{row['query']}: {answers[0]}."
        for text in _as_list(row["positive"])[:2]:
            if contains(text, answers):
                pairs.append(Pair(claim, text[:600], 1.0, "rgb-pos"))
        for text in _as_list(row["positive_wrong"])[:2]:
            if not contains(text, answers):
                pairs.append(Pair(claim, text[:600], 0.0, "rgb-neg-altered"))
        for text in _as_list(row["negative"])[:1]:
            if not contains(text, answers):
                pairs.append(Pair(claim, text[:600], 0.0, "rgb-neg-other"))
    return pairs


# --- the model ----------------------------------------------------------------------------------

class SupportNet(torch.nn.Module):
    """MiniLM, mean pooling over the pair's word pieces, one logit."""

    def __init__(self, base: str, attn_implementation: str | None = None) -> None:
        super().__init__()
        from transformers import AutoModel

        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        self.encoder = AutoModel.from_pretrained(base, **kwargs)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)


def batch_tensors(tokenizer: Tokenizer, pairs: list[Pair]):
    rows = [encode_pair(tokenizer, p.claim, p.evidence) for p in pairs]
    length = max(len(ids) for ids, _ in rows)
    ids = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, (row_ids, row_types) in enumerate(rows):
        ids[i, :len(row_ids)], mask[i, :len(row_ids)], types[i, :len(row_ids)] = row_ids, 1, row_types
    labels = torch.tensor([p.label for p in pairs], dtype=torch.float32)
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types), labels


def predict(model: SupportNet, tokenizer: Tokenizer, pairs: list[Pair], batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(pairs), batch_size):
            ids, mask, types, _ = batch_tensors(tokenizer, pairs[k:k + batch_size])
            out.append(torch.sigmoid(model(ids, mask, types)).reshape(-1).numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0)


def report(pairs: list[Pair], probs: np.ndarray, threshold: float = 0.5) -> dict:
    """AUC, supported pairs kept and unsupported ones rejected at `threshold`, per negative kind."""
    labels = np.array([p.label for p in pairs])
    pos, neg = probs[labels == 1], probs[labels == 0]
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    auc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / max(1, len(pos) * len(neg))
    out = {"pairs": len(pairs), "auc": round(float(auc), 4),
           "supported_kept": round(float((pos >= threshold).mean()) if len(pos) else 0.0, 4),
           "unsupported_rejected": round(float((neg < threshold).mean()) if len(neg) else 0.0, 4)}
    for source in sorted({p.source for p in pairs if p.label == 0}):
        mask = np.array([p.source == source for p in pairs])
        out[f"rejected[{source}]"] = round(float((probs[mask] < threshold).mean()), 4)
    return out


def export(model: SupportNet, out: Path, base: str) -> None:
    eager = SupportNet(base, attn_implementation="eager")  # eager attention exports its mask faithfully
    eager.load_state_dict(model.state_dict())
    eager.eval()
    export_int8(eager, out, base, logits_axes={0: "batch"})


def onnx_probabilities(out: Path, pairs: list[Pair]) -> np.ndarray:
    """The exported int8 model's probabilities, as the service computes them."""
    from qa.support_model import SupportModel

    model = SupportModel(out)
    return np.array([model.probabilities(p.claim, [p.evidence])[0] for p in pairs])


def counts(pairs: list[Pair]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in pairs:
        out[p.source] = out.get(p.source, 0) + 1
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("qa/models/support-minilm-int8"))
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-pairs", type=int, default=1500, help="pairs per evaluation set")
    parser.add_argument("--checkpoint", type=Path, default=Path("train/support-model.pt"))
    parser.add_argument("--skip-training", action="store_true", help="evaluate and export --checkpoint")
    parser.add_argument("--recipe", choices=["v1", "v3"], default="v1",
                        help="v1 (shipped); v3 adds role and number negatives and every altered twin (model card)")
    args = parser.parse_args()

    rng, base, tokenizer = seeded_setup(args.threads)
    started = time.time()
    train = squad_pairs(rng, "train", recipe=args.recipe) + rtqa_pairs(rng, "train", args.recipe)
    eval_rng = random.Random(SEED + 1)
    evaluation = {
        "squad_test_half": squad_pairs(eval_rng, "test", recipe=args.recipe)[: args.eval_pairs],
        "realtimeqa_dev_val_weeks": rtqa_pairs(eval_rng, "val", args.recipe)[: args.eval_pairs],
        "rgb_en_fact": rgb_pairs()[: args.eval_pairs],
    }
    rng.shuffle(train)
    evaluation = {"train_probe": train[: args.eval_pairs], **evaluation}
    print(f"data in {time.time() - started:.0f}s: {counts(train)}; "
          + ", ".join(f"{k} {len(v)}" for k, v in evaluation.items()), flush=True)

    model = SupportNet(base)
    steps = math.ceil(len(train) * args.epochs / args.batch_size)
    started = time.time()
    if args.skip_training:
        model.load_state_dict(torch.load(args.checkpoint))
    else:
        model.train()
        optimizer, scheduler = optimizer_with_schedule(model, args.lr, steps)
        order = list(range(len(train)))
        step, running = 0, 0.0
        while step < steps:
            for batch_ids in epoch_batches(order, lambda i: len(train[i].claim) + len(train[i].evidence),
                                           args.batch_size, rng):
                if step >= steps:
                    break
                ids, mask, types, labels = batch_tensors(tokenizer, [train[i] for i in batch_ids])
                logits = model(ids, mask, types).reshape(-1)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
                loss.backward()
                optimizer_step(model, optimizer, scheduler)
                step += 1
                running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
                print_progress(step, steps, started, f"loss {running:.4f}")
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.checkpoint)
    metrics: dict = {"train_minutes": round((time.time() - started) / 60, 1), "pairs": counts(train),
                     "steps": steps, "seed": SEED, "args": {k: str(v) for k, v in vars(args).items()},
                     "pytorch_fp32": {}, "onnx_int8": {}}
    for name, pairs in evaluation.items():
        metrics["pytorch_fp32"][name] = report(pairs, predict(model, tokenizer, pairs))
        print(name, metrics["pytorch_fp32"][name], flush=True)
    export(model, args.out, base)
    for name, pairs in evaluation.items():
        if name != "train_probe":
            metrics["onnx_int8"][name] = report(pairs, onnx_probabilities(args.out, pairs))
    print(json.dumps(metrics, indent=1), flush=True)
    (args.out / "training-metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print("exported", args.out, flush=True)


if __name__ == "__main__":
    main()
