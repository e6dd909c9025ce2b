"""Calibrate the thresholds behind citation checks and refusals on public data.

    python bench/calibrate.py [--eval-dir ../shared/eval] [--squad-questions 400]

1. support_threshold and support_model_threshold (the lexical-semantic scorer's and the support
   model's): RGB (en_fact) claims "query: answer" against passages that state the answer
   (supported) and against passages where the answer was altered, or that are merely on topic
   (not supported). Picks the threshold with the best balanced accuracy.
2. min_passage_score and refusal_threshold: SQuAD dev questions over an index of paragraphs, half of
   them with their gold paragraph indexed (answerable) and half without any paragraph of their
   article (unanswerable). min_passage_score is a pre-filter on the best passage's cosine, so it
   keeps every answerable question; refusal_threshold, on the best extractive sentence's
   relevance, keeps 95% of them (a wrong refusal hides an answer the articles hold; a sentence
   that doesn't answer is still cited and checked).
Prints the figures; the defaults in qa/settings.py come from this run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.answer import Answerer
from qa.backends.base import GenerationRequest
from qa.backends.extractive import ExtractiveBackend
from qa.embed import load_embedder
from qa.index import Index
from qa.ingest import Ingestor
from qa.settings import PROJECT_ROOT, Settings
from qa.support import LexicalSemanticScorer, ModelSupportScorer, SupportScorer
from qa.support_model import load_support_model
from qa.types import Article


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def best_threshold(positives: list[float], negatives: list[float]) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximizing the balanced accuracy of score >= threshold."""
    best = (0.0, 0.0)
    for t in sorted(set(positives + negatives)):
        tpr = sum(p >= t for p in positives) / len(positives)
        tnr = sum(n < t for n in negatives) / len(negatives)
        if (tpr + tnr) / 2 > best[1]:
            best = (t, (tpr + tnr) / 2)
    return round(best[0], 3), round(best[1], 3)


def recall_floor(positives: list[float], negatives: list[float], keep: float = 0.98) -> tuple[float, float]:
    """(threshold, share of negatives below it): the highest threshold that keeps `keep` of the
    positives -- right for a cheap pre-filter that must not refuse answerable questions."""
    threshold = sorted(positives)[min(int((1 - keep) * len(positives)), len(positives) - 1)]
    return round(threshold, 3), round(sum(n < threshold for n in negatives) / len(negatives), 3)


def calibrate_support(eval_dir: Path, settings: Settings) -> None:
    scorers: list[tuple[str, SupportScorer]] = [
        ("support_threshold", LexicalSemanticScorer(load_embedder(settings))),
        ("support_model_threshold", ModelSupportScorer(lambda: load_support_model(settings.support_model_dir))),
    ]
    for setting, scorer in scorers:
        supported, unsupported = [], []
        for item in read_jsonl(eval_dir / "rgb" / "en_fact.jsonl.gz"):
            claim = f"{item['query']}: {item['answer']}."
            supported += scorer.scores(claim, item["positive"][:2])
            unsupported += scorer.scores(claim, item["positive_wrong"][:2])
            unsupported += scorer.scores(claim, item["negative"][:1])
        threshold, accuracy = best_threshold(supported, unsupported)
        print(f"{setting} = {threshold}  (balanced accuracy {accuracy}; "
              f"{len(supported)} supported / {len(unsupported)} unsupported RGB pairs)")


def calibrate_refusal(eval_dir: Path, settings: Settings, n_questions: int) -> None:
    rng = random.Random(0)
    paragraphs = {p["id"]: p for p in read_jsonl(eval_dir / "squad" / "paragraphs.jsonl.gz")}
    titles = sorted({p["title"] for p in paragraphs.values()})
    rng.shuffle(titles)
    indexed_titles = set(titles[: len(titles) // 2])
    questions = read_jsonl(eval_dir / "squad" / "questions.jsonl.gz")
    rng.shuffle(questions)
    answerable = [q for q in questions if paragraphs[q["gold_ids"][0]]["title"] in indexed_titles][: n_questions // 2]
    unanswerable = [q for q in questions
                    if paragraphs[q["gold_ids"][0]]["title"] not in indexed_titles][: n_questions // 2]
    corpus = [p for p in paragraphs.values() if p["title"] in indexed_titles]
    corpus = [p for p in corpus if p["id"] in {q["gold_ids"][0] for q in answerable}] + rng.sample(corpus, 150)
    with tempfile.TemporaryDirectory() as scratch:
        settings = settings.replace(index_dir=Path(scratch) / "index")
        embedder = load_embedder(settings)
        with Index.open(settings, embedder=embedder) as index:
            Ingestor(index, settings, progress=True).ingest_articles(
                Article(id=p["id"], title=p["title"], text=p["text"]) for p in corpus
            )
            answerer = Answerer(index, settings)
            extractive = ExtractiveBackend(settings, embedder, answerer.answer_model())
            scores: dict[str, tuple[list[float], list[float]]] = {"passage": ([], []), "sentence": ([], [])}
            for label, group in ((0, answerable), (1, unanswerable)):
                for q in group:
                    passages = answerer.pack(answerer.retriever.search(q["question"], settings.search_k).hits)
                    scores["passage"][label].append(max(p.dense_score or 0 for p in passages))
                    ranked = extractive.rank_sentences(GenerationRequest(messages=[], question=q["question"],
                                                                         passages=passages))
                    scores["sentence"][label].append(ranked[0][0] if ranked else 0.0)
    threshold, caught = recall_floor(*scores["passage"], keep=1.0)
    print(f"min_passage_score = {threshold}  (keeps every answerable question, refuses {caught:.0%} of "
          f"unanswerable ones before generation; {len(answerable)} / {len(unanswerable)} SQuAD questions)")
    threshold, caught = recall_floor(*scores["sentence"], keep=0.95)
    best, accuracy = best_threshold(*scores["sentence"])
    print(f"refusal_threshold = {threshold}  (keeps 95% of answerable questions, refuses {caught:.0%} of "
          f"unanswerable ones; the balanced-accuracy optimum would be {best} ({accuracy}), which refuses "
          "long news sentences that do answer; SQuAD questions as above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "eval")
    parser.add_argument("--squad-questions", type=int, default=200)
    args = parser.parse_args()
    settings = Settings.from_env()
    calibrate_support(args.eval_dir, settings)
    calibrate_refusal(args.eval_dir, settings, args.squad_questions)


if __name__ == "__main__":
    main()
