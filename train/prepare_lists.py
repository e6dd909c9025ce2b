"""Files the answer model's list stages need, written reproducibly (stage 4 in its model card).

    # the SQuAD train half: its paragraphs (to index) and questions (to mine lists for)
    PYTHONPATH=. python train/prepare_lists.py squad-half DIR
    # mined lists split into training lists and probe lists: the RealTime QA dev questions that
    # `qa eval --split dev --limit N` asks first are held out, as is the tail of the SQuAD lists
    PYTHONPATH=. python train/prepare_lists.py split --rtqa lists-rtqa.jsonl --squad lists-squad.jsonl \
        --hold-out-rtqa 300 --hold-out-squad 200 --out DIR

The halves are those of `train/train_answer_model.py` (md5 of the Wikipedia title); nothing of the
SQuAD test half or the RealTime QA heldout split is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.evaluate import load_questions, select_questions
from train.mine_passages import read_questions
from train.train_answer_model import EVAL_DIR, squad_half


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)}")


def squad_train_half(folder: Path) -> None:
    """DIR/paragraphs-train.jsonl and DIR/squad-train-questions.jsonl (split "train")."""
    paragraphs = read_questions(EVAL_DIR / "squad" / "paragraphs.jsonl.gz")
    titles = {p["id"]: p["title"] for p in paragraphs}
    questions = read_questions(EVAL_DIR / "squad" / "questions.jsonl.gz")
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "paragraphs-train.jsonl", [p for p in paragraphs if squad_half(p["title"]) == "train"])
    write_jsonl(folder / "squad-train-questions.jsonl", [{**q, "split": "train"} for q in questions
                                               if squad_half(titles[q["gold_ids"][0]]) == "train"])


def first_dev_ids(n: int) -> set[str]:
    """The ids of the first `n` dev questions `qa eval --split dev` asks (file order, with a gold passage)."""
    dev, _ = select_questions(load_questions(EVAL_DIR / "realtimeqa" / "questions.jsonl.gz"), "dev")
    return {q.id for q in [q for q in dev if q.gold_ids][:n]}


def split_lists(rtqa: Path, squad: Path, hold_rtqa: int, hold_squad: int, folder: Path) -> None:
    held = first_dev_ids(hold_rtqa)
    rtqa_rows, squad_rows = read_questions(rtqa), read_questions(squad)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "rtqa-train.jsonl", [r for r in rtqa_rows if r["id"] not in held])
    write_jsonl(folder / "rtqa-probe.jsonl", [r for r in rtqa_rows if r["id"] in held])
    write_jsonl(folder / "squad-train.jsonl", squad_rows[: len(squad_rows) - hold_squad])
    write_jsonl(folder / "squad-probe.jsonl", squad_rows[len(squad_rows) - hold_squad:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    half = commands.add_parser("squad-half")
    half.add_argument("out", type=Path)
    split = commands.add_parser("split")
    split.add_argument("--rtqa", type=Path, required=True)
    split.add_argument("--squad", type=Path, required=True)
    split.add_argument("--hold-out-rtqa", type=int, default=300)
    split.add_argument("--hold-out-squad", type=int, default=200)
    split.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "squad-half":
        squad_train_half(args.out)
    else:
        split_lists(args.rtqa, args.squad, args.hold_out_rtqa, args.hold_out_squad, args.out)


if __name__ == "__main__":
    main()
