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


RULES = {"dense": single("dense"), "sparse": single("sparse"), "rrf k60": rrf()}
for wd in (0.1, 0.3, 0.5, 0.7):
    RULES[f"minmax wd={wd}"] = minmax(wd)
for wd in (0.3, 0.4, 0.5, 0.6, 0.7):
    RULES[f"zscore wd={wd}"] = zscore(wd)
