"""Fusing ranked lists from several retrievers into one, keeping the evidence."""
from __future__ import annotations

from typing import Mapping, Sequence

from retrieval.types import Hit

Ranked = Sequence[tuple[int, float]]


def _evidence(ranked: Mapping[str, Ranked]) -> dict[int, dict]:
    ev: dict[int, dict] = {}
    for name, lst in ranked.items():
        for rank, (doc_id, score) in enumerate(lst, 1):
            e = ev.setdefault(doc_id, {"found_by": []})
            e["found_by"].append(name)
            e[f"{name}_score"] = float(score)
            e[f"{name}_rank"] = rank
    return ev


def _hit(doc_id: int, score: float, e: dict) -> Hit:
    return Hit(id=doc_id, score=score, found_by=tuple(e["found_by"]), dense_score=e.get("dense_score"),
               dense_rank=e.get("dense_rank"), sparse_score=e.get("sparse_score"), sparse_rank=e.get("sparse_rank"),
               fused_score=score)


def reciprocal_rank_fusion(ranked: Mapping[str, Ranked], k: int = 60,
                           weights: Mapping[str, float] | None = None) -> list[Hit]:
    """score(d) = sum_r w_r / (k + rank_r(d)); ties broken by id for determinism."""
    ev = _evidence(ranked)
    fused = []
    for doc_id, e in ev.items():
        s = sum((weights or {}).get(n, 1.0) / (k + e[f"{n}_rank"]) for n in e["found_by"])
        fused.append(_hit(doc_id, s, e))
    fused.sort(key=lambda h: (-h.score, h.id))
    return fused


def weighted_fusion(ranked: Mapping[str, Ranked], weights: Mapping[str, float]) -> list[Hit]:
    """Min-max normalise each list's scores, then a weighted sum (missing = 0)."""
    ev = _evidence(ranked)
    norm: dict[str, dict[int, float]] = {}
    for name, lst in ranked.items():
        if not lst:
            continue
        scores = [s for _, s in lst]
        lo, hi = min(scores), max(scores)
        span = hi - lo
        norm[name] = {d: ((s - lo) / span if span > 0 else 1.0) for d, s in lst}
    fused = []
    for doc_id, e in ev.items():
        s = sum(weights.get(n, 0.0) * norm.get(n, {}).get(doc_id, 0.0) for n in e["found_by"])
        fused.append(_hit(doc_id, s, e))
    fused.sort(key=lambda h: (-h.score, h.id))
    return fused
