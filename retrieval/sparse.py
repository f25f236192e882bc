"""BM25 (Okapi, the rank-bm25 `BM25Okapi` formula) over precomputed term weights.

Every (term, doc) weight idf*tf*(k1+1)/(tf+k1*(1-b+b*dl/avgdl)) is computed once
at build time into a CSR matrix with one row per term, so a query is a sparse
row sum plus an argpartition: no per-document Python loop. Persisted as plain
.npy/.json files (bm25s style), never pickled.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import sparse

FORMAT_VERSION = 1


class BM25Index:
    def __init__(self, ids: np.ndarray, vocab: dict[str, int], weights: sparse.csr_matrix, k1: float, b: float,
                 epsilon: float):
        self.ids = ids
        self.vocab = vocab
        self.weights = weights  # (terms, docs)
        self.k1, self.b, self.epsilon = k1, b, epsilon

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]], k1: float = 1.5,
              b: float = 0.75, epsilon: float = 0.25) -> "BM25Index":
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(token_lists):
            raise ValueError("ids and documents differ in length")
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        doc_len = np.zeros(len(token_lists), dtype=np.float64)
        for d, toks in enumerate(token_lists):
            doc_len[d] = len(toks)
            for term, tf in Counter(toks).items():
                t = vocab.setdefault(term, len(vocab))
                rows.append(t)
                cols.append(d)
                tfs.append(tf)
        n_docs = len(token_lists)
        if not vocab or n_docs == 0:
            return cls(ids, vocab, sparse.csr_matrix((len(vocab), n_docs), dtype=np.float32), k1, b, epsilon)
        rows_a = np.asarray(rows, dtype=np.int64)
        cols_a = np.asarray(cols, dtype=np.int64)
        tf_a = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(rows_a, minlength=len(vocab)).astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        average_idf = float(idf.sum() / len(idf))
        # rank-bm25's floor for terms in more than half the documents; in a tiny corpus the average
        # idf itself can be <= 0, which would make every score non-positive, so the floor stays positive.
        floor = epsilon * average_idf if average_idf > 0 else epsilon
        idf = np.where(idf < 0, floor, idf)
        avgdl = float(doc_len.sum() / n_docs) or 1.0
        denom = tf_a + k1 * (1 - b + b * doc_len[cols_a] / avgdl)
        w = idf[rows_a] * tf_a * (k1 + 1) / denom
        weights = sparse.csr_matrix((w.astype(np.float32), (rows_a, cols_a)), shape=(len(vocab), n_docs))
        weights.sum_duplicates()
        return cls(ids, vocab, weights, k1, b, epsilon)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (rank-bm25's get_scores: repeated query terms count again)."""
        counts = Counter(t for t in query_tokens if t in self.vocab)
        out = np.zeros(len(self), dtype=np.float32)
        if not counts:
            return out
        rows = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64)
        mult = np.fromiter(counts.values(), dtype=np.float32)
        q = sparse.csr_matrix((mult, (np.zeros_like(rows), rows)), shape=(1, self.weights.shape[0]))
        return np.asarray((q @ self.weights).todense()).ravel().astype(np.float32)

    def search_tokens(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        s = self.scores(query_tokens)
        positive = np.flatnonzero(s > 0)
        if positive.size == 0:
            return []
        if positive.size > k:
            top = positive[np.argpartition(-s[positive], k - 1)[:k]]
        else:
            top = positive
        order = top[np.lexsort((self.ids[top], -s[top]))]
        return [(int(self.ids[i]), float(s[i])) for i in order]

    def search(self, query: str, k: int, tokenizer: Callable[[str], list[str]]) -> list[tuple[int, float]]:
        return self.search_tokens(tokenizer(query), k)

    # --- persistence: a folder of .npy + .json, written to a temp dir and renamed into place
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            np.save(tmp / "ids.npy", self.ids)
            np.save(tmp / "data.npy", self.weights.data)
            np.save(tmp / "indices.npy", self.weights.indices)
            np.save(tmp / "indptr.npy", self.weights.indptr)
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
            (tmp / "params.json").write_text(json.dumps({
                "format": FORMAT_VERSION, "k1": self.k1, "b": self.b, "epsilon": self.epsilon,
                "shape": list(self.weights.shape)}), encoding="utf-8")
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                if old.exists():
                    shutil.rmtree(old)
                os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = False) -> "BM25Index":
        folder = Path(folder)
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        if params.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown BM25 index format {params.get('format')}")
        mode = "r" if mmap else None
        ids = np.load(folder / "ids.npy", mmap_mode=mode)
        data = np.load(folder / "data.npy", mmap_mode=mode)
        indices = np.load(folder / "indices.npy", mmap_mode=mode)
        indptr = np.load(folder / "indptr.npy", mmap_mode=mode)
        shape = tuple(params["shape"])
        if indptr.shape[0] != shape[0] + 1 or ids.shape[0] != shape[1]:
            raise ValueError("BM25 index files are inconsistent (truncated?)")
        weights = sparse.csr_matrix((data, indices, indptr), shape=shape)
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return cls(np.asarray(ids), vocab, weights, params["k1"], params["b"], params["epsilon"])
