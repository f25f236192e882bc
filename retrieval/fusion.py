"""Fusing ranked lists from several retrievers into one, keeping the evidence."""
from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ShareGate:
    """BM25's share of the fused score as a logistic function of three signals of one query:

        x = dense_weight * (dense_mid - dense_confidence) + bm25_weight * bm25_top_z
            - agreement_weight * log(1 + rank of BM25's top hit in the dense list)
        share = low + (high - low) * sigmoid(x)

    - `dense_confidence` (see `dense_confidence`): a dense model sure of its top hit keeps the lead;
    - `bm25_top_z`: BM25's own confidence, its top score in standard deviations above its list's mean
      (a question that copies a passage's words gives BM25 one clear winner);
    - the agreement term: a BM25 winner the dense model also ranks high (0 = its top) is a safe one to
      follow, a BM25 winner outside the dense model's top 50 is usually a lexical accident.
    Each retriever's confidence and their agreement are the three things a person weighing two opinions
    asks. The weights were fitted on cmrc2018_trial, drcd_dev and dureader_robust_dev at once (largest
    worst-case gain over the better single retriever of each set), checked against the Civil Code
    questions of ../shared/data/qa, never per set (`python -m benchmarks.fusion_lab`; FUSION_GRID=1
    prints the neighbourhood). It was refitted with BM25's k1 at 0.9 (retrieval.sparse.K1): only
    `bm25_weight` moved (0.7 -> 0.9), and the worst set's lead over its better single retriever rose
    from +0.0007 to +0.0021 MRR@10 (`zhida eval`). The fit sits near the bar, not far above it: moving
    any one weight but `dense_mid` by 10% leaves the worst set within 0.003 of its better single retriever, while
    `dense_mid` (the confidence at which BM25 takes over) is the sensitive one: 10% either way costs
    0.008-0.011 on drcd_dev or DuReader. It is also the one weight that depends on the embedding model
    (a weaker model's top hit is wrong more often at the same z-score), so the app sets it per model
    from retrieval.fusion_confidence_mid; 4.2 is e5-small's."""

    low: float = 0.15
    high: float = 0.73
    dense_mid: float = 4.2
    dense_weight: float = 4.0
    bm25_weight: float = 0.9
    agreement_weight: float = 1.5
    depth: int = 50  # how far down the dense list BM25's top hit is looked for

    def share(self, dense_confidence: float, bm25_top_z: float, bm25_top_rank_in_dense: int) -> float:
        x = (self.dense_weight * (self.dense_mid - dense_confidence) + self.bm25_weight * bm25_top_z
             - self.agreement_weight * math.log1p(bm25_top_rank_in_dense))
        return self.low + (self.high - self.low) / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


DEFAULT_GATE = ShareGate()


def _rank_in(lst: Ranked, doc_id: int, depth: int) -> int:
    """0-based position of `doc_id` in the first `depth` entries of `lst`, `depth` when absent."""
    return next((n for n, (d, _) in enumerate(lst[:depth]) if d == doc_id), depth)


def adaptive_fusion(ranked: Mapping[str, Ranked], *, dense_confidence: float | None = None,
                    gate: ShareGate = DEFAULT_GATE, margin_low: float = 0.2, margin_high: float = 0.5,
                    margin_mid: float = 0.2, margin_width: float = 0.05) -> list[Hit]:
    """z-scored dense and BM25 lists, combined with a per-query BM25 share.

    The share comes from `ShareGate`: the dense model's confidence in its own top hit (see
    `dense_confidence`), BM25's confidence in its own, and whether the dense model also ranks BM25's
    winner high. A query the dense model understands puts its top hit many standard deviations above
    the query's similarity to the corpus at large, and BM25's order is then mostly noise (share 0.15);
    a query the model reads poorly (copied wording it does not weigh, Traditional Chinese, rare names)
    leaves its top hit barely above the crowd, and BM25, which matches those words exactly, takes the
    lead (share up to 0.73), the more so when its winner stands out and the dense model ranks it high
    too. Without a dense confidence (a store that cannot give vectors back, such as Milvus), BM25's own
    top-1 margin (s1 - s2) / s1 drives the share instead (`sparse_share`; 0.2 -> 0.5 around 0.2).

    Why z-scores: min-max over a top list maps the 50th hit to 0 and the first to 1 whatever the gap,
    so a flat list weighs as much as one with a clear winner; standard deviations above the list's mean
    keep that difference, and put a cosine in 0.8-0.95 and a BM25 score in 5-50 on one scale.

    Measured with e5-small (`python -m benchmarks.fusion_lab`, MRR@10 over cmrc2018_trial / drcd_dev /
    dureader_robust_dev): see the README's fusion table. The one-signal gate before it (the dense
    confidence alone) stayed 0.003 below the better single retriever on drcd and DuReader; a
    confidence measured against the corpus's mean similarity reached the better single retriever on
    all three but ranked two fewer Civil Code articles first, since a corpus of one statute has a high
    mean similarity and every question then looked unsure to the dense model."""
    dense, sparse = ranked.get("dense") or [], ranked.get("sparse") or []
    ev = _evidence({k: v for k, v in ranked.items() if v})
    zd, fd = _zscores(dense)
    zs, fs = _zscores(sparse)
    if not dense:
        ws = 1.0
    elif not sparse:
        ws = 0.0
    elif dense_confidence is not None:
        top = sparse[0][0]
        ws = gate.share(dense_confidence, zs[top], _rank_in(dense, top, gate.depth))
    else:
        ws = sparse_share(sparse, margin_low, margin_high, margin_mid, margin_width)
    fused = []
    for doc_id, e in ev.items():
        s = (1.0 - ws) * zd.get(doc_id, fd) + ws * zs.get(doc_id, fs)
        fused.append(_hit(doc_id, s, e))
    fused.sort(key=lambda h: (-h.score, h.id))
    return fused
