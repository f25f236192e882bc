"""How well the source viewer finds passages on their PDF pages, and how long a page takes to render.

    python -m benchmarks.viewer_highlight [PDF ...] [--zoom 1.5] [--limit 400]

Each PDF is parsed and chunked exactly as ingest does (ingest.load_document + chunk_document, default
chunk settings); every chunk is then located on each of its pages the way
GET /api/kbs/{kb}/chunks/{id}/source does (app.sources.render_pdf_page) and the share of the passage
found is recorded. Prints, per file: chunks, the share of chunks highlighted at >= 90 % / >= 50 % /
not at all, and render milliseconds per page (median and p95). Defaults to the shared Civil Code and
Federal Register PDFs (a two-column layout).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"
DEFAULTS = [SHARED / "zh_civil_code.pdf", SHARED / "en_federal_register.pdf", SHARED / "en_table_nics.pdf"]


def measure(pdf: Path, zoom: float, limit: int) -> dict:
    from ingest import ChunkSettings, chunk_document, load_document
    from app.sources import render_pdf_page

    doc = load_document(pdf)
    chunks = chunk_document(doc, ChunkSettings(), "bench")[:limit]
    best: list[float] = []
    ms: list[float] = []
    misses: list[str] = []
    for c in chunks:
        pages = range(c.page or 1, (c.page_end or c.page or 1) + 1)
        got = 0.0
        for p in pages:
            t0 = time.perf_counter()
            img = render_pdf_page(pdf, p, c.text, zoom)
            ms.append((time.perf_counter() - t0) * 1000)
            got += img.coverage
        best.append(min(1.0, got))  # a passage over two pages: each page highlights its own part
        if got < 0.5 and len(misses) < 3:
            misses.append(f"p.{c.page} {c.kind}: {c.text[:60]!r}")
    n = len(best) or 1
    ms.sort()
    return {"file": pdf.name, "chunks": len(best), "ge90": sum(b >= 0.9 for b in best) / n,
            "ge50": sum(b >= 0.5 for b in best) / n, "none": sum(b == 0 for b in best) / n,
            "ms_median": statistics.median(ms) if ms else 0.0, "ms_p95": ms[int(0.95 * (len(ms) - 1))] if ms else 0.0,
            "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pdfs", nargs="*", type=Path)
    ap.add_argument("--zoom", type=float, default=1.5)
    ap.add_argument("--limit", type=int, default=400, help="chunks per file at most")
    args = ap.parse_args()
    for pdf in args.pdfs or [p for p in DEFAULTS if p.exists()]:
        r = measure(pdf, args.zoom, args.limit)
        print(f"{r['file']}: {r['chunks']} chunks; highlighted >=90%: {r['ge90']:.1%}, >=50%: {r['ge50']:.1%}, "
              f"none: {r['none']:.1%}; render {r['ms_median']:.0f} ms/page median, {r['ms_p95']:.0f} ms p95")
        for m in r["misses"]:
            print("   missed:", m)


if __name__ == "__main__":
    main()
