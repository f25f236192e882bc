"""Fusion lab: rank every query of several eval sets once (dense and BM25 top lists with scores),
then score fusion rules from retrieval/fusion.py on all sets at once, so no rule is tuned on one set
blind to the others.

Usage (after `zhida eval DATASET_DIR...` has built the cached eval KBs with the default settings):
    python -m benchmarks.fusion_lab ../shared/data/eval/cmrc2018_trial ../shared/data/eval/drcd_dev \
        ../shared/data/eval/dureader_robust_dev \
        [--qa ../shared/data/qa/civil_code_dev.jsonl --doc ../shared/data/docs/zh_civil_code.pdf]
Prints MRR@10 per set and rule, and each rule's worst gap against the better single retriever of each set;
the lists are cached in $ZHIDA_HOME/eval-cache/<key>/lists.json. FUSION_GRID=1 scores the
neighbourhood of the product's gate instead, one weight moved at a time (see benchmarks/fusion_rules.py).
"""
from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from app.commands._common import settings, throwaway_catalog
from app.evaluation import dedupe, load_dataset, mrr_at, passage_filename, recall_at
from retrieval.sparse import B, K1

DEPTH = 100


@lru_cache(maxsize=1)
def _term_weight():
    """BM25's query-term weights as the product applies them (retrieval.term_weights), or None when the
    configuration turns them off (retrieval.weigh_query_terms); read once, not per query."""
    from app.services import query_settings
    from retrieval.term_weights import general_term_weight

    return general_term_weight if query_settings(settings()).weigh_query_terms else None


def _bm25_key() -> list:
    """What the cached lists depend on beyond the KB: BM25's k1, b and query-term weighting."""
    return [K1, B] + (["general-idf"] if _term_weight() is not None else [])


def _confidence(idx, dense, query_vector) -> float | None:
    """The dense confidence adaptive fusion computes for this query (retrieval.fusion.dense_confidence)."""
    from retrieval.fusion import dense_confidence

    sample = idx.dense.sample_vectors()
    if not dense or sample is None:
        return None
    return dense_confidence(dense[0][1], sample @ query_vector)


def _sparse_upper(idx, tok):
    """question -> the largest BM25 score any passage could get for its words (the sum of each word's
    highest weight)."""
    import numpy as np

    w = idx.sparse.weights.tocsr()
    row_max = np.zeros(w.shape[0], dtype=np.float64)
    nz = np.diff(w.indptr) > 0
    row_max[nz] = np.maximum.reduceat(w.data, w.indptr[:-1][nz])
    weight = _term_weight() or (lambda t: 1.0)
    return lambda question: float(sum(row_max[idx.sparse.vocab[t]] * weight(t) for t in tok(question)
                                      if t in idx.sparse.vocab))


def _query_lists(idx, tok, question: str, v, upper_of) -> dict:
    """One question's dense and BM25 top lists, both retrievers' exact scores for every candidate either
    returned (top 50 each), and the dense confidence adaptive fusion would compute."""
    import numpy as np

    dense = idx.dense.search(v, DEPTH)
    sparse = idx.sparse.search(question, DEPTH, tok, term_weight=_term_weight())
    union = sorted({i for i, _ in dense[:50]} | {i for i, _ in sparse[:50]})
    all_bm25 = idx.sparse.scores(tok(question), _term_weight())
    pos = {int(d): n for n, d in enumerate(idx.sparse.ids)}
    vecs = idx.dense.cpu_index.reconstruct_batch(np.asarray(union, dtype=np.int64))
    full = {str(i): [float(vec @ v), float(all_bm25[pos[i]])] for i, vec in zip(union, vecs)}
    return {"dense": dense, "sparse": sparse, "q": question, "sparse_upper": upper_of(question), "full": full,
            "dense_confidence": _confidence(idx, dense, v)}


def qa_lists(questions: Path, docs: list[Path], embedding: str | None = None) -> dict:
    """The same lists for the answerable questions of a `zhida eval-qa` set, over its throw-away KB; a
    question's gold is every chunk holding its passage_contains (whitespace ignored)."""
    from app.commands.eval_qa import qa_knowledge_base
    from app.qa_evaluation import load_qa, squash

    items = [i for i in load_qa(questions) if i.answerable and i.passage_contains]
    with qa_knowledge_base(settings(embedding), docs) as kb:
        idx = kb.refresh_indexes()
        tok = kb.tokenizer()
        texts = {r: squash(t) for r, t in kb.conn.execute("select row_id, text from chunks")}
        qv = kb.embedder().embed_queries([i.question for i in items])
        upper_of = _sparse_upper(idx, tok)
        out = [{"gold": [str(r) for r, t in texts.items() if squash(i.passage_contains) in t],
                **_query_lists(idx, tok, i.question, v, upper_of)} for i, v in zip(items, qv)]
    return {"queries": out, "row2pid": {str(r): str(r) for r in texts}}


def ranked_lists(ds_dir: Path, embedding: str | None = None) -> dict:
    """{"queries": [{"gold": [...], "dense": [[pid, score]...], "sparse": [...]}]} for one set, over the KB
    `zhida eval` cached for it with this embedding (default: the configured one)."""
    s = settings(embedding)
    with throwaway_catalog(s, [str(ds_dir.resolve())], fresh=False) as (cat, work):
        cache = work / "lists.json"
        if not cat.exists("eval"):
            raise SystemExit(f"run `zhida eval {ds_dir}{' --embedding ' + embedding if embedding else ''}` first: "
                             f"its cached KB is missing ({work})")
        from knowledge import db

        kb = cat.open("eval")
        generation = db.generation(kb.conn)
        data = json.loads(cache.read_text()) if cache.exists() else None
        if data is not None and (data.get("generation"), data.get("bm25")) != (generation, _bm25_key()):
            data = None  # the KB changed since the lists were taken (new chunks), or BM25's k1/b did
        if data is not None:
            if any("dense_confidence" not in q for q in data["queries"]):  # cached before it was recorded
                idx = kb.refresh_indexes()
                qv = kb.embedder().embed_queries([q["q"] for q in data["queries"]])
                for q, v in zip(data["queries"], qv):
                    q["dense_confidence"] = _confidence(idx, q["dense"], v)
                cache.write_text(json.dumps(data, ensure_ascii=False))
            return data
        ds = load_dataset(ds_dir)
        idx = kb.refresh_indexes()
        tok = kb.tokenizer()
        name2pid = {passage_filename(p.id): p.id for p in ds.passages}
        rows = kb.conn.execute("select c.row_id, d.path from chunks c join documents d on d.id = c.doc_id")
        row2pid = {r: name2pid.get(Path(p).name, p) for r, p in rows}
        qs = [q for q in ds.queries if q.gold_ids]
        qv = kb.embedder().embed_queries([q.question for q in qs])
        upper_of = _sparse_upper(idx, tok)
        out = [{"gold": list(q.gold_ids), **_query_lists(idx, tok, q.question, v, upper_of)} for q, v in zip(qs, qv)]
        data = {"queries": out, "row2pid": {str(k): v for k, v in row2pid.items()}, "generation": generation,
                "bm25": _bm25_key()}
        cache.write_text(json.dumps(data, ensure_ascii=False))
        return data


def evaluate(data: dict, fuse) -> tuple[float, float]:
    """(MRR@10, Recall@5) of a rule `fuse({"dense": [(row, s)], "sparse": [...]}, question) -> [row ...]`."""
    mrr = r5 = 0.0
    row2pid = data["row2pid"]
    for q in data["queries"]:
        lists = {"dense": [tuple(x) for x in q["dense"]], "sparse": [tuple(x) for x in q["sparse"]]}
        ranked = dedupe(row2pid[str(i)] for i in fuse(lists, q))
        gold = set(q["gold"])
        mrr += mrr_at(ranked, gold)
        r5 += recall_at(ranked, gold, 5)
    n = len(data["queries"])
    return mrr / n, r5 / n


def main(argv: list[str]) -> None:
    import argparse

    from benchmarks.fusion_rules import GRID, RULES
    if os.environ.get("FUSION_GRID"):
        RULES = {**{k: RULES[k] for k in ("dense", "sparse")}, **GRID}
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fusion_lab")
    ap.add_argument("datasets", nargs="+", type=Path, help="eval set folders (zhida eval has cached their KBs)")
    ap.add_argument("--qa", type=Path, help="a zhida eval-qa QUESTIONS.jsonl, scored as a check beside the sets "
                    "(its MRR@10 of the gold chunk; not part of the min gap)")
    ap.add_argument("--doc", type=Path, action="append", default=[], help="the documents of --qa (repeatable)")
    ap.add_argument("--embedding", help="embedding model of the cached KBs (default: the configured one); "
                    "`zhida eval SETS --embedding MODEL` builds them")
    args = ap.parse_args(argv)
    if args.qa and not args.doc:
        ap.error("--qa needs the documents it asks about: --doc FILE")

    sets = {p.name: ranked_lists(p, args.embedding) for p in args.datasets}
    names = list(sets)
    if args.qa:
        sets["qa:" + args.qa.stem] = qa_lists(args.qa, args.doc, args.embedding)
    print(f"{'rule':38s}" + "".join(f"{n[:14]:>16s}" for n in sets) + f"{'min gap':>10s}")
    base = {n: max(evaluate(sets[n], RULES['dense'])[0], evaluate(sets[n], RULES['sparse'])[0]) for n in names}
    for rule, fuse in RULES.items():
        vals = {n: evaluate(d, fuse)[0] for n, d in sets.items()}
        gap = min(vals[n] - base[n] for n in names)
        print(f"{rule:38s}" + "".join(f"{v:16.4f}" for v in vals.values()) + f"{gap:+10.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
