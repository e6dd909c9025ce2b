"""Mine training lists for the answer model: each dev question with the passages the service
itself retrieves for it, so the model learns to choose among the passages it will really see
(other paragraphs of the same article, near-duplicate news) rather than among random ones.

    PYTHONPATH=. python train/mine_passages.py --index DIR --questions FILE --out FILE.jsonl \
        [--as-of] [--limit N] [--offset N] [--k 8]

Writes one JSON line per question: {"id", "question", "answers", "gold_ids", "source",
"passages": [{"article_id", "text", "gold"}]}, the top `k` passages in retrieval order. The
questions must be dev data (SQuAD's train half, RealTime QA `dev`): the script refuses a
question of split `heldout` or `test`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

from qa.embed import load_embedder
from qa.index import Index
from qa.retrieve import Retriever
from qa.settings import Settings
from qa.types import Filters

SEED = 13
FORBIDDEN_SPLITS = frozenset({"heldout", "test"})


def read_questions(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default=None, help="only questions of this split")
    parser.add_argument("--as-of", action="store_true", help="search as of each question's date")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--source", default="")
    args = parser.parse_args()

    questions = [q for q in read_questions(args.questions)
                 if q.get("gold_ids") and (args.split is None or q.get("split") == args.split)]
    bad = [q["id"] for q in questions if q.get("split") in FORBIDDEN_SPLITS]
    if bad:
        sys.exit(f"{len(bad)} questions of a held-out split (e.g. {bad[0]}): never train on them")
    random.Random(SEED).shuffle(questions)
    end = None if args.limit is None else args.offset + args.limit
    questions = questions[args.offset:end]

    settings = Settings.from_env().replace(index_dir=args.index)
    with Index.open(settings, embedder=load_embedder(settings), writable=False) as index, \
            open(args.out, "w", encoding="utf-8") as out:
        retriever = Retriever(index, settings)
        for n, q in enumerate(questions, start=1):
            filters = Filters(as_of=q["date"][:10]) if args.as_of and q.get("date") else None
            hits = retriever.search(q["question"], args.k, filters).hits
            gold = set(q["gold_ids"])
            out.write(json.dumps({
                "id": q["id"], "question": q["question"], "answers": q["answers"], "gold_ids": q["gold_ids"],
                "source": args.source,
                "passages": [{"article_id": h.article_id, "text": h.text, "gold": h.article_id in gold} for h in hits],
            }) + "\n")
            if n % 200 == 0:
                print(f"{n}/{len(questions)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
