"""Offline fusion tuning on a cached `zhida eval` KB: rank once per query, then fuse many ways.

Usage: python benchmarks/tune_fusion.py DATASET_DIR $ZHIDA_HOME/eval-cache/<key> [LIMIT]
"""
import json, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import services
from app.config import load_settings
from app.evaluation import load_dataset, dedupe, mrr_at, recall_at
from knowledge import Catalog
from retrieval import reciprocal_rank_fusion, weighted_fusion

ds_dir, cache = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
s = load_settings()
cat = Catalog(Path(cache) / "home", embedder_loader=services.embedder_loader(s))
kb = cat.open("eval")
ds = load_dataset(Path(ds_dir), limit)
idx = kb.refresh_indexes()
emb = kb.embedder(); tok = kb.tokenizer()
import sqlite3
conn = sqlite3.connect(kb.path / "kb.sqlite")
rowmap = {r: Path(p).name for r, p in conn.execute("select c.row_id, d.path from chunks c join documents d on d.id=c.doc_id")}
name2pid = {}
for p in ds.passages:
    from app.evaluation import passage_filename
    name2pid[passage_filename(p.id)] = p.id
qs = [q for q in ds.queries if q.gold_ids]
t = time.time()
lists = []
qv = emb.embed_documents([q.question for q in qs]) if hasattr(emb, "embed_documents") else None
for i, q in enumerate(qs):
    d = idx.dense.search(emb.embed_query(q.question) if qv is None else qv[i], 50)
    sp = idx.sparse.search(q.question, 50, tok)
    lists.append({"dense": d, "sparse": sp})
print("ranked in", round(time.time() - t, 1), "s", file=sys.stderr)
def score(fuse):
    mrr = r5 = 0
    for q, l in zip(qs, lists):
        hits = fuse(l)
        ranked = dedupe(name2pid[rowmap[h.id]] for h in hits)
        g = set(q.gold_ids)
        mrr += mrr_at(ranked, g); r5 += recall_at(ranked, g, 5)
    return round(r5 / len(qs), 4), round(mrr / len(qs), 4)
rows = []
rows.append(("dense", score(lambda l: reciprocal_rank_fusion({"dense": l["dense"]}))))
rows.append(("sparse", score(lambda l: reciprocal_rank_fusion({"sparse": l["sparse"]}))))
for k in (10, 60):
    for w in (0.5, 0.3, 0.2):
        rows.append((f"rrf k={k} wd={w}", score(lambda l, k=k, w=w: reciprocal_rank_fusion(l, k=k, weights={"dense": w, "sparse": 1 - w}))))
for w in (0.5, 0.3, 0.2, 0.1):
    rows.append((f"weighted wd={w}", score(lambda l, w=w: weighted_fusion(l, {"dense": w, "sparse": 1 - w}))))
for name, (r5, mrr) in rows:
    print(f"{name:22s} R@5 {r5:.4f}  MRR@10 {mrr:.4f}")
