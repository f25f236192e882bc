"""Derived FAISS and BM25 caches beside kb.sqlite, stamped with the generation
of the SQLite state they were built from.

Layout: cache/stamp.json -> {"generation": g, "dense": "dense-g.faiss", "sparse": "bm25-g", "count": n}.
The index files are written first under generation-specific names, the stamp
last (atomically), so a crash leaves either the old complete set or the new
one. A stamp that is stale, or files that fail to load (truncated), mean a
rebuild from SQLite, where the vectors are stored: nothing is re-embedded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval import BM25Index, DenseIndex, DenseSettings
from retrieval.dense import DenseBuilder, layout_of, planned_layout
from retrieval.sparse import B as BM25_B
from retrieval.sparse import K1 as BM25_K1
from retrieval.sparse import BM25Builder, TermCounts

log = logging.getLogger(__name__)


@dataclass
class Indexes:
    generation: int
    dense: DenseIndex | None
    sparse: BM25Index
    count: int


def index_text(text: str, heading_json: str) -> str:
    """What BM25 sees: the heading path (context the chunk text lacks) and the text."""
    heading = " ".join(json.loads(heading_json or "[]"))
    return f"{heading}\n{text}" if heading else text


BATCH_ROWS = 8192  # rows read from SQLite at a time: the build never holds every chunk's text or vector


def _stream(conn: sqlite3.Connection, cache_dir: Path, dim: int, tokenizer, dense_settings: DenseSettings):
    """One read transaction: the generation, then every chunk in row-id order, batch by batch, into a
    DenseBuilder (vectors) and a BM25Builder (term counts, carried over where the text is unchanged).
    Memory is the indexes being built plus one batch, not a copy of the table."""
    token_key = getattr(tokenizer, "fingerprint", None)
    previous = _previous_counts(cache_dir, token_key)
    conn.execute("BEGIN")
    try:
        gen = int(conn.execute("SELECT value FROM manifest WHERE key='generation'").fetchone()["value"])
        count = int(conn.execute("SELECT COUNT(*) AS n FROM chunks").fetchone()["n"])
        dense = DenseBuilder(dim, count, dense_settings) if count else None
        sparse = BM25Builder(previous)
        cur = conn.execute("SELECT row_id, text, heading_path, vector FROM chunks ORDER BY row_id")
        n = 0
        while True:
            rows = cur.fetchmany(BATCH_ROWS)
            if not rows:
                break
            n += len(rows)
            ids = np.fromiter((r["row_id"] for r in rows), dtype=np.int64, count=len(rows))
            texts = [index_text(r["text"], r["heading_path"]) for r in rows]
            keys = np.fromiter((_text_key(t) for t in texts), dtype=np.int64, count=len(texts))
            if dense is not None:
                dense.add(ids, np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32).reshape(-1, dim))
            sparse.add(ids, keys, lambda j, texts=texts: tokenizer(texts[j]))
            del rows, texts
    finally:
        conn.execute("COMMIT")
    log.debug("BM25: tokenised %d of %d chunks (the rest carried over)", sparse.tokenised, n)
    return gen, n, (dense.finish() if dense is not None and n else None), sparse.finish()


def _write_stamp(cache_dir: Path, stamp: dict) -> None:
    tmp = cache_dir / f".stamp.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, cache_dir / "stamp.json")


def _sizes(cache_dir: Path, names) -> dict[str, int]:
    """Byte size of every file of the named index files/folders: a cheap check that nothing was cut short."""
    out: dict[str, int] = {}
    for name in names:
        p = cache_dir / name
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f.relative_to(cache_dir))] = f.stat().st_size
    return out


def _cleanup(cache_dir: Path, keep: set[str]) -> None:
    for entry in cache_dir.iterdir():
        if entry.name in keep or entry.name == "stamp.json":
            continue
        if entry.name.startswith(("dense-", "bm25-", ".")):
            try:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            except OSError:
                pass


def build(conn: sqlite3.Connection, cache_dir: Path, dim: int, tokenizer, dense_settings: DenseSettings) -> Indexes:
    """The indexes for the committed state, written to cache_dir when the disk lets us. The caches are
    derived, so a full or read-only disk costs only the next load: this process answers from memory."""
    gen, n, dense, sparse = _stream(conn, cache_dir, dim, tokenizer, dense_settings)
    token_key = getattr(tokenizer, "fingerprint", None)
    dense_name, sparse_name = f"dense-{gen}.faiss", f"bm25-{gen}"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if dense is not None:
            dense.save(cache_dir / dense_name)
        sparse.save(cache_dir / sparse_name)
        names = [sparse_name] + ([dense_name] if dense is not None else [])
        _write_stamp(cache_dir, {"generation": gen, "dense": dense_name if dense is not None else None,
                                 "sparse": sparse_name, "count": n, "dim": dim, "tokenizer": token_key,
                                 "sizes": _sizes(cache_dir, names)})
        _cleanup(cache_dir, {dense_name, sparse_name})
        try:  # answer from the memory-mapped files just written: the built arrays' memory goes back
            sparse = BM25Index.load(cache_dir / sparse_name)
        except (OSError, ValueError) as exc:
            log.warning("could not map the BM25 cache just written (%s); answering from memory", exc)
    except (OSError, RuntimeError) as exc:  # a read-only or full disk (or FAISS refusing) still answers from memory
        log.warning("could not write index caches in %s (%s); answering from memory, they are rebuilt on the "
                    "next start", cache_dir, exc)
    sparse.counts = None  # only the next build needs them, and it reads them from disk
    return Indexes(gen, dense, sparse, n)


def _text_key(text: str) -> int:
    """64 bits of the text's hash: a chunk whose row id and key both match reuses its saved term counts."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def _previous_counts(cache_dir: Path, token_key: str | None) -> TermCounts | None:
    """Term counts saved by the last complete build, if that build tokenised the same way and its
    files are whole; they spare re-tokenising every chunk that did not change."""
    if token_key is None:
        return None
    try:
        stamp = json.loads((cache_dir / "stamp.json").read_text(encoding="utf-8"))
        if stamp.get("tokenizer") != token_key or not stamp.get("sparse"):
            return None
        sparse_name = stamp["sparse"]
        if "sizes" in stamp and _sizes(cache_dir, [sparse_name]) != {
                k: v for k, v in stamp["sizes"].items() if k.startswith(sparse_name + os.sep)}:
            return None
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return TermCounts.load(cache_dir / sparse_name)


def stamped_with(cache_dir: Path, generation: int) -> bool:
    """Whether cache files were written for this generation (cheap: reads the stamp, loads nothing).

    A no-op re-index uses it to skip loading a large FAISS/BM25 cache it would only throw away;
    a damaged cache behind a good stamp is still caught by load() at the next query.
    """
    try:
        return json.loads((cache_dir / "stamp.json").read_text(encoding="utf-8")).get("generation") == generation
    except (OSError, ValueError, AttributeError):
        return False


def load(cache_dir: Path, expected_generation: int, dense_settings: DenseSettings,
         tokenizer=None) -> Indexes | None:
    """The cached indexes if they match the generation (and, given a tokenizer, were tokenised the way it
    tokenises: a new jieba dictionary or stemmer makes old BM25 terms unreachable by new queries) and
    load cleanly, else None."""
    stamp_path = cache_dir / "stamp.json"
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("generation") != expected_generation:
        return None
    token_key = getattr(tokenizer, "fingerprint", None)
    if token_key is not None and stamp.get("tokenizer") != token_key:
        log.info("BM25 cache in %s was tokenised differently; rebuilding", cache_dir)
        return None
    try:
        names = [stamp["sparse"]] + ([stamp["dense"]] if stamp.get("dense") else [])
        if "sizes" in stamp and _sizes(cache_dir, names) != stamp["sizes"]:
            log.warning("index cache files in %s are not the size their stamp says (cut short?); rebuilding",
                        cache_dir)
            return None
    except (OSError, KeyError, TypeError) as exc:
        log.warning("index cache in %s is incomplete (%s); rebuilding from kb.sqlite", cache_dir, exc)
        return None
    try:
        sparse = BM25Index.load(cache_dir / stamp["sparse"])  # memory-mapped: cheap, so it is checked first
        if (sparse.k1, sparse.b) != (BM25_K1, BM25_B):  # weighted under older BM25 parameters
            log.info("BM25 cache in %s was weighted with k1 %s, b %s; rebuilding with k1 %s, b %s (term counts "
                     "reused, nothing re-tokenised)", cache_dir, sparse.k1, sparse.b, BM25_K1, BM25_B)
            return None
        dense = DenseIndex.load(cache_dir / stamp["dense"], dense_settings) if stamp.get("dense") else None
    except Exception as exc:  # truncated or corrupt cache: rebuild, never serve it
        log.warning("index cache in %s is unreadable (%s); rebuilding from kb.sqlite", cache_dir, exc)
        return None
    count = int(stamp.get("count", -1))
    if len(sparse) != count or (dense is not None and len(dense) != count) or (dense is None and count):
        log.warning("index cache in %s does not match its stamp; rebuilding", cache_dir)
        return None
    if dense is not None:
        built, wanted = layout_of(dense.cpu_index), planned_layout(count, dense_settings)
        if built != wanted:  # the settings choosing flat/HNSW and its vector storage changed since the build
            log.info("vector index in %s is %s, the settings ask for %s; rebuilding it from kb.sqlite (no "
                     "re-embedding)", cache_dir, built, wanted)
            return None
    return Indexes(expected_generation, dense, sparse, count)
