"""Memory: peak RSS of a process holding a 1M-chunk knowledge base and answering queries
(--quick: 100k), beside the raw size of what it must hold (vectors, BM25 postings).

Zhida's side: its DenseIndex + BM25Index over the synthetic corpus (benchmarks.corpus: real
sentences, random fixed unit vectors, 384-d like all-MiniLM-L6-v2) are built once and cached
with their own save(); a fresh process loads them (DenseIndex.load / BM25Index.load, what an
opened KnowledgeBase does from its cache folder), loads the embedder and tokenizer, and answers
one query per mode; its VmHWM (peak resident set) is read from /proc. A second row is
the real server: a kb.sqlite written directly with the same chunks and vectors (through
knowledge.db; going through ingest would mean embedding 1M chunks), its FAISS/BM25 caches
built by the KB itself, then `zhida serve` on it, one /api search per mode, and the
server's VmHWM.

The peer's figure is a process that builds the LangChain stack (FAISS + rank-bm25) over
the same corpus and answers the same queries (its indexes live only in memory, so it
has no "open" path); at 1M only its FAISS half is built (rank-bm25: see query_latency).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import zhida_side
from benchmarks.common import REPO, Result, cache_dir, log, peak_rss_mib, rss_mib
from benchmarks.corpus import DIM, SyntheticCorpus, questions

MODES = ("dense", "sparse", "hybrid")


def _child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.memory", *args]


def _run_child(args: list[str], env: dict | None = None, timeout: int = 3600) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(_child_cmd(*args), capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, **(env or {})), timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"memory child {args} exited {proc.returncode}: {tail}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def child_zhida(size: str) -> None:
    """Hold Zhida's in-memory retrieval state for the corpus (DenseIndex + BM25Index loaded from their
    cache files, embedder, tokenizer: what an opened KnowledgeBase keeps) and answer a query per mode."""
    base = rss_mib()
    t0 = time.perf_counter()
    retriever = zhida_side.synthetic_retriever(SyntheticCorpus(int(size)), log=log)
    qs = questions(3)
    timings = {}
    for mode in MODES:
        t1 = time.perf_counter()
        retriever.search(qs[0], mode)
        timings[mode] = round((time.perf_counter() - t1) * 1000, 1)
    out = {"peak_rss_mib": round(peak_rss_mib(), 1), "rss_mib": round(rss_mib(), 1), "baseline_rss_mib": round(base, 1),
           "open_and_first_queries_s": round(time.perf_counter() - t0, 2), "first_query_ms": timings}
    print(json.dumps(out))


def child_peer(size: int, with_sparse: bool) -> None:
    from benchmarks.common import minilm_path
    from benchmarks.peers.langchain_stack import LangChainStack

    base = rss_mib()
    corpus = SyntheticCorpus(size)
    stack = LangChainStack(minilm_path(), k=5)
    texts = corpus.all_texts()
    tokens = corpus.tokens() if with_sparse else None
    stack.build_from_vectors(texts, corpus.vectors(), tokens)
    del texts, tokens
    import gc

    gc.collect()
    qs = questions(3)
    for mode in (MODES if with_sparse else ("dense",)):
        stack.search(qs[0], mode)
    print(json.dumps({"peak_rss_mib": round(peak_rss_mib(), 1), "rss_mib": round(rss_mib(), 1),
                      "baseline_rss_mib": round(base, 1)}))


def run(quick: bool = False, size: int | None = None) -> Result:
    size = size or (100_000 if quick else 1_000_000)
    result = Result("memory", quick, columns=["system", "chunks", "process", "peak RSS MiB", "steady RSS MiB",
                                              "vectors MiB", "BM25 postings MiB", "peak / raw"])
    t0 = time.perf_counter()
    raw_vectors = size * DIM * 4 / 2**20
    try:
        corpus = SyntheticCorpus(size)
        zhida_side.synthetic_indexes(corpus, log=log)  # build + cache once (not measured)
        sizes = zhida_side.synthetic_index_bytes(corpus)
        result.details["zhida_index_files"] = sizes
        postings = sizes["bm25_bytes"] / 2**20
        raw = raw_vectors + postings
        log(f"memory: loading Zhida's indexes for {size:,} chunks in a fresh process")
        z = _run_child(["--zhida-child", str(size)])
        result.details["zhida_open"] = z
        result.rows.append({"system": "Zhida", "chunks": f"{size:,}", "process": "load indexes + query (API)",
                            "peak RSS MiB": z["peak_rss_mib"], "steady RSS MiB": z["rss_mib"],
                            "vectors MiB": round(raw_vectors, 1), "BM25 postings MiB": round(postings, 1),
                            "peak / raw": round(z["peak_rss_mib"] / raw, 2)})
        home, name = zhida_side.synthetic_kb(corpus, log=log)  # a real kb.sqlite + caches, built once
        serve = zhida_side.serve_peak_rss(home, name, log=log)
        if serve:
            result.details["zhida_serve"] = serve
            row = {"system": "Zhida", "chunks": f"{size:,}", "process": "zhida serve + /api search",
                   "vectors MiB": round(raw_vectors, 1), "BM25 postings MiB": round(postings, 1)}
            if serve.get("peak_rss_mib"):
                row.update({"peak RSS MiB": serve["peak_rss_mib"], "steady RSS MiB": serve.get("rss_mib"),
                            "peak / raw": round(serve["peak_rss_mib"] / raw, 2)})
            if serve.get("note"):
                row["note"] = serve["note"]
            result.rows.append(row)
    except zhida_side.NotReady as exc:
        result.rows.append({"system": "Zhida", "chunks": f"{size:,}", "note": f"not run ({exc})"})
    with_sparse = size <= 100_000
    log(f"memory: LangChain peer holding {size:,} chunks ({'FAISS + BM25' if with_sparse else 'FAISS only'})")
    try:
        p = _run_child(["--peer-child", str(size), "1" if with_sparse else "0"])
        result.details["peer"] = p
        result.rows.append({"system": "LangChain peer", "chunks": f"{size:,}",
                            "process": "build in memory + query" + ("" if with_sparse else " (FAISS only)"),
                            "peak RSS MiB": p["peak_rss_mib"], "steady RSS MiB": p["rss_mib"],
                            "vectors MiB": round(raw_vectors, 1),
                            "note": None if with_sparse else "rank-bm25 half not built at 1M (see query)"})
    except Exception as exc:
        result.rows.append({"system": "LangChain peer", "chunks": f"{size:,}", "note": f"failed: {exc}"})
    result.notes += [
        "peak RSS = VmHWM of the measuring process (includes Python, torch and the embedding model: ~0.5-0.6 GiB "
        "before any index is loaded; see details.baseline_rss_mib).",
        f"vectors = chunks x {DIM} x 4 bytes (float32); BM25 postings = size of Zhida's BM25 cache files on disk.",
        "Synthetic corpus: ~300-character chunks of real sentences; vectors random-but-fixed unit vectors.",
    ]
    result.seconds = time.perf_counter() - t0
    return result


if __name__ == "__main__":
    if sys.argv[1] == "--zhida-child":
        child_zhida(sys.argv[2])
    elif sys.argv[1] == "--peer-child":
        child_peer(int(sys.argv[2]), sys.argv[3] == "1")
    else:
        raise SystemExit("internal entry point of benchmarks.memory")
