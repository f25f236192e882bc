"""How well chunks follow a document's articles: python -m benchmarks.chunk_units FILE... [--json]

For each file: chunks, median/max length, share of chunks that open at an article, articles cut
across chunks, articles sharing a chunk with other text, contents (toc) chunks. Two chunkers on
the same parsed sections: `units` (ingest.chunk_document) and `sentences` (the sentence splitter
alone, 500/80 by default: what Zhida did before articles were units; it also indexed the toc).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys


def _sentence_chunks(doc, settings):
    """(section index, start, end, text) of the plain sentence splitter, tables aside."""
    from ingest.chunking import split_text

    out = []
    for i, s in enumerate(doc.sections):
        if s.kind != "table":
            out.extend((i, a, b, s.text[a:b]) for a, b in split_text(s.text, settings))
    return out


def _stats(doc, chunks) -> dict:
    from ingest.units import article_label, find_units

    articles = [(i, u.start, u.end) for i, s in enumerate(doc.sections) if s.kind == "text"
                for u in find_units(s.text)[1]]
    by_section: dict[int, list] = {}
    for c in chunks:
        by_section.setdefault(c[0], []).append(c)
    cut = shared = 0
    for i, a, b in articles:
        over = [c for c in by_section.get(i, []) if c[1] < b and c[2] > a]
        cut += len(over) > 1
        shared += len(over) == 1 and (over[0][1] < a or over[0][2] > b)
    lengths = [len(c[3]) for c in chunks] or [0]
    toc = sum(1 for c in chunks if doc.sections[c[0]].kind == "toc")
    opens = sum(1 for c in chunks if article_label(c[3]))
    return {"chunks": len(chunks), "median_len": statistics.median(lengths), "max_len": max(lengths),
            "open_at_article": round(opens / max(1, len(chunks)), 3), "articles": len(articles),
            "articles_cut": cut, "articles_sharing_a_chunk": shared, "toc_chunks": toc}


def main(argv: list[str] | None = None) -> int:
    import ingest

    p = argparse.ArgumentParser(prog="python -m benchmarks.chunk_units", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--chunk-overlap", type=int, default=80)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    settings = ingest.ChunkSettings(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    results = {}
    for path in args.files:
        doc = ingest.load_document(path, ingest.LoadOptions(ocr=False))
        units = [(c.section_index, c.char_start, c.char_end, c.text)
                 for c in ingest.chunk_document(doc, settings, "0" * 64) if c.kind != "table"]
        results[path] = {"units": _stats(doc, units), "sentences": _stats(doc, _sentence_chunks(doc, settings))}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    for path, by in results.items():
        print(path)
        for name, st in by.items():
            print(f"  {name:9} " + "  ".join(f"{k}={v}" for k, v in st.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
