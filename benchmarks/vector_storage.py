"""Recall@10 of compressed vector storage against exact float32 search, on real embeddings.

`python -m benchmarks.vector_storage [--chunks N] [--model NAME]` (standalone; minutes on a busy 2-core machine):
embeds up to N (default 2,000) 150-character pieces of the ../shared/data/eval passages and 300 of their questions
with a real model (default minilm-packaged, the benchmarks' shared model; cached under the bench
cache), then compares, for the same queries, exact flat float32 inner product with flat fp16 / int8
scalar quantisation and HNSW (M=32, efSearch=128) over float32 / fp16 / int8 vectors, as
retrieval.dense builds them. Prints a table on stderr and one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from benchmarks.common import cache_dir, log
from benchmarks.corpus import eval_sets, questions


PIECE = 150  # characters: MiniLM reads Chinese a character a token, and shorter pieces embed faster


def _pieces(limit: int) -> list[str]:
    out: list[str] = []
    per_set = [[json.loads(line)["text"] for line in open(f / "corpus.jsonl", encoding="utf-8")] for f in eval_sets()]
    i = 0
    while len(out) < limit and any(i < len(p) for p in per_set):
        for passages in per_set:
            if i < len(passages):
                text = passages[i]
                out.extend(text[s:s + PIECE] for s in range(0, min(len(text), 3 * PIECE), PIECE) if len(text[s:s + PIECE]) > 40)
        i += 1
    return out[:limit]


def _embeddings(model: str, n_chunks: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    path = cache_dir() / f"real-vectors-{model}-{n_chunks}-{n_queries}.npz"
    if path.exists():
        data = np.load(path)
        return data["docs"], data["queries"]
    from benchmarks import zhida_side

    emb = zhida_side.embedder(model)
    texts = _pieces(n_chunks)
    log(f"vector_storage: embedding {len(texts):,} passage pieces and {n_queries} questions with {model}")
    t0 = time.perf_counter()
    docs = np.asarray(emb.embed_documents(texts), dtype=np.float32)
    qs = np.asarray(emb.embed_queries(questions(n_queries)), dtype=np.float32)
    log(f"vector_storage: embedded in {time.perf_counter() - t0:.0f} s")
    np.savez(path, docs=docs, queries=qs)
    return docs, qs


def recall_table(docs: np.ndarray, qs: np.ndarray, k: int = 10) -> list[dict]:
    import faiss

    from retrieval import DenseIndex, DenseSettings

    ids = np.arange(len(docs), dtype=np.int64)
    exact = DenseIndex.build(ids, docs, DenseSettings(hnsw_threshold=10**12))
    truth = [{i for i, _ in hits} for hits in exact.search_many(qs, k)]
    rows = []

    def measure(name: str, index, bytes_per_vector: float):
        t0 = time.perf_counter()
        got = index.search_many(qs, k)
        ms = (time.perf_counter() - t0) * 1000 / len(qs)
        recall = float(np.mean([len(t & {i for i, _ in g}) / k for t, g in zip(truth, got)]))
        rows.append({"index": name, "recall@10": round(recall, 4), "bytes/vector": bytes_per_vector,
                     "ms/query (batch)": round(ms, 3)})

    d = docs.shape[1]
    for storage, qt, size in (("fp16", faiss.ScalarQuantizer.QT_fp16, 2 * d), ("int8", faiss.ScalarQuantizer.QT_8bit, d)):
        sq = faiss.IndexScalarQuantizer(d, qt, faiss.METRIC_INNER_PRODUCT)
        sq.train(docs)
        index = faiss.IndexIDMap2(sq)
        index.add_with_ids(docs, ids)
        measure(f"flat {storage}", DenseIndex(index, d, DenseSettings(use_gpu=False)), size)
    for storage, size in (("float32", 4 * d), ("fp16", 2 * d), ("int8", d)):
        hnsw = DenseIndex.build(ids, docs, DenseSettings(hnsw_threshold=1, hnsw_storage=storage, use_gpu=False))
        measure(f"HNSW M=32 ef=128 {storage}", hnsw, size + 32 * 2 * 4)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vector_storage", description=__doc__)
    p.add_argument("--chunks", type=int, default=2000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--model", default="minilm-packaged")
    args = p.parse_args(argv)
    docs, qs = _embeddings(args.model, args.chunks, args.queries)
    rows = recall_table(docs, qs)
    from benchmarks.common import markdown_table

    log(f"{len(docs):,} real {args.model} vectors, {len(qs)} real questions; truth = exact float32 top 10")
    log(markdown_table(rows))
    sys.stdout.write(json.dumps({"model": args.model, "chunks": int(len(docs)), "queries": int(len(qs)),
                                 "rows": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
