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


def dense_confidence(top_score: float, sample_scores: np.ndarray) -> float | None:
    """How many standard deviations the dense model's top hit stands above this query's similarity to a
    sample of the corpus (None when the sample is too small to say). Model- and corpus-independent
    where a raw cosine is not: e5-small's cosines sit in 0.75-0.95, USE's near 0, and a corpus of one
    statute sits higher than a mixed one."""
    if sample_scores is None or len(sample_scores) < 20:
        return None
    sd = float(np.std(sample_scores))
    return (top_score - float(np.mean(sample_scores))) / sd if sd > 0 else None


def confidence_share(confidence: float, low: float, high: float, mid: float, width: float) -> float:
    """BM25's weight for one query: `high` when the dense model is unsure of its top hit, `low` when it
    is sure, a logistic step around `mid` between them."""
    x = max(-60.0, min(60.0, (confidence - mid) / width))
    return low + (high - low) / (1.0 + math.exp(x))


def adaptive_fusion(ranked: Mapping[str, Ranked], *, dense_confidence: float | None = None,
                    low: float = 0.1, high: float = 0.7, confidence_mid: float = 4.0,
                    confidence_width: float = 0.7, margin_low: float = 0.2, margin_high: float = 0.5,
                    margin_mid: float = 0.2, margin_width: float = 0.05) -> list[Hit]:
    """z-scored dense and BM25 lists, combined with a per-query BM25 share.

    The share follows the dense model's confidence in its own top hit (see `dense_confidence`): a query
    the model understands puts its top hit many standard deviations above the query's similarity to the
    corpus at large, and BM25's order is then mostly noise (share 0.1); a query the model reads poorly
    (copied wording it does not weigh, Traditional Chinese, rare names) leaves its top hit barely above
    the crowd, and BM25, which matches those words exactly, takes the lead (share up to 0.7). Without a
    confidence (a store that cannot give vectors back), BM25's own top-1 margin (s1 - s2) / s1 drives
    the share instead (`sparse_share`; 0.2 -> 0.5 around 0.2).

    Why z-scores: min-max over a top list maps the 50th hit to 0 and the first to 1 whatever the gap,
    so a flat list weighs as much as one with a clear winner; standard deviations above the list's mean
    keep that difference, and put a cosine in 0.8-0.95 and a BM25 score in 5-50 on one scale.

    Measured with e5-small (`python -m benchmarks.fusion_lab`, MRR@10 over cmrc2018_trial / drcd_dev /
    dureader_robust_dev; parameters chosen on all three at once plus the Civil Code questions of
    ../shared/data/qa, never per set): 0.988 / 0.949 / 0.918 against BM25 0.977 / 0.952 and dense 0.921
    (BM25's margin alone: 0.988 / 0.943 / 0.914), and 29 of 35 Civil Code questions answered and cited
    by `zhida eval-qa` (margin: 28). No rule tried is at least
    as good as both single retrievers on all three sets and keeps the paraphrased Civil Code questions:
    a confidence measured against the corpus's mean similarity did reach the better single retriever on
    all three (+0.0004) but ranked two fewer Civil Code articles first, since a corpus of one statute has
    a high mean similarity and every question then looked unsure to the dense model."""
    dense, sparse = ranked.get("dense") or [], ranked.get("sparse") or []
    ev = _evidence({k: v for k, v in ranked.items() if v})
    if not dense:
        ws = 1.0
    elif dense_confidence is not None:
        ws = confidence_share(dense_confidence, low, high, confidence_mid, confidence_width)
    else:
        ws = sparse_share(sparse, margin_low, margin_high, margin_mid, margin_width)
    zd, fd = _zscores(dense)
    zs, fs = _zscores(sparse)
    fused = []
    for doc_id, e in ev.items():
        s = (1.0 - ws) * zd.get(doc_id, fd) + ws * zs.get(doc_id, fs)
        fused.append(_hit(doc_id, s, e))
    fused.sort(key=lambda h: (-h.score, h.id))
    return fused
