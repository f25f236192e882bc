"""Query latency of a real knowledge base at scale, through `KnowledgeBase.search` as the app calls it.

    python -m benchmarks.kb_latency [--size 1000000] [--size 300000] [--queries 100] [--json]

The KB is the synthetic one `python -m benchmarks memory --size N` writes (kb.sqlite of N synthetic
chunks with random-but-fixed vectors, and the KB's own caches: flat below 200k chunks, HNSW fp16 from
there, memory-mapped BM25), cached under the bench cache; so a size the memory benchmark has run costs
no build here. Questions are real (cmrc2018 + drcd), embedded for real by the KB's model
(all-MiniLM-L6-v2), the modes interleaved question by question; row fetch included.
Prints a table on stderr and, with --json, one object on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks import zhida_side
from benchmarks.common import latency_summary, log
from benchmarks.corpus import SyntheticCorpus, questions

MODES = ("dense", "sparse", "hybrid")


def measure(size: int, n_queries: int) -> dict:
    home, name = zhida_side.synthetic_kb(SyntheticCorpus(size), log=log)
    t0 = time.perf_counter()
    kb = zhida_side.open_kb(home, name)
    open_s = time.perf_counter() - t0
    qs = questions(n_queries)
    for q in qs[:3]:
        for mode in MODES:
            kb.search(q, k=5, mode=mode)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for q in qs:
        for mode in MODES:
            start = time.perf_counter()
            kb.search(q, k=5, mode=mode)
            times[mode].append(time.perf_counter() - start)
    from retrieval.dense import layout_of

    dense = layout_of(kb.refresh_indexes().dense.cpu_index)
    kb.close()
    return {"size": size, "dense_index": dense, "open_s": round(open_s, 1),
            **{m: latency_summary(times[m]) for m in MODES}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, action="append", help="chunks (repeatable; default 1,000,000)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [measure(size, args.queries) for size in (args.size or [1_000_000])]
    print(f"{'chunks':>10} {'mode':<7} {'p50 ms':>8} {'p95 ms':>8}  index", file=sys.stderr)
    for r in rows:
        for mode in MODES:
            print(f"{r['size']:>10,} {mode:<7} {r[mode]['p50_ms']:>8} {r[mode]['p95_ms']:>8}  {r['dense_index']}",
                  file=sys.stderr)
    if args.json:
        print(json.dumps({"queries": args.queries, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
