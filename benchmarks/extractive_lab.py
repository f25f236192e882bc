"""Answer-step lab: how often the extractive answer holds the gold answer, on the eval sets' questions
(retrieval by the product's own hybrid search over the cached `zhida eval` KB), so a change to
app/extractive.py is judged on many questions, not only on the 35 of civil_code_dev.

    python -m benchmarks.extractive_lab ../shared/data/eval/cmrc2018_trial [--limit 300]

Prints: answers holding a gold answer string, mean answer length, and how often the answer quotes
the passage ranked first.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from app.commands._common import settings, throwaway_catalog
from app.evaluation import load_dataset
from app.extractive import extractive_answer

_CITE = re.compile(r"\[(\d+)\]")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    p.add_argument("--limit", type=int, default=300)
    args = p.parse_args(argv)
    ds_dir = Path(args.dataset)
    ds = load_dataset(ds_dir, args.limit)
    s = settings()
    with throwaway_catalog(s, [str(ds_dir.resolve())], fresh=False) as (cat, _):
        if not cat.exists("eval"):
            raise SystemExit(f"run `zhida eval {ds_dir}` first")
        kb = cat.open("eval")
        held = length = first = n = 0
        for q in ds.queries:
            if not q.gold_ids or not q.answers:
                continue
            chunks = kb.search(q.question, k=5)
            text = extractive_answer(q.question, chunks)
            n += 1
            squashed = re.sub(r"\s+", "", text)
            held += any(re.sub(r"\s+", "", a) in squashed for a in q.answers)
            length += len(_CITE.sub("", text))
            first += _CITE.findall(text)[:1] == ["1"]
    print(f"{ds.name}: {n} questions; answer holds a gold answer {held / n:.3f}; mean length {length / n:.0f} "
          f"chars; quotes rank 1 first {first / n:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
