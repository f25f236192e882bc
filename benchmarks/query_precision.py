"""Single-question embedding in float32 against the bfloat16 copy (retrieval.embedders, query_precision), in one run:
speed of one question, cosine between the two vectors, and dense MRR@10 with each on a real eval set.

    python -m benchmarks.query_precision [--model m3e-small] [--set ../shared/data/eval/dureader_robust_dev]
        [--queries 300] [--json]

The passages are embedded once in float32 (as Zhida stores them); only the question side changes.
Prints a table on stderr and, with --json, one object on stdout.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval" / "dureader_robust_dev"


def _timed(fn, texts: list[str]) -> tuple[float, np.ndarray]:
    for t in texts[:5]:
        fn(t)
    times, vecs = [], []
    for t in texts:
        start = time.perf_counter()
        vecs.append(fn(t))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, np.asarray(vecs)


def _mrr10(qv: np.ndarray, pv: np.ndarray, pids: list[str], gold: list[set[str]]) -> float:
    top = np.argsort(-(qv @ pv.T), axis=1)[:, :10]
    total = 0.0
    for row, g in zip(top, gold):
        total += next((1.0 / r for r, i in enumerate(row, 1) if pids[i] in g), 0.0)
    return total / len(gold)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="m3e-small", help="a sentence-transformers embedder name or folder")
    ap.add_argument("--set", type=Path, default=DEFAULT_SET, help="an eval set (corpus.jsonl + queries.jsonl)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from app.evaluation import load_dataset
    from retrieval import load_embedder
    from retrieval.embedders import native_bf16_cpu

    if not args.set.is_dir():
        print(f"no eval set at {args.set}", file=sys.stderr)
        return 2
    ds = load_dataset(args.set)
    queries = [q for q in ds.queries if q.gold_ids][:args.queries]
    fp32 = load_embedder(args.model, device="cpu", query_precision="float32")
    bf16 = load_embedder(args.model, device="cpu", query_precision="auto")
    bf16._model = fp32._model  # one model in memory; the bf16 copy is made from it
    pids = [p.id for p in ds.passages]
    pv = fp32.embed_documents([f"{p.title}\n{p.text}" if p.title else p.text for p in ds.passages])
    texts = [q.question for q in queries]
    gold = [set(q.gold_ids) for q in queries]
    ms32, v32 = _timed(fp32.embed_query, texts)
    ms16, v16 = _timed(bf16.embed_query, texts)
    cos = (v32 * v16).sum(axis=1)
    out = {"model": args.model, "set": args.set.name, "queries": len(texts), "native_bf16": native_bf16_cpu(),
           "bf16_used": bf16._single_query_model() is not fp32._model,
           "float32": {"p50_ms": round(ms32, 2), "mrr10": round(_mrr10(v32, pv, pids, gold), 4)},
           "bf16": {"p50_ms": round(ms16, 2), "mrr10": round(_mrr10(v16, pv, pids, gold), 4)},
           "cosine_min": round(float(cos.min()), 6), "cosine_median": round(float(np.median(cos)), 6)}
    print(f"{args.model} on {args.set.name}, {len(texts)} questions, one thread; hardware bf16: {out['native_bf16']}",
          file=sys.stderr)
    print(f"{'query precision':<16}{'p50 ms':>8}{'MRR@10':>8}", file=sys.stderr)
    for name in ("float32", "bf16"):
        print(f"{name:<16}{out[name]['p50_ms']:>8}{out[name]['mrr10']:>8}", file=sys.stderr)
    print(f"cosine bf16 vs float32: min {out['cosine_min']}, median {out['cosine_median']}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
