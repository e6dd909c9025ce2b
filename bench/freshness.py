"""Retrieval recall against gold ids for freshness weights and candidate depths (tunes the defaults).

    python bench/freshness.py --index DIR [--questions ../shared/eval/realtimeqa/questions.jsonl.gz]
                              [--limit 1000] [--weights 0,0.5,0.7,0.8] [--half-lives 7]
                              [--candidates 50,100]

DIR is an index built by `qa eval --corpus ... --keep-index DIR` (RealTime QA: evidence.jsonl.gz plus
distractor articles). Every question is searched through `qa.retrieve.Retriever` as of its own date
(`Filters.as_of`, as `qa eval` does), once per setting, plus once without the as-of date and
without freshness (the plain hybrid search). Dev questions only: heldout ones are left out.
Prints recall@1/5/10/50 of the gold articles per setting.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tqdm import tqdm  # noqa: E402

from qa.embed import load_embedder  # noqa: E402
from qa.evaluate import load_questions, recall_at_k, select_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402
from qa.types import Filters  # noqa: E402

DEPTHS = (1, 5, 10, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path,
                        default=PROJECT_ROOT.parent / "shared" / "eval" / "realtimeqa" / "questions.jsonl.gz")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--weights", default="0,0.5,0.7,0.8")
    parser.add_argument("--half-lives", default="7")
    parser.add_argument("--candidates", default="50,100")
    args = parser.parse_args()

    questions, _ = select_questions(load_questions(args.questions))  # heldout left out
    questions = [q for q in questions if q.gold_ids][: args.limit]
    settings = Settings.from_env(index_dir=args.index)
    configs: list[tuple[str, Settings, bool]] = [("no as-of date, no freshness", settings.replace(
        recency_weight=0.0, search_candidates=50), False)]
    weights = [float(w) for w in args.weights.split(",")]
    for candidates in (int(c) for c in args.candidates.split(",")):
        if 0.0 in weights:  # without a weight the half-life means nothing: one row
            configs.append((f"as-of, {candidates} candidates, no freshness",
                            settings.replace(recency_weight=0.0, search_candidates=candidates), True))
        for half_life in (float(h) for h in args.half_lives.split(",")):
            for weight in (w for w in weights if w):
                configs.append((f"as-of, {candidates} candidates, weight {weight:g}, half-life {half_life:g} d",
                                settings.replace(recency_weight=weight, recency_half_life_days=half_life,
                                                 search_candidates=candidates), True))

    table = Table(title=f"{args.questions.name}: {len(questions)} dev questions with gold ids, "
                        "recall of the gold article")
    for column in ("setting", *(f"r@{d}" for d in DEPTHS)):
        table.add_column(column, justify="left" if column == "setting" else "right")
    with Index.open(settings, embedder=load_embedder(settings), writable=False) as index:
        n_articles, n_chunks = index.docstore.count()
        for label, config, as_of in configs:
            retriever = Retriever(index, config)
            recalls: dict[int, list[float]] = {depth: [] for depth in DEPTHS}
            for question in tqdm(questions, desc=label, unit="q", leave=False):
                filters = Filters(as_of=question.as_of) if as_of and question.as_of else None
                ranked = [h.article_id for h in retriever.search(question.question, max(DEPTHS), filters).hits]
                for depth in DEPTHS:
                    recalls[depth].append(recall_at_k(ranked, question.gold_ids, depth))
            table.add_row(label, *(f"{sum(values) / len(values):.3f}" for values in recalls.values()))
    Console().print(table)
    Console().print(f"index {args.index}: {n_articles:,} articles, {n_chunks:,} chunks")


if __name__ == "__main__":
    main()
