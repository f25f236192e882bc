"""The one place the benchmarks touch Zhida's own APIs (retrieval, knowledge, CLI).

Everything else in benchmarks/ goes through these functions, so an API rename
is a one-file change here. A piece that is not importable yet raises NotReady
and the benchmark reports "not run (reason)" instead of crashing.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.common import ZHIDA_MODEL

BENCH_MODEL = ZHIDA_MODEL


class NotReady(RuntimeError):
    """A Zhida API the benchmark needs is missing."""


def _need(module: str, *names: str):
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise NotReady(f"{module} not importable: {exc}") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise NotReady(f"{module} lacks {', '.join(missing)}")
    return mod


_EMBEDDERS: dict[str, Any] = {}


def embedder(name: str = BENCH_MODEL):
    if name not in _EMBEDDERS:
        retrieval = _need("retrieval", "load_embedder")
        _EMBEDDERS[name] = retrieval.load_embedder(name)
    return _EMBEDDERS[name]


def eval_command(folder: Path, limit: int | None, modes: Sequence[str]) -> list[str]:
    cmd = [str(Path(sys.executable).with_name("zhida")), "eval", str(folder), "--embedding", BENCH_MODEL, "--json"]
    for m in modes:
        cmd += ["--mode", m]
    if limit:
        cmd += ["--limit", str(limit)]
    return cmd


def _vm_hwm_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_peak_rss(home: Path, kb_name: str, log: Callable[[str], None] = print, timeout: float = 900,
                   command: Sequence[str] | None = None, cwd: Path | None = None) -> dict[str, Any] | None:
    """Start `zhida serve` on the KB's home, search once per mode over HTTP, read the server's VmHWM.

    By default the server is this checkout's code (`python -m app.cli serve` from the repository), not
    whatever the installed `zhida` script points at; `command`/`cwd` run another (a baseline checkout)."""
    import os
    import subprocess
    import time

    from benchmarks.common import REPO

    command = list(command or [sys.executable, "-m", "app.cli"])
    try:
        import httpx
    except ImportError:
        return None
    port = _free_port()
    env = dict(os.environ, ZHIDA_HOME=str(home))
    log(f"memory: starting `zhida serve --port {port}` on {home}")
    proc = subprocess.Popen([*command, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=str(cwd or REPO))
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        while True:
            if proc.poll() is not None:
                err = (proc.stderr.read() or "").strip().splitlines()[-1:] if proc.stderr else []
                return {"note": f"zhida serve exited {proc.returncode}: {err}"}
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 120:
                return {"note": "zhida serve did not answer /health within 120 s"}
            time.sleep(0.5)
        out["startup_s"] = round(time.perf_counter() - t0, 1)
        out["rss_after_start_mib"] = round(_vm_hwm_mib(proc.pid) or 0, 1)
        timings = {}
        for mode in ("dense", "sparse", "hybrid"):
            t1 = time.perf_counter()
            r = httpx.post(f"{base}/api/kbs/{kb_name}/search", json={"query": "中国的首都是哪里？", "k": 5, "mode": mode},
                           timeout=timeout)
            timings[mode] = round((time.perf_counter() - t1) * 1000, 1)
            if r.status_code != 200:
                out["note"] = f"search {mode} returned HTTP {r.status_code}: {r.text[:200]}"
                break
        out["first_search_ms"] = timings
        out["peak_rss_mib"] = round(_vm_hwm_mib(proc.pid) or 0, 1)
        try:
            import psutil

            out["rss_mib"] = round(psutil.Process(proc.pid).memory_info().rss / 2**20, 1)
        except Exception:
            pass
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()



# --- query settings exactly as the app resolves them (config defaults + $ZHIDA_HOME/config.yaml) ----

def query_settings():
    from app.config import load_settings
    from app.services import query_settings as qs

    return qs(load_settings())


class SyntheticRetriever:
    """Zhida's retrieval stack over a synthetic corpus: DenseIndex + BM25Index + HybridRetriever,
    called with the app's query settings (candidates, fusion, weights), as KnowledgeBase.search does."""

    def __init__(self, embedder, dense, sparse, tokenizer, q):
        from retrieval import HybridRetriever

        self.embedder = embedder
        self.q = q
        self.retriever = HybridRetriever(embedder, dense, sparse, tokenizer=tokenizer)

    def search(self, query: str, mode: str, k: int = 5, timings: dict | None = None):
        q = self.q
        return self.retriever.search(query, k=k, mode=mode, candidates=q.candidates, fusion=q.fusion, rrf_k=q.rrf_k,
                                     dense_weight=q.dense_weight, timings=timings)

    def with_embedder(self, embedder) -> "SyntheticRetriever":
        """The same indexes searched with another query embedder (its own vectors are not re-indexed: the
        synthetic corpus's vectors are random, so only the embedder's cost changes)."""
        return SyntheticRetriever(embedder, self.retriever.dense, self.retriever.sparse, self.retriever.tokenizer,
                                  self.q)


def row_fetcher(corpus, log: Callable[[str], None] = print):
    """`fetch(ids)`: the cited rows of synthetic chunks `ids` read from the synthetic KB's kb.sqlite in one
    query, as KnowledgeBase.search reads them (knowledge.db.chunk_rows); the KB is written once if missing."""
    from knowledge import db

    home, name = synthetic_kb(corpus, log=log, build_caches=False)
    conn = db.connect(home / "kbs" / name / "kb.sqlite", create=False)

    def fetch(ids):
        return db.chunk_rows(conn, [int(i) + 1 for i in ids])  # row ids count from 1, corpus ids from 0
    return fetch


_ZH_SENT_TOKENS: dict[int, list] = {}


def zhida_sentence_tokens(log: Callable[[str], None] = print) -> list[list[str]]:
    """Zhida's Tokenizer (t2s folding + jieba search mode + stopwords) on every distinct sentence, cached."""
    import json

    from benchmarks.common import cache_dir
    from benchmarks.corpus import sentences

    n = len(sentences())
    if n in _ZH_SENT_TOKENS:
        return _ZH_SENT_TOKENS[n]
    path = cache_dir() / f"zhida-sentence-tokens-{n}.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        from retrieval.tokenize import shared_tokenizer

        log(f"tokenising {n:,} distinct sentences with Zhida's Tokenizer (cached in {path.parent})")
        tok = shared_tokenizer()
        data = [tok(s) for s in sentences()]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    _ZH_SENT_TOKENS[n] = data
    return data


def _storage_key() -> str:
    """How DenseIndex stores vectors (part of the cached index folder's name, so a change rebuilds it)."""
    from retrieval import DenseSettings

    d = DenseSettings()
    return f"f{d.flat_fp16_from}-{d.hnsw_storage}"


def synthetic_indexes(corpus, log: Callable[[str], None] = print):
    """(DenseIndex, BM25Index) over the synthetic corpus, built once and cached with their own save/load."""
    import time

    import numpy as np

    from benchmarks.common import cache_dir

    retrieval = _need("retrieval", "DenseIndex", "DenseSettings", "BM25Index", "HybridRetriever")
    q = query_settings()
    folder = cache_dir() / f"zhida-indexes-{corpus.size}-s{corpus.seed}-h{q.hnsw_threshold}-{_storage_key()}"
    dense_file, bm25_dir = folder / "dense.faiss", folder / "bm25"
    settings = retrieval.DenseSettings(hnsw_threshold=q.hnsw_threshold)
    if dense_file.exists() and (bm25_dir / "params.json").exists():
        return retrieval.DenseIndex.load(dense_file, settings), retrieval.BM25Index.load(bm25_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.arange(corpus.size, dtype=np.int64)
    t0 = time.perf_counter()
    log(f"zhida: building DenseIndex over {corpus.size:,} vectors "
        f"({'HNSW' if corpus.size >= q.hnsw_threshold else 'flat'}; cached in {folder})")
    dense = retrieval.DenseIndex.build(ids, corpus.vectors(), settings)
    dense.save(dense_file)
    t1 = time.perf_counter()
    sent = zhida_sentence_tokens(log)
    log(f"zhida: building BM25Index over {corpus.size:,} chunks (dense took {t1 - t0:.0f} s)")
    token_lists = []
    for i in range(corpus.size):
        toks: list[str] = []
        for j in corpus.picks[i, : corpus.counts[i]]:
            toks.extend(sent[j])
        token_lists.append(toks)
    sparse = retrieval.BM25Index.build(ids, token_lists)
    del token_lists
    sparse.save(bm25_dir)
    log(f"zhida: BM25 took {time.perf_counter() - t1:.0f} s")
    return dense, sparse


def synthetic_retriever(corpus, log: Callable[[str], None] = print) -> SyntheticRetriever:
    dense, sparse = synthetic_indexes(corpus, log)
    from retrieval.tokenize import shared_tokenizer

    q = query_settings()
    tok = shared_tokenizer(q.jieba_user_dict)
    emb = embedder(BENCH_MODEL)
    emb.embed_query("warm up")
    tok("预热")
    return SyntheticRetriever(emb, dense, sparse, tok, q)


def synthetic_index_bytes(corpus) -> dict[str, int]:
    from benchmarks.common import cache_dir

    q = query_settings()
    folder = cache_dir() / f"zhida-indexes-{corpus.size}-s{corpus.seed}-h{q.hnsw_threshold}-{_storage_key()}"
    # postings = what a search loads; the saved term counts (tf_*, keys) are read only by the next rebuild
    files = list((folder / "bm25").iterdir()) if (folder / "bm25").exists() else []
    bm25 = sum(p.stat().st_size for p in files if not p.name.startswith(("tf_", "keys")))
    counts = sum(p.stat().st_size for p in files if p.name.startswith(("tf_", "keys")))
    dense = (folder / "dense.faiss").stat().st_size if (folder / "dense.faiss").exists() else 0
    return {"bm25_bytes": bm25, "bm25_term_counts_bytes": counts, "dense_file_bytes": dense, "folder": str(folder)}


# --- knowledge bases ----------------------------------------------------------------------------------

def catalog(home: Path):
    """A Catalog wired the way the app wires it (app.services), on a given ZHIDA_HOME."""
    _need("knowledge", "Catalog")
    from app import services
    from app.config import load_settings

    settings = load_settings(home=Path(home))
    return services.catalog(settings, home=Path(home))


def ingest_files(home: Path, files: Sequence[Path], model: str = BENCH_MODEL, log: Callable[[str], None] = print
                 ) -> dict[str, Any]:
    """Create a KB with `model`, load the model (untimed, like the peer), time kb.ingest(files)."""
    import gc
    import time

    cat = catalog(home)
    kb = cat.create("bench", embedding_model=model)
    kb.embedder().embed_query("warm up")  # the model is cached process-wide by app.services
    kb.tokenizer()("预热")
    gc.collect()
    t0 = time.perf_counter()
    report = kb.ingest([str(f) for f in files])
    secs = time.perf_counter() - t0
    texts = [r[0] for r in kb.conn.execute("SELECT text FROM chunks ORDER BY row_id")]
    from knowledge.syncing import _embed_text  # what Zhida actually embeds for a chunk (text + heading)
    try:
        rows = list(kb.conn.execute("SELECT * FROM chunks ORDER BY row_id"))
        embed_texts = [_embed_text(_RowChunk(r)) for r in rows]
    except Exception:
        embed_texts = texts
    out = {"seconds": secs, "chunk_texts": embed_texts, "embedded": report.embedded_chunks,
           "failed": report.count("failed"), "summary": report.summary(),
           "failures": [(f.path, f.reason) for f in report.files if f.status == "failed"]}
    kb.close()
    return out


class _RowChunk:
    """Adapter so knowledge.syncing._embed_text can read a chunks row (text + heading path)."""

    def __init__(self, row):
        import json

        self.text = row["text"]
        hp = row["heading_path"] if "heading_path" in row.keys() else None
        self.heading_path = tuple(json.loads(hp or "[]"))


def open_kb(home: Path, name: str):
    kb = catalog(home).open(name)
    kb.refresh_indexes()
    return kb


def kb_search(handle, query: str, mode: str, k: int = 5):
    return handle.search(query, k=k, mode=mode)


def cli(args: Sequence[str], home: Path, env_extra: dict | None = None) -> tuple[int, str, str, float]:
    import os
    import subprocess
    import time

    zhida = str(Path(sys.executable).with_name("zhida"))
    env = dict(os.environ, ZHIDA_HOME=str(home), **(env_extra or {}))
    t0 = time.perf_counter()
    proc = subprocess.run([zhida, *args], capture_output=True, text=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0


def reindex_steps(home: Path, folder: Path, files: Sequence[Path], model: str = BENCH_MODEL,
                  log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    import json
    import time

    steps: list[dict[str, Any]] = []
    cat = catalog(home)
    kb = cat.create("notes", embedding_model=model)
    kb.embedder().embed_query("warm up")
    log(f"reindex: initial ingest of {len(files)} files ({model})")
    t0 = time.perf_counter()
    rep = kb.ingest([str(folder)])
    steps.append({"via": "API", "step": "initial build", "seconds": time.perf_counter() - t0,
                  "embedded": rep.embedded_chunks})
    t0 = time.perf_counter()
    rep = kb.ingest([str(folder)])
    steps.append({"via": "API", "step": "no change", "seconds": time.perf_counter() - t0,
                  "embedded": rep.embedded_chunks, "summary": rep.summary()})
    # change one file: one more paragraph at the end
    target = files[len(files) // 2]
    target.write_text(target.read_text(encoding="utf-8") + "\n\n补充说明：这一段是在重新索引测试中新增的内容。\n",
                      encoding="utf-8")
    t0 = time.perf_counter()
    rep = kb.ingest([str(folder)])
    secs = time.perf_counter() - t0
    expected = next((f.chunks for f in rep.files if Path(f.path).name == target.name), None)
    steps.append({"via": "API", "step": "1 file changed", "seconds": secs, "embedded": rep.embedded_chunks,
                  "expected_chunks": expected, "summary": rep.summary()})
    kb.close()
    # the same as a user runs it: a fresh `zhida ingest` process
    rc, out, err, secs = cli(["ingest", str(folder), "--kb", "notes", "--json"], home)
    step = {"via": "CLI", "step": "no change", "seconds": secs}
    if rc == 0:
        try:
            step["embedded"] = json.loads(out).get("embedded_chunks")
        except (ValueError, AttributeError):
            pass
    else:
        step["note"] = f"exit {rc}: {err.strip().splitlines()[-1:] if err else ''}"
    steps.append(step)
    target.write_text(target.read_text(encoding="utf-8") + "\n再补充一句。\n", encoding="utf-8")
    rc, out, err, secs = cli(["ingest", str(folder), "--kb", "notes", "--json"], home)
    step = {"via": "CLI", "step": "1 file changed", "seconds": secs}
    if rc == 0:
        try:
            data = json.loads(out)
            step["embedded"] = data.get("embedded_chunks")
            step["expected_chunks"] = next((f.get("chunks") for f in data.get("files", [])
                                            if Path(str(f.get("path"))).name == target.name), None)
        except (ValueError, AttributeError):
            pass
    else:
        step["note"] = f"exit {rc}: {err.strip().splitlines()[-1:] if err else ''}"
    steps.append(step)
    return steps


def synthetic_kb(corpus, log: Callable[[str], None] = print, per_doc: int = 100, build_caches: bool = True
                 ) -> tuple[Path, str]:
    """A real knowledge base (kb.sqlite + its own FAISS/BM25 caches) holding the synthetic corpus.

    Chunks go into kb.sqlite through knowledge.db, `per_doc` chunks per document, with the corpus's
    random-but-fixed vectors (embedding 1M chunks would take ~16 h here); then the KB builds its
    caches itself (Zhida's tokenizer on every chunk text). Built once, cached; returns (ZHIDA_HOME, name).
    """
    import time
    from types import SimpleNamespace

    from benchmarks.common import cache_dir

    _need("knowledge", "Catalog")
    from knowledge import db

    home = cache_dir() / f"kb-home-{corpus.size}-s{corpus.seed}"
    name = "synthetic"
    done, written = home / ".complete", home / ".sqlite-complete"
    if done.exists() or (written.exists() and not build_caches):
        return home, name
    if written.exists():
        return _build_kb_caches(home, name, done, log)
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cat = catalog(home)
    kb = cat.create(name, embedding_model=BENCH_MODEL)
    t0 = time.perf_counter()
    log(f"zhida: writing {corpus.size:,} synthetic chunks into {home}/kbs/{name}/kb.sqlite (cached)")
    with db.transaction(kb.conn, bump=False):
        db.set_manifest(kb.conn, "dim", int(corpus.vectors(0, 1).shape[1]))
        db.set_manifest(kb.conn, "normalized", True)
    block, block_start = None, -1
    for start in range(0, corpus.size, per_doc):
        stop = min(start + per_doc, corpus.size)
        if block is None or stop > block_start + len(block):  # vectors() makes 65,536 at a time: slice those
            block_start = start
            block = corpus.vectors(start, min(start + 65_536, corpus.size))
        chunks = [SimpleNamespace(id=f"syn-{i}", position=i - start, text=corpus.text(i), page=None, page_end=None,
                                  heading_path=(), section_index=0, char_start=None, char_end=None, kind="text")
                  for i in range(start, stop)]
        with db.transaction(kb.conn, bump=stop >= corpus.size):
            doc_id = db.upsert_document(kb.conn, path=f"/synthetic/doc-{start // per_doc:06d}.txt",
                                        name=f"doc-{start // per_doc:06d}.txt", root="/synthetic", sha256=None,
                                        size=None, mtime=None, status="ok", fmt="txt", chunks=len(chunks))
            db.replace_chunks(kb.conn, doc_id, chunks, block[start - block_start:stop - block_start])
    kb.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kb.close()
    written.write_text("ok", encoding="utf-8")
    log(f"zhida: chunks written in {time.perf_counter() - t0:.0f} s")
    if not build_caches:
        return home, name
    return _build_kb_caches(home, name, done, log)


def _build_kb_caches(home: Path, name: str, done: Path, log: Callable[[str], None]) -> tuple[Path, str]:
    """The KB's own FAISS + BM25 caches (what its first search would build), then the completion mark."""
    import time

    t1 = time.perf_counter()
    log("zhida: building the KB's FAISS + BM25 caches")
    kb = catalog(home).open(name)
    kb.refresh_indexes()
    kb.close()
    log(f"zhida: caches built in {time.perf_counter() - t1:.0f} s")
    done.write_text("ok", encoding="utf-8")
    return home, name
