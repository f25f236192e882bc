"""Memory: peak RSS of building a knowledge base's caches and of `zhida serve` answering over them.

`python -m benchmarks memory --size N --json` prints exactly one object, last on stdout:
  {"size": N, "zhida": {"build_peak_rss_mib", "serve_peak_rss_mib", "vectors_mib", "bm25_mib"},
   "peer": {"peak_rss_mib", "rss_mib", "baseline_rss_mib", "with_bm25"} or null}

* The KB: a real kb.sqlite holding N synthetic chunks (benchmarks.corpus: real sentences, random fixed
  unit vectors, 384-d like all-MiniLM-L6-v2), written through knowledge.db once and cached (going
  through ingest would mean embedding N chunks).
* build: a fresh process opens that KB the way the app does, its cache folder removed, and builds its
  FAISS + BM25 caches (streaming kb.sqlite in batches; Zhida's tokenizer on every chunk text, memoised
  per distinct sentence: see SentenceMemoTokenizer; ZHIDA_BENCH_WHOLE_TOKENS=1 tokenises whole chunks);
  its VmHWM (peak resident set, /proc) is the figure. No embedding model is loaded: a build needs none.
* serve: `zhida serve` on that KB's home, one /api search per mode, the server's VmHWM (includes
  Python, torch and the embedding model: ~0.5-0.6 GiB before any index).
* vectors_mib / bm25_mib: the dense index file (what serve holds in memory) and the BM25 files a
  search maps (postings, ids, vocabulary; the term counts kept for the next incremental build are not
  read by searches).
* peer: a process building the LangChain stack (FAISS + rank-bm25) in memory over the same corpus and
  answering a query; rank-bm25 only up to 100k chunks (see query_latency), FAISS alone above.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import zhida_side
from benchmarks.common import REPO, Result, log, peak_rss_mib, rss_mib
from benchmarks.corpus import DIM, SyntheticCorpus, questions

MODES = ("dense", "sparse", "hybrid")
PEER_SPARSE_MAX = 100_000


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


class SentenceMemoTokenizer:
    """The KB's own tokenizer applied per sentence, each distinct sentence tokenised once.

    A synthetic chunk is 4-10 of ~22k distinct real sentences, each ending in 。！？; (where jieba nearly
    always cuts), so the tokens equal the whole-chunk tokens (checked on a sample in child_build: under
    1% differ, by a word joined across a boundary); tokenising
    300k chunks whole takes ~12 ms each on this shared 2-core machine (an hour). The memo's own memory
    counts in the measured peak, so the figure errs high. Same fingerprint: serve accepts the cache."""

    def __init__(self, tokenizer):
        from benchmarks.corpus import _SPLIT

        self._tok, self._split, self._memo = tokenizer, _SPLIT, {}
        self.fingerprint = getattr(tokenizer, "fingerprint", None)

    def __call__(self, text: str) -> list[str]:
        out: list[str] = []
        for part in self._split.split(text):
            toks = self._memo.get(part)
            if toks is None:
                toks = self._memo[part] = self._tok(part)
            out.extend(toks)
        return out


def child_build(home: str, name: str, memo: bool = True) -> None:
    """A fresh cache build of the KB in this process (cache folder removed first), then its peak RSS."""
    base = rss_mib()
    kb = zhida_side.catalog(Path(home)).open(name)
    shutil.rmtree(kb.path / "cache", ignore_errors=True)
    differ, sample = 0, []
    if memo:
        real = kb.tokenizer()
        kb._tokenizer = SentenceMemoTokenizer(real)
        sample = [r[0] for r in kb.conn.execute("SELECT text FROM chunks ORDER BY row_id LIMIT 500")]
        differ = sum(kb._tokenizer(t) != real(t) for t in sample)
        if differ > len(sample) // 20:  # jieba may join words across a boundary now and then; rarely
            raise SystemExit(f"per-sentence tokens differ from whole-chunk tokens on {differ} of {len(sample)} chunks")
    t0 = time.perf_counter()
    idx = kb.refresh_indexes()
    secs = time.perf_counter() - t0
    kind = type(idx.dense.cpu_index.index).__name__ if idx.dense is not None else None
    import faiss

    inner = faiss.downcast_index(idx.dense.cpu_index.index) if idx.dense is not None else None
    print(json.dumps({"peak_rss_mib": round(peak_rss_mib(), 1), "rss_mib": round(rss_mib(), 1),
                      "baseline_rss_mib": round(base, 1), "build_s": round(secs, 1), "chunks": idx.count,
                      "dense_index": type(inner).__name__ if inner is not None else kind,
                      "tokens": f"memoised per sentence ({differ} of {len(sample)} sampled chunks tokenise "
                                f"differently whole)" if memo else "whole chunks"}))


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


def _cache_files(home: Path, name: str) -> dict[str, int]:
    """Bytes of the KB's current dense file and of the BM25 files a search maps."""
    cache = home / "kbs" / name / "cache"
    stamp = json.loads((cache / "stamp.json").read_text(encoding="utf-8"))
    dense = (cache / stamp["dense"]).stat().st_size if stamp.get("dense") else 0
    bm25 = cache / stamp["sparse"]
    searched = sum(p.stat().st_size for p in bm25.iterdir() if not p.name.startswith(("tf_", "keys")))
    counts = sum(p.stat().st_size for p in bm25.iterdir() if p.name.startswith(("tf_", "keys")))
    return {"dense_bytes": dense, "bm25_bytes": searched, "bm25_term_counts_bytes": counts}


def measure(size: int, peer: bool = True) -> dict[str, Any]:
    """Every figure for one size: {"zhida": {...}, "peer": {...} | None, "details": {...}}."""
    corpus = SyntheticCorpus(size)
    home, name = zhida_side.synthetic_kb(corpus, log=log, build_caches=False)
    log(f"memory: fresh cache build of {size:,} chunks in its own process")
    build = _run_child(["--build-child", str(home), name])
    files = _cache_files(home, name)
    serve = zhida_side.serve_peak_rss(home, name, log=log) or {"note": "zhida serve not available"}
    zhida = {"build_peak_rss_mib": build["peak_rss_mib"], "serve_peak_rss_mib": serve.get("peak_rss_mib"),
             "vectors_mib": round(files["dense_bytes"] / 2**20, 1), "bm25_mib": round(files["bm25_bytes"] / 2**20, 1)}
    peer_out = None
    if peer:
        with_sparse = size <= PEER_SPARSE_MAX
        log(f"memory: LangChain peer holding {size:,} chunks ({'FAISS + BM25' if with_sparse else 'FAISS only'})")
        try:
            peer_out = _run_child(["--peer-child", str(size), "1" if with_sparse else "0"])
            peer_out["with_bm25"] = with_sparse
        except Exception as exc:
            peer_out = {"peak_rss_mib": None, "note": f"failed: {exc}"}
    return {"zhida": zhida, "peer": peer_out, "details": {"build": build, "serve": serve, "files": files}}


def single_size_json(size: int, peer: bool = True) -> dict[str, Any]:
    """The exact shape `python -m benchmarks memory --size N --json` prints."""
    m = measure(size, peer)
    p = m["peer"]
    log(json.dumps(m["details"]))
    return {"size": size, "zhida": m["zhida"],
            "peer": None if p is None else {k: p.get(k) for k in ("peak_rss_mib", "rss_mib", "baseline_rss_mib",
                                                                   "with_bm25")}}


def run(quick: bool = False, size: int | None = None, peer: bool = True) -> Result:
    size = size or (100_000 if quick else 1_000_000)
    result = Result("memory", quick, columns=["system", "chunks", "process", "peak RSS MiB", "baseline RSS MiB",
                                              "seconds", "vectors MiB", "BM25 MiB", "goal"])
    t0 = time.perf_counter()
    m = measure(size, peer)
    z, d = m["zhida"], m["details"]
    goals = {300_000: (1600, 1300), 1_000_000: (4096, 3072)}.get(size)
    result.details.update(m)
    result.rows.append({"system": "Zhida", "chunks": f"{size:,}", "process": "fresh cache build (own process)",
                        "peak RSS MiB": z["build_peak_rss_mib"], "baseline RSS MiB": d["build"]["baseline_rss_mib"],
                        "seconds": d["build"]["build_s"], "vectors MiB": z["vectors_mib"], "BM25 MiB": z["bm25_mib"],
                        "goal": f"<= {goals[0]}: {'met' if z['build_peak_rss_mib'] <= goals[0] else 'MISSED'}"
                        if goals else None})
    result.rows.append({"system": "Zhida", "chunks": f"{size:,}", "process": "zhida serve + /api search per mode",
                        "peak RSS MiB": z["serve_peak_rss_mib"], "baseline RSS MiB": d["serve"].get("rss_after_start_mib"),
                        "seconds": d["serve"].get("startup_s"), "vectors MiB": z["vectors_mib"],
                        "BM25 MiB": z["bm25_mib"], "note": d["serve"].get("note"),
                        "goal": f"<= {goals[1]}: {'met' if (z['serve_peak_rss_mib'] or 1e9) <= goals[1] else 'MISSED'}"
                        if goals else None})
    if m["peer"] is not None:
        p = m["peer"]
        result.rows.append({"system": "LangChain peer", "chunks": f"{size:,}",
                            "process": "build in memory + query" + ("" if p.get("with_bm25") else " (FAISS only)"),
                            "peak RSS MiB": p.get("peak_rss_mib"), "baseline RSS MiB": p.get("baseline_rss_mib"),
                            "seconds": p.get("wall_s"), "vectors MiB": round(size * DIM * 4 / 2**20, 1),
                            "note": p.get("note")})
    result.notes += [
        "peak RSS = VmHWM of the measuring process; baseline = its RSS before any index (serve: after start-up, "
        "model loaded).",
        "vectors MiB = the dense index file serve holds (flat float32 below the HNSW threshold, HNSW fp16 at or "
        f"above); float32 would be chunks x {DIM} x 4 bytes. BM25 MiB = the files a search memory-maps.",
        "Synthetic corpus: ~300-character chunks of real sentences; vectors random-but-fixed unit vectors.",
    ]
    result.seconds = time.perf_counter() - t0
    return result


if __name__ == "__main__":
    if sys.argv[1] == "--build-child":
        child_build(sys.argv[2], sys.argv[3], memo=os.environ.get("ZHIDA_BENCH_WHOLE_TOKENS") != "1")
    elif sys.argv[1] == "--peer-child":
        child_peer(int(sys.argv[2]), sys.argv[3] == "1")
    else:
        raise SystemExit("internal entry point of benchmarks.memory")
