"""Retrieval quality: `zhida eval` beside the LangChain peer on the same eval sets, same model.

Zhida: `zhida eval DATASET --embedding minilm-packaged --json` (its own ingest of one
file per passage, its own chunking, BM25 over jieba tokens). The peer gets the same
passage files (title line, blank line, text: app.evaluation.write_passages), loads
them with TextLoader, splits 500/80, and is scored by the same metric code
(app.evaluation.score_mode), twice for BM25: LangChain's default whitespace
preprocess_func (finds no word boundaries in Chinese) and a jieba preprocess_func,
as a careful user would write.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import zhida_side
from benchmarks.common import REPO, Result, log, minilm_path
from benchmarks.corpus import eval_sets

MODES = ("dense", "sparse", "hybrid")
QUICK_LIMIT = 300


def zhida_eval(folder: Path, limit: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zhida-bench-eval-") as home:
        cmd = zhida_side.eval_command(folder, limit, MODES)
        env = dict(os.environ, ZHIDA_HOME=home)
        log(f"quality {folder.name}: {' '.join(cmd[1:])}")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise zhida_side.NotReady(f"zhida eval exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    data = json.loads(proc.stdout)
    data["seconds"] = round(secs, 1)
    return data


def peer_eval(folder: Path, limit: int | None, embeddings=None) -> dict[str, Any]:
    from app.evaluation import load_dataset, score_mode, write_passages
    from langchain_community.retrievers import BM25Retriever

    from benchmarks.peers.langchain_stack import LangChainStack, jieba_tokens, whitespace_tokens

    ds = load_dataset(folder, limit=limit)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="zhida-bench-peer-eval-") as tmp:
        mapping = write_passages(ds, Path(tmp))
        files = sorted(Path(tmp) / name for name in mapping)
        t0 = time.perf_counter()
        default = LangChainStack(minilm_path(), bm25_preprocess=whitespace_tokens, k=10, embeddings=embeddings)
        log(f"quality {folder.name}: LangChain peer, {len(files)} passage files")
        chunks = default.ingest(files)
        careful = LangChainStack(minilm_path(), bm25_preprocess=jieba_tokens, k=10, embeddings=default.embeddings)
        careful.vectorstore = default.vectorstore
        careful.bm25 = BM25Retriever.from_documents(chunks, preprocess_func=jieba_tokens, k=10)
        out["seconds_build"] = round(time.perf_counter() - t0, 1)
        out["chunks"] = len(chunks)

        def ranked(stack, mode):
            def search(question: str, depth: int) -> list[str]:
                docs = stack.retriever(mode, depth).invoke(question)
                return [mapping[Path(d.metadata["source"]).name] for d in docs][:depth]
            return search

        for label, stack in (("whitespace BM25", default), ("jieba BM25", careful)):
            out[label] = {}
            for mode in MODES:
                if mode == "dense" and label == "jieba BM25":
                    out[label][mode] = out["whitespace BM25"]["dense"]  # same FAISS index
                    continue
                out[label][mode] = score_mode(ds.queries, ranked(stack, mode))
    out["embeddings"] = default.embeddings
    return out


def run(quick: bool = False, limit: int | None = None) -> Result:
    limit = limit or (QUICK_LIMIT if quick else None)
    sets = eval_sets()
    if quick:
        sets = [s for s in sets if s.name.startswith("cmrc")] or sets[:1]
    result = Result("quality", quick, columns=["dataset", "system", "mode", "Recall@5", "MRR@10", "vs careful peer R@5", "queries"])
    t0 = time.perf_counter()
    embeddings = None
    for folder in sets:
        detail: dict[str, Any] = {}
        try:
            z = zhida_eval(folder, limit)
            detail["zhida"] = z
            for mode in MODES:
                m = z["modes"].get(mode)
                if m:
                    result.rows.append({"dataset": folder.name, "system": "Zhida", "mode": mode,
                                        "Recall@5": m.get("recall@5"), "MRR@10": m.get("mrr@10"),
                                        "queries": z.get("queries")})
        except zhida_side.NotReady as exc:
            result.rows.append({"dataset": folder.name, "system": "Zhida", "mode": "-", "note": f"not run ({exc})"})
        p = peer_eval(folder, limit, embeddings)
        embeddings = p.pop("embeddings")
        detail["peer"] = p
        for label in ("whitespace BM25", "jieba BM25"):
            for mode in MODES:
                if label == "jieba BM25" and mode == "dense":
                    continue
                m = p[label][mode]
                result.rows.append({"dataset": folder.name, "system": f"peer ({label})", "mode": mode,
                                    "Recall@5": m.get("recall@5"), "MRR@10": m.get("mrr@10")})
        result.details[folder.name] = detail
    for row in result.rows:
        if row["system"] == "Zhida" and row.get("Recall@5") is not None:
            peer = next((r for r in result.rows if r["dataset"] == row["dataset"] and r["mode"] == row["mode"]
                         and r["system"] == ("peer (whitespace BM25)" if row["mode"] == "dense" else "peer (jieba BM25)")),
                        None)
            if peer and peer.get("Recall@5") is not None:
                row["vs careful peer R@5"] = round(row["Recall@5"] - peer["Recall@5"], 3)
    result.notes += [
        "Same embedding model for every row: all-MiniLM-L6-v2 (English-only, so dense is weak on Chinese for both; "
        "Zhida's default use-multilingual is not used here because LangChain has no loader for it).",
        "peer (whitespace BM25) = BM25Retriever defaults (text.split()); peer (jieba BM25) = preprocess_func=jieba.lcut. "
        "Hybrid = EnsembleRetriever RRF 0.5/0.5 over that BM25 + FAISS, k=10 each.",
        f"Queries: {'first ' + str(limit) if limit else 'all'} answerable questions per set.",
    ]
    result.seconds = time.perf_counter() - t0
    return result
