"""Retrieval parity of the int8 ONNX encoder against torch fp32, in one run.

    python bench/parity.py [--questions N] [--distractors D] [--sets squad,realtimeqa]

Dense retrieval only (the encoders are what differ): each text is embedded by both encoders and
questions are ranked against the corpus by cosine. Two sets from ../shared/eval:
- SQuAD v1.1 dev: N questions (default 300, seeded sample) over their gold paragraphs plus
  D other paragraphs (default 500);
- RealTime QA dev (never heldout): N dev questions that have gold evidence, over their evidence
  passages plus D news articles as distractors.
Prints recall@5, MRR@10 for each encoder, their difference in points, and top-1 / top-5 agreement
between the encoders (same first passage; overlap of the top five).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from rich.console import Console
from rich.table import Table

from qa.embed import load_embedder
from qa.settings import PROJECT_ROOT, Settings

EVAL = PROJECT_ROOT.parent / "shared" / "eval"
DISTRACTOR_CHARS = 2000  # the encoders read 256 word pieces anyway


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def squad(n: int, distractors: int, rng: random.Random) -> tuple[list[str], list[list[str]], dict[str, str]]:
    questions = rng.sample(read(EVAL / "squad" / "questions.jsonl.gz"), n)
    paragraphs = {p["id"]: p["text"] for p in read(EVAL / "squad" / "paragraphs.jsonl.gz")}
    gold = {g for q in questions for g in q["gold_ids"]}
    others = rng.sample(sorted(set(paragraphs) - gold), distractors)
    corpus = {i: paragraphs[i] for i in sorted(gold) + others}
    return [q["question"] for q in questions], [q["gold_ids"] for q in questions], corpus


def realtimeqa(n: int, distractors: int, rng: random.Random) -> tuple[list[str], list[list[str]], dict[str, str]]:
    dev = [q for q in read(EVAL / "realtimeqa" / "questions.jsonl.gz") if q["split"] == "dev" and q["gold_ids"]]
    questions = rng.sample(dev, n)
    evidence = {e["id"]: e["text"] for e in read(EVAL / "realtimeqa" / "evidence.jsonl.gz")}
    corpus = {g: evidence[g] for q in questions for g in q["gold_ids"] if g in evidence}
    with gzip.open(EVAL / "realtimeqa" / "articles.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            if sum(1 for k in corpus if k.startswith("art:")) >= distractors:
                break
            article = json.loads(line)
            corpus[f"art:{article['id']}"] = f"{article['title']}\n\n{article['text'][:DISTRACTOR_CHARS]}"
    return [q["question"] for q in questions], [q["gold_ids"] for q in questions], corpus


def rankings(embedder, questions: list[str], corpus: dict[str, str]) -> tuple[np.ndarray, float]:
    embedder.encode(questions[:8])  # warm up (first-call allocations)
    started = time.perf_counter()
    docs = embedder.encode(list(corpus.values()))
    seconds = time.perf_counter() - started
    scores = embedder.encode(questions) @ docs.T
    return np.argsort(-scores, axis=1)[:, :10], len(corpus) / seconds


def metrics(ranked: np.ndarray, ids: list[str], golds: list[list[str]]) -> tuple[float, float]:
    recall, rr = 0.0, 0.0
    for row, gold in zip(ranked, golds):
        found = [rank for rank, doc in enumerate(row) if ids[doc] in gold]
        recall += bool(found and found[0] < 5)
        rr += 1.0 / (found[0] + 1) if found else 0.0
    return 100 * recall / len(golds), 100 * rr / len(golds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--distractors", type=int, default=500)
    parser.add_argument("--sets", default="squad,realtimeqa")
    args = parser.parse_args()
    encoders = {"onnx int8": load_embedder(Settings(encoder="onnx")),
                "torch fp32": load_embedder(Settings(encoder="torch"))}
    table = Table(title="Dense retrieval, ONNX int8 vs torch fp32 (all-MiniLM-L6-v2)")
    for column in ("set", "questions", "passages", "encoder", "recall@5", "MRR@10", "docs/s",
                   "top-1 agreement", "top-5 overlap"):
        table.add_column(column, justify="right")
    sets = {"squad": ("SQuAD dev", squad), "realtimeqa": ("RealTime QA dev", realtimeqa)}
    for name, build in (sets[key] for key in args.sets.split(",")):
        questions, golds, corpus = build(args.questions, args.distractors, random.Random(14))
        ids = list(corpus)
        results = {enc: rankings(e, questions, corpus) for enc, e in encoders.items()}
        (onnx_ranked, _), (torch_ranked, _) = results["onnx int8"], results["torch fp32"]
        top1 = 100 * float(np.mean(onnx_ranked[:, 0] == torch_ranked[:, 0]))
        top5 = 100 * float(np.mean([len(set(a[:5]) & set(b[:5])) / 5 for a, b in zip(onnx_ranked, torch_ranked)]))
        scores = {enc: metrics(ranked, ids, golds) for enc, (ranked, _) in results.items()}
        for enc, (_ranked, rate) in results.items():
            table.add_row(name, str(len(questions)), str(len(corpus)), enc, f"{scores[enc][0]:.1f}",
                          f"{scores[enc][1]:.1f}", f"{rate:.0f}", "", "")
        delta = [scores["onnx int8"][i] - scores["torch fp32"][i] for i in (0, 1)]
        table.add_row(name, "", "", "int8 - fp32 (points)", f"{delta[0]:+.1f}", f"{delta[1]:+.1f}", "",
                      f"{top1:.1f}%", f"{top5:.1f}%", end_section=True)
    Console(width=160).print(table)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
