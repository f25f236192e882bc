"""Plain values and protocols at the seams of the retrieval layer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors.

    Retrieval models are asymmetric (BGE's query instruction, E5's
    `query: `/`passage: `), so queries and documents have separate entry points.
    """

    model_id: str  # what the user named (hub id, path or packaged alias)
    dim: int

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """(n, dim) float32, rows normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, normalised."""
        ...


@runtime_checkable
class Reranker(Protocol):
    model_id: str

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Relevance score per text; higher is better."""
        ...


@dataclass(frozen=True)
class Hit:
    """One retrieved item with the evidence for why it was kept.

    `id` is the integer row id the indexes were built with; the caller maps
    it back to chunk text and metadata.
    """

    id: int
    score: float  # the final score the list is ordered by
    found_by: tuple[str, ...] = ()  # "dense", "sparse"
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None
    fused_score: float | None = None
    rerank_score: float | None = None
