"""Calibrate the extractive backend's answer_threshold (and see what the answer model adds) on dev data.

    python bench/calibrate_answer.py --rtqa-index DIR --squad-index DIR [--limit 600]
        [--file-order] [--absent-credits 0,0.25,0.5] [--rank-penalties 0,0.05]

Dev data only: RealTime QA questions of split "dev" with gold evidence (asked as of their date) and
SQuAD questions of the train half (`train/train_answer_model.py` splits SQuAD by article title).
Each question is searched twice through `qa.retrieve.Retriever`: as is (answerable) and with its
gold article(s) left out of the results (unanswerable: for SQuAD every paragraph of its Wikipedia
article). The answer model scores the sentences of the top `answer_passages` passages, as the
extractive backend does. Prints, per threshold, the share of answerable questions refused, of
unanswerable ones refused (also over those where no passage then retrieved holds a gold answer:
another article may answer it too), and of answers whose best sentence contains a gold answer.

Build the indexes with `qa eval ... --keep-index DIR` (README, "Evaluation"):
  RealTime QA: evidence.jsonl.gz (3,601) + the first 1,000 of articles.jsonl.gz;
  SQuAD: paragraphs.jsonl.gz.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer_model import load_answer_model  # noqa: E402
from qa.backends.base import GenerationRequest, Passage  # noqa: E402
from qa.backends.extractive import ExtractiveBackend  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.evaluate import contains_gold  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.types import Filters  # noqa: E402
from train.train_answer_model import SEED, squad_half  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def best_sentences(backend: ExtractiveBackend, question: str, hits) -> tuple[float, list[tuple[float, str]]]:
    """The extractive backend's confidence (what its threshold applies to) and its own ranking of the
    passages' sentences."""
    passages = [Passage(number=i, article_id=h.article_id, chunk_id=h.chunk_id, title=h.title, text=h.text,
                        start=h.start, end=h.end) for i, h in enumerate(hits, start=1)]
    request = GenerationRequest(messages=[], question=question, passages=passages)
    ranked = backend.rank_sentences(request)
    return backend.confidence(request, ranked), [(score, sentence) for score, _, sentence in ranked]


def measure(index_dir: Path, questions: list[dict], excluded, as_of: bool, settings: Settings) -> list[dict]:
    """Per question: best probability and whether the top sentence(s) contain gold, with and without
    the gold article(s)."""
    settings = settings.replace(index_dir=index_dir)
    embedder = load_embedder(settings)
    model = load_answer_model(str(settings.answer_model_dir or ""), settings.answer_model_threads)
    backend = ExtractiveBackend(settings, embedder, model)
    rows = []
    with Index.open(settings, embedder=embedder, writable=False) as index:
        retriever = Retriever(index, settings)
        for q in questions:
            filters = Filters(as_of=q["date"][:10]) if as_of and q.get("date") else None
            hits = retriever.search(q["question"], settings.search_k + 30, filters).hits
            gold_out = excluded(q)
            answerable = hits[: settings.search_k]
            unanswerable = [h for h in hits if h.article_id not in gold_out][: settings.search_k]
            confidence, ranked = best_sentences(backend, q["question"], answerable)
            confidence_u, _ = best_sentences(backend, q["question"], unanswerable)
            rows.append({
                "p": confidence,
                "p2": ranked[1][0] if len(ranked) > 1 else 0.0,
                "gold1": bool(ranked) and contains_gold(ranked[0][1], q["answers"]),
                "gold2": len(ranked) > 1 and contains_gold(ranked[1][1], q["answers"]),
                "gold_in_passages": any(contains_gold(h.text, q["answers"]) for h in answerable),
                "p_unanswerable": confidence_u,
                # another article holds the answer too: answering is right there, not a failed refusal
                "answer_elsewhere": any(contains_gold(h.text, q["answers"]) for h in unanswerable),
            })
    return rows


def table(name: str, rows: list[dict]) -> None:
    print(f"\n{name}: {len(rows)} questions; gold passage text holds the answer for "
          f"{sum(r['gold_in_passages'] for r in rows)}")
    unanswered = [r for r in rows if not r["answer_elsewhere"]]
    print("threshold  answerable_refused  unanswerable_refused (no passage holds it)  contains_gold  "
          "contains_gold(answer in passages)")
    for t in [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.38, 0.4, 0.45, 0.5, 0.6, 0.7]:
        answered = [r for r in rows if r["p"] >= t]
        with_gold = [r for r in rows if r["gold_in_passages"]]
        cg = sum(r["gold1"] for r in answered) / len(rows)
        cg_in = sum(r["gold1"] for r in with_gold if r["p"] >= t) / max(len(with_gold), 1)
        refused_u = sum(r["p_unanswerable"] < t for r in unanswered) / max(len(unanswered), 1)
        print(f"{t:9.2f}  {1 - len(answered) / len(rows):18.3f}  "
              f"{sum(r['p_unanswerable'] < t for r in rows) / len(rows):20.3f} ({refused_u:.3f} of {len(unanswered)})"
              f"  {cg:13.3f}  {cg_in:10.3f}")
    for t2 in [0.3, 0.5, 0.7, 0.8, 0.9]:
        gain = sum((not r["gold1"]) and r["gold2"] and r["p2"] >= t2 for r in rows)
        extra = sum(r["p2"] >= t2 for r in rows)
        print(f"second sentence at p >= {t2}: added to {extra} answers, newly containing gold in {gain}")


def squad_questions(trained: int) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(test-half questions, train-half questions training did not use, paragraph id -> title)."""
    paragraphs = {p["id"]: p["title"] for p in read_jsonl(EVAL / "squad" / "paragraphs.jsonl.gz")}
    questions = read_jsonl(EVAL / "squad" / "questions.jsonl.gz")
    test = [q for q in questions if squad_half(paragraphs[q["gold_ids"][0]]) == "test"]
    train = [q for q in questions if squad_half(paragraphs[q["gold_ids"][0]]) == "train"]
    # training takes the first N of a shuffle seeded with SEED (train/train_answer_model.py)
    seen = list(train)
    random.Random(SEED).shuffle(seen)
    seen_ids = {q["id"] for q in seen[:trained]}
    return test, [q for q in train if q["id"] not in seen_ids], paragraphs


def write_squad_halves(folder: Path, trained: int) -> None:
    test, unseen, _ = squad_questions(trained)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("squad-test.jsonl", test), ("squad-train-unseen.jsonl", unseen)):
        with open(folder / name, "w", encoding="utf-8") as handle:
            for q in rows:
                handle.write(json.dumps({**q, "split": name.removeprefix("squad-").removesuffix(".jsonl")}) + "\n")
        print(f"{folder / name}: {len(rows)} questions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtqa-index", type=Path)
    parser.add_argument("--squad-index", type=Path)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--file-order", action="store_true",
                        help="RealTime QA: the first --limit dev questions in file order, not a shuffle (the first "
                             "300 are those the answer model's stage 3 never trained on)")
    parser.add_argument("--absent-credits", default=None, metavar="LIST",
                        help="comma-separated QA_ABSENT_NAME_CREDIT values, one table each "
                             "(default: the setting)")
    parser.add_argument("--rank-penalties", default=None, metavar="LIST",
                        help="comma-separated QA_ANSWER_RANK_PENALTY values, one table each (default: the setting)")
    parser.add_argument("--squad-trained", type=int, default=2200,
                        help="--squad-questions of the training run: those questions are left out")
    parser.add_argument("--write-squad-halves", type=Path, metavar="DIR",
                        help="write DIR/squad-test.jsonl (the test half) and DIR/squad-train-unseen.jsonl "
                             "(train-half questions training did not use) for `qa eval`, and stop")
    args = parser.parse_args()
    if args.write_squad_halves:
        write_squad_halves(args.write_squad_halves, args.squad_trained)
        return
    base = Settings.from_env()
    credits = ([float(c) for c in args.absent_credits.split(",")] if args.absent_credits
               else [base.absent_name_credit])
    penalties = ([float(p) for p in args.rank_penalties.split(",")] if args.rank_penalties
                 else [base.answer_rank_penalty])
    for credit in credits:
        for penalty in penalties:
            calibrate(args, base.replace(absent_name_credit=credit, answer_rank_penalty=penalty))


def calibrate(args: argparse.Namespace, settings: Settings) -> None:
    """The tables of one setting of the extractive backend."""
    setting = f"absent name credit {settings.absent_name_credit}, rank penalty {settings.answer_rank_penalty}"
    rng = random.Random(7)
    if args.rtqa_index:
        questions = [q for q in read_jsonl(EVAL / "realtimeqa" / "questions.jsonl.gz")
                     if q["split"] == "dev" and q["gold_ids"] and q["answers"]]
        if not args.file_order:
            rng.shuffle(questions)
        rows = measure(args.rtqa_index, questions[: args.limit], lambda q: set(q["gold_ids"]), True, settings)
        table(f"RealTime QA dev (as of question dates), {setting}", rows)
    if args.squad_index:
        _, questions, paragraphs = squad_questions(args.squad_trained)
        by_title: dict[str, set[str]] = {}
        for pid, title in paragraphs.items():
            by_title.setdefault(title, set()).add(pid)
        rng.shuffle(questions)
        rows = measure(args.squad_index, questions[: args.limit],
                       lambda q: by_title[paragraphs[q["gold_ids"][0]]], False, settings)
        table(f"SQuAD train half, {setting}", rows)

if __name__ == "__main__":
    main()
