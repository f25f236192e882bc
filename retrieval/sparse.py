"""BM25 (Okapi, the rank-bm25 `BM25Okapi` formula, with k1 = K1) over precomputed term weights.

One deliberate difference: a term in exactly half the documents (idf 0, which rank-bm25 keeps) gets
the same positive floor as terms in more than half, or a 2-chunk KB could never match anything.

Every (term, doc) weight idf*tf*(k1+1)/(tf+k1*(1-b+b*dl/avgdl)) is computed once at build time into
CSR arrays with one row per term, so a query is a bincount over its terms' postings plus an
argpartition: no per-document Python loop. Persisted as plain .npy/.json files (bm25s style), never
pickled, and memory-mapped on load. Builds stream (BM25Builder): typed count arrays, no texts held.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, Collection, Sequence

import numpy as np
from scipy import sparse

FORMAT_VERSION = 1

# Okapi's saturation and length normalisation. k1 0.9 (Anserini's default; rank-bm25 uses 1.5): a
# chunk is a short passage, where a term's second occurrence says less than in a long document.
# Measured with `python -m benchmarks.fusion_lab` over Zhida's own chunks (MRR@10 of BM25 alone,
# cmrc2018_trial / drcd_dev / dureader_robust_dev): k1 1.5 .9766/.9518/.7903, k1 0.9 .9770/.9582/.7941,
# and the Civil Code questions of ../shared/data/qa rank their article first 23 times of 35, not 21.
# b 0.75 stays: 0.5 and 0.9 each lost on one kind of set.
K1 = 0.9
B = 0.75


TF_MAX = np.iinfo(np.uint16).max  # counts kept as uint16: BM25's tf saturates long before a term repeats 65,535 times


class _Postings:
    """Growing docs x terms counts in typed arrays (2-6 bytes a posting), one document at a time, in
    document order. Python lists of ints cost ~100 bytes an entry, which at 1M chunks (~150M postings)
    is more memory than the machine has; scipy's constructors copy index arrays to int64."""

    def __init__(self, vocab: dict[str, int]):
        from array import array

        self.vocab = vocab
        self.cols, self.tfs, self.indptr, self.doc_len = array("i"), array("H"), array("q", [0]), array("q")

    def add_tokens(self, tokens: Sequence[str]) -> None:
        counts = Counter(tokens)
        vocab = self.vocab
        self.cols.extend(vocab.setdefault(term, len(vocab)) for term in counts)
        self.tfs.extend(min(c, TF_MAX) for c in counts.values())
        self.indptr.append(len(self.cols))
        self.doc_len.append(sum(counts.values()))

    def add_counted(self, cols: np.ndarray, tfs: np.ndarray) -> None:
        """A document's counts carried over from the previous build (term ids of the same vocabulary)."""
        self.cols.frombytes(np.ascontiguousarray(cols, dtype=np.int32).tobytes())
        self.tfs.frombytes(np.ascontiguousarray(tfs, dtype=np.uint16).tobytes())
        self.indptr.append(len(self.cols))
        self.doc_len.append(int(np.asarray(tfs, dtype=np.int64).sum()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(indptr int64, cols int32, tfs uint16, doc_len int64) as views of the typed arrays, no copy."""
        def view(a, dtype):
            return np.frombuffer(a, dtype=dtype) if len(a) else np.zeros(0, dtype=dtype)
        return view(self.indptr, np.int64), view(self.cols, np.int32), view(self.tfs, np.uint16), \
            view(self.doc_len, np.int64)


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape) -> sparse.csr_matrix:
    """A scipy view for callers that want one (analysis code); the index itself never builds it."""
    return sparse.csr_matrix((np.asarray(data), np.asarray(indices), np.asarray(indptr)), shape=shape)


class TermCounts:
    """Raw term counts per document (docs x terms, CSR arrays) plus a caller's key per document (e.g. a
    checksum of its text), saved beside the BM25 weights: what lets the next build skip re-tokenising
    unchanged documents. Loaded memory-mapped: a rebuild reads only the rows it carries over."""

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], indptr: np.ndarray, cols: np.ndarray,
                 tfs: np.ndarray, keys: np.ndarray, doc_len: np.ndarray | None = None):
        self.ids, self.vocab, self.keys = ids, vocab, keys
        self.indptr, self.cols, self.tfs = indptr, cols, tfs
        self.doc_len = doc_len

    @property
    def tf(self) -> sparse.csr_matrix:
        return _csr(self.tfs, self.cols, self.indptr, (len(self.ids), len(self.vocab)))

    def save(self, folder: Path) -> None:
        np.save(folder / "tf_data.npy", np.asarray(self.tfs, dtype=np.uint16))
        np.save(folder / "tf_indices.npy", np.asarray(self.cols, dtype=np.int32))
        np.save(folder / "tf_indptr.npy", np.asarray(self.indptr, dtype=np.int64))
        np.save(folder / "keys.npy", np.asarray(self.keys, dtype=np.int64))

    @classmethod
    def load(cls, folder: str | Path) -> "TermCounts | None":
        """The counts saved with a BM25 index folder, or None (older cache, damaged files)."""
        folder = Path(folder)
        try:
            ids = np.load(folder / "ids.npy", mmap_mode="r")
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            indptr = np.load(folder / "tf_indptr.npy", mmap_mode="r")
            data = np.load(folder / "tf_data.npy", mmap_mode="r")
            cols = np.load(folder / "tf_indices.npy", mmap_mode="r")
            keys = np.load(folder / "keys.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError):
            return None
        if len(keys) != len(ids) or indptr.shape[0] != len(ids) + 1 or len(data) != len(cols) \
                or (len(ids) and int(indptr[-1]) != len(cols)):
            return None
        if data.dtype != np.uint16:  # an older cache saved int32 counts
            data = np.minimum(np.asarray(data), TF_MAX).astype(np.uint16)
        return cls(ids, vocab, indptr, cols, data, keys)


class BM25Index:
    """Postings by term (CSR arrays: indptr per term, document positions, float32 weights), held as
    plain arrays so a load can memory-map them: a query touches only its terms' postings."""

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], indptr: np.ndarray, indices: np.ndarray,
                 data: np.ndarray, k1: float, b: float, epsilon: float, counts: "TermCounts | None" = None):
        self.ids = ids
        self.vocab = vocab
        self.indptr, self.indices, self.data = indptr, indices, data  # (terms, docs)
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.counts = counts  # raw term counts, kept so the next build re-tokenises only new documents

    @property
    def weights(self) -> sparse.csr_matrix:
        """(terms, docs) weights as a scipy matrix (a copy: for analysis, not for queries)."""
        return _csr(self.data, self.indices, self.indptr, (len(self.indptr) - 1, len(self.ids)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]], k1: float = K1,
              b: float = B, epsilon: float = 0.25, keys: np.ndarray | None = None) -> "BM25Index":
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(token_lists):
            raise ValueError("ids and documents differ in length")
        keys = np.zeros(len(ids), dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
        if len(keys) != len(ids):
            raise ValueError("ids and keys differ in length")
        builder = BM25Builder(None, k1, b, epsilon)
        builder.add(ids, keys, lambda i: token_lists[i])
        return builder.finish()

    @classmethod
    def rebuild(cls, previous: "TermCounts | None", ids: np.ndarray, keys: np.ndarray,
                tokens_for: Callable[[int], Sequence[str]], k1: float = K1, b: float = B,
                epsilon: float = 0.25) -> tuple["BM25Index", int]:
        """The index for documents `ids` (ascending), carrying over the previous build's term counts
        for every document whose (id, key) it already holds and calling `tokens_for(i)` only for
        the rest. Tokenising is the whole cost of a BM25 build (jieba: minutes at 100k chunks), so
        adding one file to a large knowledge base must not redo it. Returns (index, documents tokenised).
        One batch of BM25Builder, which streams the same thing batch by batch.
        """
        builder = BM25Builder(previous, k1, b, epsilon)
        builder.add(np.asarray(ids, dtype=np.int64), np.asarray(keys, dtype=np.int64), tokens_for)
        return builder.finish(), builder.tokenised

    def scores(self, query_tokens: Sequence[str], term_weight: Callable[[str], float] | None = None) -> np.ndarray:
        """BM25 score of every document (rank-bm25's get_scores: repeated query terms count again), each
        query term's contribution scaled by `term_weight(term)` when given (retrieval.term_weights).

        Only the query terms' postings are read (a memory-mapped index pages in just those) and summed
        with one bincount: no sparse-matrix product, no per-document Python loop."""
        counts: Counter[str] | dict[str, float] = Counter(t for t in query_tokens if t in self.vocab)
        if term_weight is not None:
            weighed = {t: m * term_weight(t) for t, m in counts.items()}
            counts = {t: w for t, w in weighed.items() if w > 0}
        if not counts:
            return np.zeros(len(self), dtype=np.float32)
        docs, weights = [], []
        for term, mult in counts.items():
            row = self.vocab[term]
            lo, hi = int(self.indptr[row]), int(self.indptr[row + 1])
            docs.append(self.indices[lo:hi])
            w = self.data[lo:hi]
            weights.append(w * np.float32(mult) if mult != 1 else w)
        return np.bincount(np.concatenate(docs), weights=np.concatenate(weights),
                           minlength=len(self)).astype(np.float32)

    def search_tokens(self, query_tokens: Sequence[str], k: int, within: Collection[int] | None = None,
                      term_weight: Callable[[str], float] | None = None) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score; `within`: among those ids only."""
        s = self.scores(query_tokens, term_weight)
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
        return [(int(i), float(v)) for i, v in zip(self.ids[order].tolist(), s[order].tolist())]

    def search(self, query: str, k: int, tokenizer: Callable[[str], list[str]],
               within: Collection[int] | None = None,
               term_weight: Callable[[str], float] | None = None) -> list[tuple[int, float]]:
        return self.search_tokens(tokenizer(query), k, within, term_weight)

    # --- persistence: a folder of .npy + .json, written to a temp dir and renamed into place
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            np.save(tmp / "ids.npy", self.ids)
            np.save(tmp / "data.npy", np.asarray(self.data, dtype=np.float32))
            np.save(tmp / "indices.npy", np.asarray(self.indices, dtype=np.int32))
            np.save(tmp / "indptr.npy", np.asarray(self.indptr, dtype=np.int64))
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
            if self.counts is not None:
                self.counts.save(tmp)
            (tmp / "params.json").write_text(json.dumps({
                "format": FORMAT_VERSION, "k1": self.k1, "b": self.b, "epsilon": self.epsilon,
                "shape": [len(self.indptr) - 1, len(self.ids)]}), encoding="utf-8")
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
    def load(cls, folder: str | Path, mmap: bool = True) -> "BM25Index":
        """Memory-mapped by default: the postings stay in the page cache, and a query reads only its terms'."""
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
        if indptr.shape[0] != shape[0] + 1 or ids.shape[0] != shape[1] or len(data) != len(indices) \
                or (shape[0] and int(indptr[-1]) != len(indices)):
            raise ValueError("BM25 index files are inconsistent (truncated?)")
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        if len(vocab) != shape[0]:
            raise ValueError("BM25 vocabulary does not match its postings (truncated?)")
        return cls(np.asarray(ids), vocab, indptr, indices, data, params["k1"], params["b"], params["epsilon"])


class BM25Builder:
    """Builds a BM25Index from documents fed in batches (ascending ids), carrying over a previous build's
    counts for every document whose (id, key) it holds; holds only typed count arrays, never the texts.

    finish() computes the Okapi weights term-major in blocks of documents, in float32: the whole-array
    float64 temporaries of one vectorised expression were ~40 bytes a posting (GBs at 1M chunks)."""

    BLOCK = 1 << 21  # postings per block of the weighting pass

    def __init__(self, previous: "TermCounts | None", k1: float = K1, b: float = B, epsilon: float = 0.25):
        from array import array

        self.previous = previous if previous is not None and len(previous.ids) else None
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self._postings = _Postings(dict(previous.vocab) if previous is not None else {})
        self._ids, self._keys = array("q"), array("q")
        self.tokenised = 0

    def add(self, ids: np.ndarray, keys: np.ndarray, tokens_for: Callable[[int], Sequence[str]]) -> None:
        """Documents `ids` (ascending, after every earlier batch's); `tokens_for(j)` gives the tokens of the
        batch's j-th document and is called only where no carried-over counts match its key."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        if len(keys) != len(ids):
            raise ValueError("ids and keys differ in length")
        prev = self.previous
        reuse = np.zeros(len(ids), dtype=bool)
        pos = np.zeros(len(ids), dtype=np.int64)
        if prev is not None and len(ids):
            pos = np.searchsorted(prev.ids, ids)
            inside = pos < len(prev.ids)
            pos = np.where(inside, pos, 0)
            reuse = inside & (np.asarray(prev.ids[pos]) == ids) & (np.asarray(prev.keys[pos]) == keys)
        postings = self._postings
        for j in range(len(ids)):
            if reuse[j]:
                lo, hi = int(prev.indptr[pos[j]]), int(prev.indptr[pos[j] + 1])
                postings.add_counted(prev.cols[lo:hi], prev.tfs[lo:hi])
            else:
                postings.add_tokens(tokens_for(j))
                self.tokenised += 1
        self._ids.frombytes(ids.tobytes())
        self._keys.frombytes(keys.tobytes())

    def finish(self) -> BM25Index:
        k1, b, epsilon = self.k1, self.b, self.epsilon
        indptr, cols, tfs, doc_len = self._postings.arrays()
        ids = np.frombuffer(self._ids, dtype=np.int64) if len(self._ids) else np.zeros(0, dtype=np.int64)
        keys = np.frombuffer(self._keys, dtype=np.int64) if len(self._keys) else np.zeros(0, dtype=np.int64)
        vocab = self._postings.vocab
        n_docs = len(ids)
        # terms no document holds any more are dropped, as a fresh build would (each document lists a term once)
        df = np.bincount(cols, minlength=len(vocab)) if len(cols) else np.zeros(len(vocab), dtype=np.int64)
        used = np.flatnonzero(df > 0)
        if len(used) != len(vocab):
            remap = np.full(len(vocab), -1, dtype=np.int32)
            remap[used] = np.arange(len(used), dtype=np.int32)
            terms = sorted(vocab, key=vocab.__getitem__)
            vocab = {terms[t]: i for i, t in enumerate(used.tolist())}
            cols = remap[cols]
            df = df[used]
        counts = TermCounts(ids, vocab, indptr, cols, tfs, keys, doc_len)
        n_terms = len(vocab)
        term_ptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=term_ptr[1:])
        if not n_terms or n_docs == 0:
            return BM25Index(ids, vocab, term_ptr, np.zeros(0, np.int32), np.zeros(0, np.float32), k1, b, epsilon,
                             counts)
        dff = df.astype(np.float64)
        idf = np.log(n_docs - dff + 0.5) - np.log(dff + 0.5)
        average_idf = float(idf.sum() / len(idf))
        # rank-bm25's floor (epsilon * average idf) for terms in more than half the documents; in a tiny
        # corpus the average idf itself can be <= 0, which would make every score non-positive, so the floor
        # stays positive. A term in exactly half the documents has idf log(1) = 0 and rank-bm25 leaves it
        # at 0, which in a 2-chunk KB means a word one chunk holds matches nothing at all: it gets the floor
        # too (a term any document holds is evidence, never worth less than a term in all of them). Scores
        # equal rank-bm25's wherever no term sits at exactly df = N/2 (always, when N is odd).
        floor = epsilon * average_idf if average_idf > 0 else epsilon
        idf = np.where(idf <= 0, floor, idf).astype(np.float32)
        avgdl = float(doc_len.sum() / n_docs) or 1.0
        norm = (k1 * (1 - b + b * doc_len / avgdl)).astype(np.float32)  # per document
        out_docs = np.empty(len(cols), dtype=np.int32)
        out_w = np.empty(len(cols), dtype=np.float32)
        filled = term_ptr[:-1].copy()  # next free slot of each term's postings
        doc = 0
        while doc < n_docs:  # blocks of whole documents, ~BLOCK postings each
            stop = int(np.searchsorted(indptr, indptr[doc] + self.BLOCK, side="right")) - 1
            stop = min(max(stop, doc + 1), n_docs)
            lo, hi = int(indptr[doc]), int(indptr[stop])
            c = cols[lo:hi]
            d = np.repeat(np.arange(doc, stop, dtype=np.int32), np.diff(indptr[doc:stop + 1]))
            order = np.argsort(c, kind="stable")  # by term; documents stay ascending within a term
            cs, ds = c[order], d[order]
            tf = tfs[lo:hi][order].astype(np.float32)
            starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.zeros(0, np.int64)
            lengths = np.diff(np.r_[starts, len(cs)])
            dest = filled[cs] + (np.arange(len(cs)) - np.repeat(starts, lengths))
            out_docs[dest] = ds
            out_w[dest] = idf[cs] * tf * np.float32(k1 + 1) / (tf + norm[ds])
            filled[cs[starts]] += lengths
            doc = stop
        return BM25Index(ids, vocab, term_ptr, out_docs, out_w, k1, b, epsilon, counts)
