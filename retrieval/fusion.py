"""Fusing ranked lists from several retrievers into one, keeping the evidence."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

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


def _zscores(lst: Ranked) -> tuple[dict[int, float], float]:
    """Each score as standard deviations above its list's mean, and the list's lowest z (what a
    document the retriever did not return is given: at best as good as its last hit)."""
    if len(lst) < 2:
        return ({lst[0][0]: 1.0}, 0.0) if lst else ({}, 0.0)
    s = np.fromiter((x for _, x in lst), dtype=np.float64, count=len(lst))
    sd = s.std()
    z = (s - s.mean()) / (sd if sd > 0 else 1.0)
    return {doc: float(v) for (doc, _), v in zip(lst, z)}, float(z.min())


def sparse_share(sparse: Ranked, low: float, high: float, margin_mid: float, margin_width: float) -> float:
    """BM25's weight for one query, from how far its top hit stands above the second: (s1 - s2) / s1.

    A question that copies a passage's words gives BM25 one clear winner (median margin 0.53 where
    BM25 alone is right and the dense model wrong, on cmrc2018_trial); a real search query gives it
    a flat top (median 0.12 where the dense model is right, on dureader_robust_dev), and there BM25's
    order is mostly noise. A logistic step between `low` and `high` follows that margin."""
    if len(sparse) < 2 or sparse[0][1] <= 0:
        return high if sparse else 0.0
    margin = (sparse[0][1] - sparse[1][1]) / sparse[0][1]
    return low + (high - low) / (1.0 + math.exp(-(margin - margin_mid) / margin_width))


def adaptive_fusion(ranked: Mapping[str, Ranked], *, low: float = 0.2, high: float = 0.5,
                    margin_mid: float = 0.2, margin_width: float = 0.05) -> list[Hit]:
    """z-scored dense and BM25 lists, combined with a per-query BM25 share (see `sparse_share`).

    Why z-scores: min-max over a top list maps the 50th hit to 0 and the first to 1 whatever the gap,
    so a flat list (every passage about as good) weighs as much as one with a clear winner; standard
    deviations above the list's mean keep that difference, and they put a cosine in 0.8-0.95 and a BM25
    score in 5-50 on one scale.

    Measured with e5-small (`python -m benchmarks.fusion_lab` over the three eval sets, MRR@10): fixed
    weights trade one kind of set for the other (z-scores at dense 0.6: cmrc2018_trial 0.986, drcd_dev
    0.949, dureader_robust_dev 0.910; min-max at dense 0.1, the old default: 0.977 / 0.956 / 0.810).
    These parameters (0.2 -> 0.5 around a margin of 0.2) had the smallest worst-case loss against the
    better single retriever of each set: 0.988 (BM25 0.977) / 0.943 (BM25 0.952) / 0.914 (dense 0.922),
    and the most Civil Code articles ranked first (27 of 35 paraphrased questions; dense 24, BM25 21).
    No rule tried (fixed weights, RRF, z-scores over the exact scores of both retrievers, gates on
    either list's top-1 z-score) was at least as good as both single retrievers on all three sets."""
    dense, sparse = ranked.get("dense") or [], ranked.get("sparse") or []
    ev = _evidence({k: v for k, v in ranked.items() if v})
    ws = sparse_share(sparse, low, high, margin_mid, margin_width) if dense else 1.0
    zd, fd = _zscores(dense)
    zs, fs = _zscores(sparse)
    fused = []
    for doc_id, e in ev.items():
        s = (1.0 - ws) * zd.get(doc_id, fd) + ws * zs.get(doc_id, fs)
        fused.append(_hit(doc_id, s, e))
    fused.sort(key=lambda h: (-h.score, h.id))
    return fused
