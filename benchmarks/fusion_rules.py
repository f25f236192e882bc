"""Candidate fusion rules for benchmarks/fusion_lab.py: each takes {"dense": [(row, score)], "sparse": [...]}
and the question, and returns rows best first."""
from __future__ import annotations

import numpy as np

from retrieval.fusion import reciprocal_rank_fusion, weighted_fusion


def _ids(hits):
    return [h.id for h in hits]


def single(name):
    return lambda l, q: [i for i, _ in l[name]]


def rrf(k=60, wd=0.5):
    return lambda l, q: _ids(reciprocal_rank_fusion(l, k=k, weights={"dense": wd, "sparse": 1 - wd}))


def minmax(wd):
    return lambda l, q: _ids(weighted_fusion(l, {"dense": wd, "sparse": 1 - wd}))


def zscore(wd, depth=50, missing="min"):
    def fuse(l, q):
        agg = {}
        for name, w in (("dense", wd), ("sparse", 1 - wd)):
            lst = l[name][:depth]
            if len(lst) < 2:
                continue
            s = np.array([x for _, x in lst])
            mu, sd = s.mean(), s.std() or 1.0
            z = (s - mu) / sd
            floor = z.min()
            for (i, _), zz in zip(lst, z):
                agg.setdefault(i, {})[name] = zz
            for i in agg:
                agg[i].setdefault(name + "_floor", floor)
        out = []
        for i, v in agg.items():
            tot = 0.0
            for name, w in (("dense", wd), ("sparse", 1 - wd)):
                if name in v:
                    tot += w * v[name]
                elif name + "_floor" in v:
                    tot += w * v[name + "_floor"]
            out.append((tot, i))
        out.sort(key=lambda x: (-x[0], x[1]))
        return [i for _, i in out]
    return fuse




def _z(lst, depth=50):
    s = np.array([x for _, x in lst[:depth]], dtype=np.float64)
    if len(s) < 2:
        return {}, 0.0
    mu, sd = s.mean(), s.std() or 1.0
    z = (s - mu) / sd
    return {i: zz for (i, _), zz in zip(lst[:depth], z)}, float(z.min())


def adaptive(base_wd=0.7, gamma=0.5, norm="z", signal="upper"):
    """Sparse weight grows with how completely BM25's top hit matches the query."""
    def fuse(l, q):
        sp = l["sparse"]
        if not sp:
            return [i for i, _ in l["dense"]]
        if signal == "upper":
            m = sp[0][1] / q["sparse_upper"] if q.get("sparse_upper") else 0.0
        else:  # margin
            m = (sp[0][1] - sp[1][1]) / sp[0][1] if len(sp) > 1 and sp[0][1] > 0 else 1.0
        ws = min(1.0, max(0.0, (1 - base_wd) + gamma * (m - 0.5)))
        wd = 1 - ws
        if norm == "z":
            zd, fd = _z(l["dense"])
            zs, fs = _z(sp)
        else:
            from retrieval.fusion import weighted_fusion
            return _ids(weighted_fusion(l, {"dense": wd, "sparse": ws}))
        ids = set(zd) | set(zs)
        out = sorted(ids, key=lambda i: (-(wd * zd.get(i, fd) + ws * zs.get(i, fs)), i))
        return out
    return fuse


def product_adaptive(l, q):
    """retrieval.fusion.adaptive_fusion as the product runs it (depth 50, as `candidates`), with the
    dense confidence the retriever computes from the index's vector sample."""
    from retrieval.fusion import adaptive_fusion

    return _ids(adaptive_fusion({"dense": l["dense"][:50], "sparse": l["sparse"][:50]},
                                dense_confidence=q.get("dense_confidence")))


def margin_only(l, q):
    """adaptive_fusion without a baseline: BM25's top-1 margin alone (the rule before the confidence gate,
    and what a store that cannot give its vectors back still gets)."""
    from retrieval.fusion import adaptive_fusion

    return _ids(adaptive_fusion({"dense": l["dense"][:50], "sparse": l["sparse"][:50]}))


def confidence_gate(low, high, mid, width):
    """The one-signal gate before the product's three-signal one: BM25's share falls from `high` to
    `low` as the dense confidence (the top hit's z-score against the query's similarities to a sample of
    the corpus) rises past `mid`."""
    from retrieval.fusion import ShareGate

    return gate_rule(ShareGate(low=low, high=high, dense_mid=mid, dense_weight=1.0 / width,
                               bm25_weight=0.0, agreement_weight=0.0))


def gate_rule(gate):
    """adaptive_fusion as the product runs it, with another `retrieval.fusion.ShareGate`."""
    from retrieval.fusion import adaptive_fusion

    return lambda l, q: _ids(adaptive_fusion({"dense": l["dense"][:50], "sparse": l["sparse"][:50]},
                                             dense_confidence=q.get("dense_confidence"), gate=gate))


def full_z(wd=0.5, gate=None):
    """Both retrievers' exact scores for the union of candidates, z-scored with each retriever's own
    top-50 statistics (no 'missing' floor), then a convex combination; `gate(zs1, zd1) -> ws` optional."""
    def fuse(l, q):
        full = {int(k): v for k, v in q.get("full", {}).items()}
        if not full:
            return [i for i, _ in l["dense"]] or [i for i, _ in l["sparse"]]
        stats = []
        for name in ("dense", "sparse"):
            s = np.array([x for _, x in l[name][:50]], dtype=np.float64)
            stats.append((s.mean(), s.std() or 1.0) if len(s) > 1 else (0.0, 1.0))
        (md, sd), (ms, ss) = stats
        ws = 1 - wd
        if gate is not None and l["sparse"] and l["dense"]:
            zs1 = (l["sparse"][0][1] - ms) / ss
            zd1 = (l["dense"][0][1] - md) / sd
            ws = gate(zs1, zd1)
        score = {i: (1 - ws) * (v[0] - md) / sd + ws * (v[1] - ms) / ss for i, v in full.items()}
        return sorted(score, key=lambda i: (-score[i], i))
    return fuse


def _gate(lo, hi, mid, width):
    return lambda zs1, zd1: lo + (hi - lo) / (1 + np.exp(-((zs1 - zd1) - mid) / width))


# What `python -m benchmarks.fusion_lab` prints: single retrievers, the families tried, the product rule.
RULES = {"dense": single("dense"), "sparse": single("sparse"), "rrf k60": rrf()}
for wd in (0.1, 0.3, 0.5, 0.7):
    RULES[f"minmax wd={wd}"] = minmax(wd)
for wd in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
    RULES[f"zscore wd={wd}"] = zscore(wd)
for wd in (0.5, 0.7, 0.8, 0.9):
    RULES[f"rrf k60 wd={wd}"] = rrf(60, wd)
for wd in (0.3, 0.5, 0.7):
    RULES[f"full-z wd={wd}"] = full_z(wd)
for bw, g in ((0.7, 0.5), (0.7, 1.0)):
    RULES[f"adapt-upper z wd={bw} g={g}"] = adaptive(bw, g)
for lo, hi, mid in ((0.1, 0.8, 1.5), (0.2, 0.6, 0.5)):
    RULES[f"full-z gate {lo}/{hi} mid={mid}"] = full_z(gate=_gate(lo, hi, mid, 0.5))
RULES["margin only (no baseline)"] = margin_only
RULES["dense confidence only (before)"] = confidence_gate(0.1, 0.7, 4.0, 0.7)
RULES["adaptive (product)"] = product_adaptive

# FUSION_GRID=1: the neighbourhood of the product's gate, one parameter moved at a time: the weights
# were fitted on all sets at once (largest worst-case gain over the better single retriever of each set),
# and this shows how flat the ground around them is.
GRID = {"adaptive (product)": product_adaptive}


def _neighbours():
    from dataclasses import fields, replace

    from retrieval.fusion import DEFAULT_GATE

    for f in fields(DEFAULT_GATE):
        if f.name == "depth":
            continue
        base = getattr(DEFAULT_GATE, f.name)
        for factor in (0.8, 0.9, 1.1, 1.2):
            value = round(base * factor, 3)
            yield f"gate {f.name}={value}", gate_rule(replace(DEFAULT_GATE, **{f.name: value}))


GRID.update(_neighbours())
