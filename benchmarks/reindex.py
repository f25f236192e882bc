"""Incremental re-index: a folder of 1,000 files, ingested once, then again with nothing
changed, then again with one file changed.

Measured two ways: in-process through the knowledge-base API (the KB already open,
model loaded: the cost of the sync itself) and as a user runs it, `zhida ingest
FOLDER --kb NAME` in a fresh process (interpreter start, imports, model load included).
Target: a no-op re-index of 1,000 files <= 2 s. The changed run must embed only that
file's chunks.

The LangChain peer has no incremental mode in the stack people build (FAISS.from_documents
+ BM25Retriever): any change means rebuilding, i.e. its full ingest time, shown for scale
(full run only; --quick skips it).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import zhida_side
from benchmarks.common import Result, log, minilm_path
from benchmarks.corpus import text_files

NOOP_TARGET_S = 2.0


def run(quick: bool = False, n_files: int | None = None) -> Result:
    n_files = n_files or 1000
    # --quick builds the 1,000-file KB with the hashing embedder (seconds instead of ~1.5 min);
    # the no-op path does not embed anything, and the one-file change embeds one file's chunks.
    model = "hashing" if quick else zhida_side.BENCH_MODEL
    result = Result("reindex", quick, columns=["system", "step", "files", "seconds", "chunks embedded", "target"])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zhida-bench-reindex-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "notes"
        files = text_files(folder, n_files)
        home = tmp / "home"
        try:
            steps = zhida_side.reindex_steps(home, folder, files, model=model, log=log)
        except zhida_side.NotReady as exc:
            steps = []
            result.rows.append({"system": "Zhida", "step": "-", "note": f"not run ({exc})"})
        for step in steps:
            row = {"system": f"Zhida ({step['via']})", "step": step["step"], "files": n_files,
                   "seconds": round(step["seconds"], 3), "chunks embedded": step.get("embedded")}
            if step["step"] == "no change":
                row["target"] = f"<= {NOOP_TARGET_S:.0f} s: {'met' if step['seconds'] <= NOOP_TARGET_S else 'MISSED'}"
            if step["step"] == "1 file changed":
                expect = step.get("expected_chunks")
                ok = step.get("embedded") == expect
                row["target"] = f"only that file ({expect} chunks): {'met' if ok else 'MISSED'}"
            if step.get("note"):
                row["note"] = step["note"]
            result.rows.append(row)
        result.details["steps"] = steps
        if not quick:
            from benchmarks.peers.langchain_stack import LangChainStack

            stack = LangChainStack(minilm_path())
            stack.embeddings.embed_query("warm up")
            log(f"reindex: LangChain peer full rebuild of {n_files} files")
            t1 = time.perf_counter()
            chunks = stack.ingest(files)
            secs = time.perf_counter() - t1
            for step in ("no change", "1 file changed"):
                result.rows.append({"system": "LangChain peer", "step": step, "files": n_files, "seconds": round(secs, 2),
                                    "chunks embedded": len(chunks), "note": "no incremental mode: full rebuild"})
    result.notes += [
        f"{n_files} Markdown files of 1-3 paragraphs each; embedding model: {model}"
        + (" (--quick: hashing, so the initial build takes seconds; no-op and one-file runs are what is measured)"
           if quick else " (same model as the peer)"),
        "API = KnowledgeBase.ingest in a process that already has the KB open and the model loaded; "
        "CLI = `zhida ingest FOLDER --kb NAME` in a new process (startup, imports and model load included).",
    ]
    result.seconds = time.perf_counter() - t0
    return result
