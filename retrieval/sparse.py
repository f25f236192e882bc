"""BM25 (Okapi, the rank-bm25 `BM25Okapi` formula) over precomputed term weights.

One deliberate difference: a term in exactly half the documents (idf 0, which rank-bm25 keeps) gets
the same positive floor as terms in more than half, or a 2-chunk KB could never match anything.

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
from typing import Callable, Collection, Sequence

import numpy as np
from scipy import sparse

FORMAT_VERSION = 1


def _count_rows(token_lists: Sequence[Sequence[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    """(documents, terms) raw term counts; new terms are added to `vocab`.

    Built row by row into typed arrays: Python lists of ints cost ~100 bytes an entry, which at
    1M chunks (~150M postings) is more memory than the machine has."""
    from array import array

    cols, tfs = array("i"), array("i")
    indptr = np.zeros(len(token_lists) + 1, dtype=np.int64)
    for d, toks in enumerate(token_lists):
        counts = Counter(toks)
        cols.extend(vocab.setdefault(term, len(vocab)) for term in counts)
        tfs.extend(counts.values())
        indptr[d + 1] = len(cols)
    tf = sparse.csr_matrix((np.frombuffer(tfs, dtype=np.int32) if tfs else np.zeros(0, np.int32),
                            np.frombuffer(cols, dtype=np.int32) if cols else np.zeros(0, np.int32), indptr),
                           shape=(len(token_lists), len(vocab)))
    tf.sum_duplicates()
    return tf


class TermCounts:
    """Raw term counts per document plus a caller's key per document (e.g. a checksum of its text),
    saved beside the BM25 weights: what lets the next build skip re-tokenising unchanged documents."""

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], tf: sparse.csr_matrix, keys: np.ndarray):
        self.ids, self.vocab, self.tf, self.keys = ids, vocab, tf, keys

    @classmethod
    def of(cls, ids: np.ndarray, vocab: dict[str, int], tf: sparse.csr_matrix, keys: np.ndarray | None
           ) -> "TermCounts":
        keys = np.zeros(len(ids), dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
        if len(keys) != len(ids):
            raise ValueError("ids and keys differ in length")
        return cls(np.asarray(ids, dtype=np.int64), vocab, tf.tocsr(), keys)

    def pruned(self) -> "TermCounts":
        used = np.flatnonzero(np.bincount(self.tf.indices, minlength=self.tf.shape[1]) > 0) \
            if self.tf.nnz else np.zeros(0, dtype=np.int64)
        if len(used) == len(self.vocab):
            return self
        remap = np.full(self.tf.shape[1], -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        vocab = {terms[t]: i for i, t in enumerate(used)}
        tf = sparse.csr_matrix((self.tf.data, remap[self.tf.indices], self.tf.indptr), shape=(self.tf.shape[0], len(used)))
        return TermCounts(self.ids, vocab, tf, self.keys)

    def save(self, folder: Path) -> None:
        data = self.tf.data
        small = data.size == 0 or int(data.max()) < 65536
        np.save(folder / "tf_data.npy", data.astype(np.uint16 if small else np.int32))  # counts are small
        np.save(folder / "tf_indices.npy", self.tf.indices.astype(np.int32))
        np.save(folder / "tf_indptr.npy", self.tf.indptr.astype(np.int64))
        np.save(folder / "keys.npy", self.keys)

    @classmethod
    def load(cls, folder: str | Path) -> "TermCounts | None":
        """The counts saved with a BM25 index folder, or None (older cache, damaged files)."""
        folder = Path(folder)
        try:
            ids = np.load(folder / "ids.npy")
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            indptr = np.load(folder / "tf_indptr.npy")
            tf = sparse.csr_matrix((np.load(folder / "tf_data.npy"), np.load(folder / "tf_indices.npy"), indptr),
                                   shape=(len(ids), len(vocab)))
            keys = np.load(folder / "keys.npy")
        except (OSError, ValueError, KeyError):
            return None
        if len(keys) != len(ids) or indptr.shape[0] != len(ids) + 1:
            return None
        return cls(ids, vocab, tf, keys)


class BM25Index:
    def __init__(self, ids: np.ndarray, vocab: dict[str, int], weights: sparse.csr_matrix, k1: float, b: float,
                 epsilon: float, counts: "TermCounts | None" = None):
        self.ids = ids
        self.vocab = vocab
        self.weights = weights  # (terms, docs)
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.counts = counts  # raw term counts, kept so the next build re-tokenises only new documents

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]], k1: float = 1.5,
              b: float = 0.75, epsilon: float = 0.25, keys: np.ndarray | None = None) -> "BM25Index":
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(token_lists):
            raise ValueError("ids and documents differ in length")
        vocab: dict[str, int] = {}
        tf = _count_rows(token_lists, vocab)
        return cls.from_counts(TermCounts.of(ids, vocab, tf, keys), k1, b, epsilon)

    @classmethod
    def rebuild(cls, previous: "TermCounts | None", ids: np.ndarray, keys: np.ndarray,
                tokens_for: Callable[[int], Sequence[str]], k1: float = 1.5, b: float = 0.75,
                epsilon: float = 0.25) -> tuple["BM25Index", int]:
        """The index for documents `ids` (ascending), carrying over the previous build's term counts
        for every document whose (id, key) it already holds and calling `tokens_for(i)` only for
        the rest. Tokenising is the whole cost of a BM25 build (jieba: minutes at 100k chunks), so
        adding one file to a large knowledge base must not redo it. Returns (index, documents tokenised).
        """
        ids = np.asarray(ids, dtype=np.int64)
        keys = np.asarray(keys, dtype=np.int64)
        n = len(ids)
        reuse = np.zeros(n, dtype=bool)
        pos = np.zeros(n, dtype=np.int64)
        if previous is not None and len(previous.ids) and n:
            pos = np.searchsorted(previous.ids, ids)
            inside = pos < len(previous.ids)
            pos = np.where(inside, pos, 0)
            reuse = inside & (previous.ids[pos] == ids) & (previous.keys[pos] == keys)
        fresh = np.flatnonzero(~reuse)
        vocab: dict[str, int] = dict(previous.vocab) if previous is not None else {}
        new_tf = _count_rows([tokens_for(int(i)) for i in fresh], vocab)  # (len(fresh), terms)
        n_terms = len(vocab)
        parts_rows, parts_cols, parts_data = [], [], []
        if reuse.any():
            old = previous.tf[pos[reuse]].tocoo()  # docs x old terms
            parts_rows.append(np.flatnonzero(reuse)[old.row])
            parts_cols.append(old.col.astype(np.int64))
            parts_data.append(old.data.astype(np.int32))
        if len(fresh):
            new = new_tf.tocoo()
            parts_rows.append(fresh[new.row])
            parts_cols.append(new.col.astype(np.int64))
            parts_data.append(new.data.astype(np.int32))
        if parts_rows:
            tf = sparse.csr_matrix((np.concatenate(parts_data), (np.concatenate(parts_rows), np.concatenate(parts_cols))),
                                   shape=(n, n_terms))
        else:
            tf = sparse.csr_matrix((n, n_terms), dtype=np.int32)
        return cls.from_counts(TermCounts.of(ids, vocab, tf, keys), k1, b, epsilon), len(fresh)

    @classmethod
    def from_counts(cls, counts: "TermCounts", k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25
                    ) -> "BM25Index":
        """Okapi weights from raw counts; terms no document holds any more are dropped (as a fresh build would)."""
        counts = counts.pruned()
        ids, vocab, tf_docs = counts.ids, counts.vocab, counts.tf
        n_docs = len(ids)
        if not vocab or n_docs == 0:
            return cls(ids, vocab, sparse.csr_matrix((len(vocab), n_docs), dtype=np.float32), k1, b, epsilon, counts)
        tf_terms = tf_docs.T.tocsr()  # (terms, docs)
        tf_terms.sort_indices()
        term_of = np.repeat(np.arange(tf_terms.shape[0]), np.diff(tf_terms.indptr))
        doc_of = tf_terms.indices
        tf_a = tf_terms.data.astype(np.float64)
        doc_len = np.asarray(tf_docs.sum(axis=1), dtype=np.float64).ravel()
        df = np.diff(tf_terms.indptr).astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        average_idf = float(idf.sum() / len(idf))
        # rank-bm25's floor (epsilon * average idf) for terms in more than half the documents; in a tiny
        # corpus the average idf itself can be <= 0, which would make every score non-positive, so the floor
        # stays positive. A term in exactly half the documents has idf log(1) = 0 and rank-bm25 leaves it
        # at 0, which in a 2-chunk KB means a word one chunk holds matches nothing at all: it gets the floor
        # too (a term any document holds is evidence, never worth less than a term in all of them). Scores
        # equal rank-bm25's wherever no term sits at exactly df = N/2 (always, when N is odd).
        floor = epsilon * average_idf if average_idf > 0 else epsilon
        idf = np.where(idf <= 0, floor, idf)
        avgdl = float(doc_len.sum() / n_docs) or 1.0
        denom = tf_a + k1 * (1 - b + b * doc_len[doc_of] / avgdl)
        w = idf[term_of] * tf_a * (k1 + 1) / denom
        weights = sparse.csr_matrix((w.astype(np.float32), tf_terms.indices, tf_terms.indptr),
                                    shape=tf_terms.shape)
        return cls(ids, vocab, weights, k1, b, epsilon, counts)

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

    def search_tokens(self, query_tokens: Sequence[str], k: int,
                      within: Collection[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score; `within`: among those ids only."""
        s = self.scores(query_tokens)
        if within is not None:
            s[~np.isin(self.ids, np.fromiter(within, dtype=np.int64, count=len(within)))] = 0
        positive = np.flatnonzero(s > 0)
        if positive.size == 0:
            return []
        if positive.size > k:
            top = positive[np.argpartition(-s[positive], k - 1)[:k]]
        else:
            top = positive
        order = top[np.lexsort((self.ids[top], -s[top]))]
        return [(int(self.ids[i]), float(s[i])) for i in order]

    def search(self, query: str, k: int, tokenizer: Callable[[str], list[str]],
               within: Collection[int] | None = None) -> list[tuple[int, float]]:
        return self.search_tokens(tokenizer(query), k, within)

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
            if self.counts is not None:
                self.counts.save(tmp)
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
