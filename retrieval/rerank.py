"""Cross-encoder reranking of the top candidates."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from retrieval.embedders import _resolve_device
from retrieval.errors import ModelLoadError
from retrieval.types import Hit


class CrossEncoderReranker:
    def __init__(self, name_or_path: str, device: str = "auto", batch_size: int = 16):
        from sentence_transformers import CrossEncoder

        self.model_id = name_or_path
        self.batch_size = batch_size
        try:
            self._model = CrossEncoder(name_or_path, device=_resolve_device(device))
        except Exception as exc:
            raise ModelLoadError(f"cannot load reranker '{name_or_path}' ({type(exc).__name__}: {str(exc)[:200]}). "
                                 "Reranking needs a sentence-transformers CrossEncoder id or a local folder; "
                                 "turn it off with --no-rerank when offline") from exc

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        out = self._model.predict([(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32).reshape(-1)


def load_reranker(model: str, device: str = "auto") -> CrossEncoderReranker:
    return CrossEncoderReranker(model, device=device)


def rerank(hits: list[Hit], query: str, texts: Sequence[str], reranker, top_n: int) -> list[Hit]:
    """Reorder the first top_n hits by cross-encoder score; the rest follow in their order."""
    head, tail = hits[:top_n], hits[top_n:]
    if not head:
        return hits
    scores = reranker.score(query, list(texts[:len(head)]))
    rescored = [replace(h, rerank_score=float(s), score=float(s)) for h, s in zip(head, scores)]
    rescored.sort(key=lambda h: (-h.score, h.id))
    return rescored + tail
