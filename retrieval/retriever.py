"""Dense + sparse retrieval, fusion and optional reranking behind one call."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Collection, Sequence

import numpy as np

from retrieval.dense import DenseIndex
from retrieval.fusion import (DEFAULT_GATE, adaptive_fusion, dense_confidence, reciprocal_rank_fusion,
                              weighted_fusion)
from retrieval.rerank import rerank as rerank_hits
from retrieval.sparse import BM25Index
from retrieval.types import Hit

MODES = ("dense", "sparse", "hybrid")
FUSIONS = ("adaptive", "weighted", "rrf")


class HybridRetriever:
    def __init__(self, embedder, dense: DenseIndex | None, sparse: BM25Index | None,
                 tokenizer: Callable[[str], list[str]] | None = None,
                 text_of: Callable[[list[int]], list[str]] | None = None, reranker=None):
        self.embedder = embedder
        self.dense = dense
        self.sparse = sparse
        self.tokenizer = tokenizer
        self.text_of = text_of
        self.reranker = reranker

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid", candidates: int = 50, fusion: str = "adaptive",
               rrf_k: int = 60, dense_weight: float = 0.5, rerank: bool = False, rerank_top_n: int = 20,
               query_vector: np.ndarray | None = None, within: Collection[int] | None = None,
               timings: dict[str, float] | None = None, confidence_mid: float | None = None) -> list[Hit]:
        """Top-k hits. `within` (row ids) limits both retrievers to those rows (chosen documents);
        `timings`, when given, receives each stage's seconds (embed, dense, sparse, fusion, rerank) so a
        benchmark can say where a query's time goes; `confidence_mid` is this embedding model's calibrated
        ShareGate.dense_mid for adaptive fusion (None: the gate's own)."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        depth = max(k, candidates, rerank_top_n if rerank else 0)
        ranked: dict[str, Sequence[tuple[int, float]]] = {}
        clock = time.perf_counter
        marks: dict[str, float] = {}
        t = clock()
        qv = None
        if mode in ("dense", "hybrid") and self.dense is not None and len(self.dense):
            qv = query_vector if query_vector is not None else self.embedder.embed_query(query)
            marks["embed"], t = clock() - t, clock()
            ranked["dense"] = (self.dense.search(qv, depth) if within is None
                               else self.dense.search_within(qv, depth, list(within)))
            marks["dense"], t = clock() - t, clock()
        if mode in ("sparse", "hybrid") and self.sparse is not None and len(self.sparse):
            ranked["sparse"] = (self.sparse.search(query, depth, self.tokenizer) if within is None
                                else self.sparse.search(query, depth, self.tokenizer, within))
            marks["sparse"], t = clock() - t, clock()
        if mode == "hybrid":
            if fusion == "adaptive":
                gate = DEFAULT_GATE if confidence_mid is None else replace(DEFAULT_GATE, dense_mid=confidence_mid)
                hits = adaptive_fusion(ranked, dense_confidence=self._dense_confidence(qv, ranked.get("dense")),
                                       gate=gate)
            elif fusion == "weighted":
                hits = weighted_fusion(ranked, {"dense": dense_weight, "sparse": 1.0 - dense_weight})
            else:
                hits = reciprocal_rank_fusion(ranked, k=rrf_k,
                                              weights={"dense": dense_weight, "sparse": 1.0 - dense_weight})
        else:
            hits = reciprocal_rank_fusion(ranked, k=rrf_k)
            hits = [replace(h, score=(h.dense_score if mode == "dense" else h.sparse_score) or 0.0) for h in hits]
            hits.sort(key=lambda h: (-h.score, h.id))
        marks["fusion"], t = clock() - t, clock()
        if rerank and self.reranker is not None and self.text_of is not None and hits:
            head = hits[:rerank_top_n]
            hits = rerank_hits(hits, query, self.text_of([h.id for h in head]), self.reranker, rerank_top_n)
            marks["rerank"] = clock() - t
        if timings is not None:
            timings.update(marks)
        return hits[:k]

    def _dense_confidence(self, qv, dense: Sequence[tuple[int, float]] | None) -> float | None:
        """The dense model's confidence in its top hit (retrieval.fusion.dense_confidence), from the
        index's vector sample; None for a dense view that keeps no vectors here (Milvus)."""
        sample_of = getattr(self.dense, "sample_vectors", None)
        if not dense or qv is None or not callable(sample_of):
            return None
        sample = sample_of()
        if sample is None:
            return None
        return dense_confidence(dense[0][1], sample @ np.asarray(qv, dtype=np.float32).reshape(-1))
