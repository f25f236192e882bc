"""Embedding speed of every offline embedder on the same chunks, in one run.

    python -m benchmarks.embed_speed [--chunks 64] [--models e5-small,use-multilingual,m3e-small,minilm-packaged]

Chunks: the Civil Code PDF from ../shared/data/docs cut into ~390-character pieces (the real
documents users ingest), else generated Chinese text of the same length. Each model embeds the
chunks once to warm up, then three timed passes; the table gives the median chunks/s and the
thread settings the run used (compute libraries follow the cores this process may use).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

CIVIL_CODE = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs" / "zh_civil_code.pdf"


def sample_chunks(n: int, size: int = 390) -> tuple[list[str], str]:
    if CIVIL_CODE.is_file():
        from ingest import load_document

        text = "".join(s.text for s in load_document(CIVIL_CODE).sections)
        pieces = [text[i:i + size] for i in range(0, len(text) - size, size)]
        step = max(1, len(pieces) // n)
        return pieces[::step][:n], f"{CIVIL_CODE.name}, {size}-character pieces"
    base = "民事主体从事民事活动，应当遵循诚信原则，秉持诚实，恪守承诺。"
    return [(base * (size // len(base) + 1))[:size] for _ in range(n)], f"generated text, {size} characters"


def measure(model: str, chunks: list[str], passes: int = 3) -> dict:
    from retrieval import load_embedder
    from retrieval.errors import ModelLoadError

    try:
        t0 = time.perf_counter()
        emb = load_embedder(model, device="cpu")
        load_s = time.perf_counter() - t0
    except ModelLoadError as exc:
        return {"model": model, "error": str(exc)[:120]}
    emb.embed_documents(chunks[:8])
    rates = []
    for _ in range(passes):
        t0 = time.perf_counter()
        emb.embed_documents(chunks)
        rates.append(len(chunks) / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    for q in ("收养一个十岁的孩子，需要孩子本人同意吗？", "How long do refunds take?") * 5:
        emb.embed_query(q)
    query_ms = (time.perf_counter() - t0) / 10 * 1000
    return {"model": model, "chunks_per_s": round(statistics.median(rates), 1), "query_ms": round(query_ms, 1),
            "load_s": round(load_s, 2)}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.embed_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, default=64)
    p.add_argument("--models", default="e5-small,use-multilingual,m3e-small,minilm-packaged")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from retrieval.threads import cpu_threads

    chunks, where = sample_chunks(args.chunks)
    rows = [measure(m.strip(), chunks) for m in args.models.split(",") if m.strip()]
    info = {"chunks": len(chunks), "source": where, "threads": cpu_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    if args.json:
        print(json.dumps({"info": info, "models": rows}))
        return
    print(f"{len(chunks)} chunks ({where}); compute threads {info['threads']}", file=sys.stderr)
    print(f"{'model':20s} {'chunks/s':>9s} {'query ms':>9s} {'load s':>7s}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:20s} not available: {r['error']}")
        else:
            print(f"{r['model']:20s} {r['chunks_per_s']:9.1f} {r['query_ms']:9.1f} {r['load_s']:7.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
