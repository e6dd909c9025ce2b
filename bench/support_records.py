"""How the support check judges what an LLM really writes, against the local LLM judge.

    python bench/support_records.py RECORDS.jsonl [RECORDS.jsonl ...] [--weights 0.6,0.4,0.2]

RECORDS are `qa eval --model local --records R.jsonl` outputs: every sentence the model wrote
(`checks`) with the passages it was given. For each sentence and each passage it cites, the local
LLM judge (`qa.llm_judge`, P("yes") on the whole passage) gives the label; the lexical-semantic
scorer is recomputed from its parts (lexical recall, cosine, fact agreement) on every window of
one or two sentences, for each `--weights` value of the lexical share, and the support model
(`QA_SUPPORT_SCORER=model`) on the same windows. Prints, per scorer and threshold, how often the
check keeps what the judge supports and drops what it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from qa.chunk import split_sentences  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.support import (  # noqa: E402
    ModelSupportScorer,
    fact_agreement,
    lexical_recall,
    number_agreement,
    sentence_windows,
    without_preamble,
)
from qa.support_model import load_support_model  # noqa: E402


def window_parts(embedder: object, claim: str, passage: str) -> list[tuple[float, float, float, float, bool]]:
    """(lexical recall, cosine, fact agreement, number agreement, single sentence) per window."""
    claim = without_preamble(claim)
    windows = sentence_windows(passage) or [(0, len(passage))]
    texts = [passage[s:e] for s, e in windows]
    vectors = embedder.encode([claim, *texts])  # type: ignore[attr-defined]
    cosines = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
    return [(lexical_recall(claim, text), float(cos), fact_agreement(claim, text, passage),
             number_agreement(claim, text), len(split_sentences(text)) <= 1)
            for text, cos in zip(texts, cosines)]


def score(parts: list[tuple[float, float, float, float, bool]], weight: float, facts: bool) -> float:
    """The scorer's best window: single sentences preferred by 0.05, as `best_support` does."""
    best, best_key = 0.0, -1.0
    for lexical, cos, fact, number, single in parts:
        value = (weight * lexical + (1 - weight) * cos) * (fact if facts else number)
        if value - (0 if single else 0.05) > best_key:
            best, best_key = value, value - (0 if single else 0.05)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--weights", default="0.6,0.4,0.2")
    parser.add_argument("--dump", type=Path, help="write the per-sentence parts and labels here (JSONL)")
    args = parser.parse_args()
    settings = Settings()
    embedder = load_embedder(settings)
    from qa.backends.local import LocalBackend

    judge = LocalBackend(settings)
    model = ModelSupportScorer(load_support_model)
    rows = []
    try:
        for path in args.records:
            for line in path.read_text().splitlines():
                record = json.loads(line)
                passages = {p["number"]: p["text"] for p in record.get("passages", [])}
                for check in record.get("checks", []):
                    for number in dict.fromkeys(check["cited"]):
                        if number not in passages:
                            continue
                        claim, passage = check["sentence"], passages[number]
                        rows.append({
                            "id": record["id"], "claim": claim, "passage": number, "action": check["action"],
                            "judge": judge.support_probability(claim, passage),
                            "parts": window_parts(embedder, claim, passage),
                            "model": model.best_support(claim, passage)[0],
                        })
    finally:
        judge.close()
    if args.dump:
        args.dump.write_text("".join(json.dumps(row) + "\n" for row in rows))
    supported = [row["judge"] >= 0.5 for row in rows]
    print(f"{len(rows)} (sentence, cited passage) pairs from {len(args.records)} file(s); "
          f"the judge supports {sum(supported)}")
    print("(old = the lexical share 0.6 with numbers only, the scorer before names were checked)")
    print(f"{'scorer':<28} {'threshold':>9} {'kept|supp':>9} {'dropped|unsupp':>14} {'balanced':>8}")
    for facts in (False, True):
        for weight in (float(w) for w in args.weights.split(",")):
            scores = [score(row["parts"], weight, facts) for row in rows]
            for threshold in (0.5, 0.55, 0.58, 0.6, 0.65, 0.68, 0.7):
                kept = [s >= threshold for s in scores]
                tpr = _share(k for k, s in zip(kept, supported) if s)
                tnr = _share(not k for k, s in zip(kept, supported) if not s)
                name = f"lexical {weight:.1f}" + (" + names" if facts else "")
                print(f"{name:<28} {threshold:>9.2f} {tpr:>9.3f} {tnr:>14.3f} {(tpr + tnr) / 2:>8.3f}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        kept = [row["model"] >= threshold for row in rows]
        tpr = _share(k for k, s in zip(kept, supported) if s)
        tnr = _share(not k for k, s in zip(kept, supported) if not s)
        print(f"{'support model':<28} {threshold:>9.2f} {tpr:>9.3f} {tnr:>14.3f} {(tpr + tnr) / 2:>8.3f}")


def _share(values: object) -> float:
    items = list(values)  # type: ignore[call-overload]
    return sum(items) / len(items) if items else float("nan")


if __name__ == "__main__":
    main()
