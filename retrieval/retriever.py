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
from retrieval.term_weights import general_term_weight
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
               timings: dict[str, float] | None = None, confidence_mid: float | None = None,
               feedback_docs: int = 0, feedback_weight: float = 0.0,
               weigh_query_terms: bool = False) -> list[Hit]:
        """Top-k hits. `within` (row ids) limits both retrievers to those rows (chosen documents);
        `timings`, when given, receives each stage's seconds (embed, dense, sparse, fusion, rerank) so a
        benchmark can say where a query's time goes; `confidence_mid` is this embedding model's calibrated
        ShareGate.dense_mid for adaptive fusion (None: the gate's own); `feedback_docs` > 0 searches the
        dense index a second time with the query moved towards its first hits (see feedback_query);
        `weigh_query_terms` scales each BM25 query term by its idf in Chinese at large
        (retrieval.term_weights: a corpus's own idf overrates the function words of a colloquial question)."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        depth = max(k, candidates, rerank_top_n if rerank else 0)
        ranked: dict[str, Sequence[tuple[int, float]]] = {}
        clock = time.perf_counter
        marks: dict[str, float] = {}
        t = clock()
        qv = asked = None  # asked: the question's own vector, kept when feedback moves qv
        if mode in ("dense", "hybrid") and self.dense is not None and len(self.dense):
            qv = query_vector if query_vector is not None else self.embedder.embed_query(query)
            marks["embed"], t = clock() - t, clock()
            ranked["dense"] = (self.dense.search(qv, depth) if within is None
                               else self.dense.search_within(qv, depth, list(within)))
            if feedback_docs > 0 and feedback_weight > 0 and ranked["dense"]:
                moved = feedback_query(self.dense, qv, ranked["dense"][:feedback_docs], feedback_weight)
                if moved is not None:
                    asked, qv = qv, moved
                    ranked["dense"] = (self.dense.search(qv, depth) if within is None
                                       else self.dense.search_within(qv, depth, list(within)))
            marks["dense"], t = clock() - t, clock()
        if mode in ("sparse", "hybrid") and self.sparse is not None and len(self.sparse):
            extra = {"term_weight": general_term_weight} if weigh_query_terms else {}
            ranked["sparse"] = (self.sparse.search(query, depth, self.tokenizer, **extra) if within is None
                                else self.sparse.search(query, depth, self.tokenizer, within, **extra))
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
        if asked is not None:
            return self._question_cosines(hits[:k], asked)
        return hits[:k]

    def _question_cosines(self, hits: list[Hit], asked: np.ndarray) -> list[Hit]:
        """Hits ranked with the feedback query, their `dense_score` set back to the cosine with the question
        itself: what the refusal floor (app.evidence) was calibrated on and what a user reads as "dense"."""
        dense_ids = [h.id for h in hits if h.dense_score is not None]
        vecs = self.dense.vectors_of(dense_ids) if dense_ids else None
        if vecs is None:
            return hits
        cos = dict(zip(dense_ids, (vecs @ np.asarray(asked, dtype=np.float32).reshape(-1)).tolist()))
        return [replace(h, dense_score=cos[h.id]) if h.id in cos else h for h in hits]

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


def feedback_query(dense, qv: np.ndarray, top: Sequence[tuple[int, float]], weight: float) -> np.ndarray | None:
    """Pseudo-relevance feedback (Rocchio): the query vector plus `weight` times the mean of its first
    dense hits' vectors, normalised; None when the index cannot give vectors back (Milvus).

    Why: a paraphrased question ("工厂排污……承担责任吗") sits between the articles it means and its own wording; its
    first dense hits are mostly of the right chapter, and moving the query towards them pulls the article that
    shares their topic above one that only echoes the question's words. Measured on the Civil Code questions
    (`zhida eval-qa`, e5-small): 29 -> 30 of 35 answered and cited with 10 hits at weight 0.5, 8 of 8 still
    refused; use-multilingual 23 -> 24; dense MRR@10 of the gold article 0.752 -> 0.787 (0.76-0.80 for 8-20 hits
    at 0.3-0.5); with BM25's query words weighted (retrieval.term_weights) 30 -> 31. Off by default
    (retrieval.feedback_docs: 0): it loses on all three `zhida eval` sets (hybrid MRR@10 .9884/.9597/.9222 ->
    .9871/.9580/.9169 with the weights, below BM25 on drcd). The refusal floor keeps reading the cosine with
    the question itself (HybridRetriever._question_cosines)."""
    vectors_of = getattr(dense, "vectors_of", None)
    vecs = vectors_of([i for i, _ in top]) if callable(vectors_of) else None
    if vecs is None or not len(vecs):
        return None
    moved = np.asarray(qv, dtype=np.float32).reshape(-1) + weight * vecs.mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else None
