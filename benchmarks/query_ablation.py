"""Before/after of each query stage in one process, interleaved query by query (a shared machine's
load then hits both sides alike): `python -m benchmarks.query_ablation --size 100000 [--queries 100]`.

"before" re-creates what a hybrid query did before issue 17, on the same indexes: the question through
SentenceTransformer.encode on torch's default threads (the cores), FAISS on every core for one query,
BM25 as a scipy sparse row-vector x matrix product. "after" is what retrieval does now (a direct
forward pass on one torch thread, one FAISS thread for one query, a bincount over the query terms'
postings). Fusion and row fetch are the same code on both sides.
Prints a table on stderr and one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np

from benchmarks import zhida_side
from benchmarks.common import latency_summary, log, markdown_table
from benchmarks.corpus import SyntheticCorpus, questions


def _old_bm25(index, weights):
    """The pre-17 BM25Index.scores + search_tokens: a scipy product over a CSR weight matrix."""
    from scipy import sparse

    def search(query_tokens, k):
        counts = Counter(t for t in query_tokens if t in index.vocab)
        if not counts:
            return []
        rows = np.fromiter((index.vocab[t] for t in counts), dtype=np.int64)
        mult = np.fromiter(counts.values(), dtype=np.float32)
        q = sparse.csr_matrix((mult, (np.zeros_like(rows), rows)), shape=(1, weights.shape[0]))
        s = np.asarray((q @ weights).todense()).ravel().astype(np.float32)
        positive = np.flatnonzero(s > 0)
        top = positive[np.argpartition(-s[positive], k - 1)[:k]] if positive.size > k else positive
        order = top[np.lexsort((index.ids[top], -s[top]))]
        return [(int(index.ids[i]), float(s[i])) for i in order]
    return search


def main(argv: list[str] | None = None) -> int:
    import faiss

    from retrieval.fusion import adaptive_fusion
    from retrieval.threads import cpu_threads

    p = argparse.ArgumentParser(prog="python -m benchmarks.query_ablation", description=__doc__)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    args = p.parse_args(argv)
    corpus = SyntheticCorpus(args.size)
    r = zhida_side.synthetic_retriever(corpus, log=log)
    fetch = zhida_side.row_fetcher(corpus, log=log)
    emb, dense, sparse_index, tok = r.embedder, r.retriever.dense, r.retriever.sparse, r.retriever.tokenizer
    old_bm25 = _old_bm25(sparse_index, sparse_index.weights.tocsr())
    depth = max(5, r.q.candidates)
    cores = cpu_threads()
    qs = questions(args.queries)
    t: dict[str, list[float]] = {}

    def clock(name, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        t.setdefault(name, []).append(time.perf_counter() - t0)
        return out

    def old_dense(v):
        faiss.omp_set_num_threads(cores)
        scores, ids = dense.cpu_index.search(v.reshape(1, -1), depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    same_bm25 = same_dense = 0
    for n, q in enumerate(qs[:3] + qs):
        warm = n < 3
        t_keep = {k: list(v) for k, v in t.items()}
        # before
        t0 = time.perf_counter()
        v_old = clock("before: query embedding", lambda: emb.embed_queries([q])[0])  # encode, torch default threads
        d_old = clock("before: dense search", old_dense, v_old)
        s_old = clock("before: BM25", lambda: old_bm25(tok(q), depth))
        hits = clock("before: fusion", adaptive_fusion, {"dense": d_old, "sparse": s_old})
        clock("before: row fetch", fetch, [h.id for h in hits[:5]])
        t.setdefault("before: hybrid total", []).append(time.perf_counter() - t0)
        # after
        t0 = time.perf_counter()
        v_new = clock("after: query embedding", emb.embed_query, q)
        d_new = clock("after: dense search", dense.search, v_new, depth)
        s_new = clock("after: BM25", sparse_index.search, q, depth, tok)
        hits = clock("after: fusion", adaptive_fusion, {"dense": d_new, "sparse": s_new})
        clock("after: row fetch", fetch, [h.id for h in hits[:5]])
        t.setdefault("after: hybrid total", []).append(time.perf_counter() - t0)
        same_dense += [i for i, _ in d_old] == [i for i, _ in d_new]
        same_bm25 += [i for i, _ in s_old] == [i for i, _ in s_new]
        if warm:
            t = t_keep
    faiss.omp_set_num_threads(cores)
    stages = ["query embedding", "dense search", "BM25", "fusion", "row fetch", "hybrid total"]
    rows = []
    for s in stages:
        b, a = latency_summary(t[f"before: {s}"]), latency_summary(t[f"after: {s}"])
        rows.append({"stage": s, "before p50 ms": b["p50_ms"], "after p50 ms": a["p50_ms"],
                     "before p95 ms": b["p95_ms"], "after p95 ms": a["p95_ms"]})
    n = len(qs) + 3
    import torch

    log(f"{args.size:,} chunks, {len(qs)} questions, interleaved; FAISS {cores} threads before / 1 after; torch "
        f"{torch.get_num_threads()} threads before / 1 after; "
        f"same dense ids {same_dense}/{n}, same BM25 ids {same_bm25}/{n}")
    log(markdown_table(rows))
    sys.stdout.write(json.dumps({"size": args.size, "queries": len(qs), "cores": cores, "stages": rows,
                                 "same_dense_ids": same_dense, "same_bm25_ids": same_bm25, "compared": n}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
