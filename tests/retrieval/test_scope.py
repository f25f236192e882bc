"""A search limited to some rows (a question scoped to chosen documents) holds in both retrievers."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import DenseSettings
from retrieval.dense import DenseIndex
from retrieval.retriever import HybridRetriever
from retrieval.sparse import BM25Index


class _Fixed:
    """An embedder whose query vector is given: the test decides what is nearest."""

    def __init__(self, q):
        self.q = np.asarray(q, dtype=np.float32)
        self.dim = len(q)

    def embed_query(self, text):
        return self.q


@pytest.mark.parametrize("hnsw", [False, True])
def test_within_keeps_only_those_rows_in_dense_sparse_and_hybrid(hnsw):
    rng = np.random.default_rng(0)
    n, dim = 300, 16
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1000, 1000 + n)
    docs = [["common", f"w{i % 7}"] for i in range(n)]
    settings = DenseSettings(hnsw_threshold=100 if hnsw else 10_000, use_gpu=False)
    dense = DenseIndex.build(ids, vecs, settings)
    sparse = BM25Index.build(ids, docs)
    q = vecs[5]  # row 1005 is the nearest of all
    r = HybridRetriever(_Fixed(q), dense, sparse, tokenizer=str.split)
    within = {1200, 1201, 1250, 1299}
    for mode in ("dense", "sparse", "hybrid"):
        everything = [h.id for h in r.search("common w5", k=10, mode=mode)]
        scoped = r.search("common w5", k=10, mode=mode, within=within)
        assert scoped and {h.id for h in scoped} <= within, (mode, scoped)
        assert not set(everything) <= within  # unscoped, other rows rank first: the scope is what held
    exact = sorted(within, key=lambda i: -float(vecs[i - 1000] @ q))
    assert [h.id for h in r.search("x", k=4, mode="dense", within=within)] == exact
    assert r.search("common", k=5, mode="hybrid", within={99999}) == []  # rows not in the index
