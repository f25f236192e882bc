"""One-file ingests, as a server's uploads and a watched folder's bursts make them: a fresh parser worker
each time against the KB's warm one (knowledge.base.KnowledgeBaseCore._parser), interleaved.

    python -m benchmarks.warm_parser [--files 12] [--json]

Files: generated small PDFs and DOCX of the ingest benchmark (benchmarks.corpus.generated_docs); the
embedder is the hashing one, so the model's time does not hide what the parser process costs.
Prints median seconds per ingest both ways on stderr and, with --json, one object on stdout.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.corpus import generated_docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from knowledge import Catalog, IndexSettings
    from retrieval import HashingEmbedder

    emb = HashingEmbedder(64)
    emb.model_id = "hashing"
    docs = generated_docs(100)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="zhida-warm-parser-") as home:
        cat = Catalog(Path(home), embedder_loader=lambda _: emb, defaults=IndexSettings("hashing"))
        warm, cold = cat.create("warm"), cat.create("cold")
        for suffix in (".pdf", ".docx"):
            files = sorted(docs.glob(f"*{suffix}"))[:2 * args.files + 1]
            warm.ingest([str(files[0])])  # starts the warm worker (and loads this format's parser); not timed
            for i in range(1, len(files) - 1, 2):  # the same format both ways, interleaved
                for way, kb, path in (("warm", warm, files[i]), ("fresh", cold, files[i + 1])):
                    start = time.perf_counter()
                    report = kb.ingest([str(path)])
                    times.setdefault(f"{suffix[1:]}, {way} worker", []).append(time.perf_counter() - start)
                    if way == "fresh":
                        kb._close_parser()  # what every ingest did before workers were kept
                    assert report.summary()["added"] == 1, report.summary()
        warm.close()
        cold.close()
    out = {k: {"median_s": round(statistics.median(v), 3), "n": len(v)} for k, v in times.items()}
    for fmt in ("pdf", "docx"):
        fresh, warm_s = out[f"{fmt}, fresh worker"]["median_s"], out[f"{fmt}, warm worker"]["median_s"]
        print(f"{fmt:<5} one-file ingest, median of {out[f'{fmt}, warm worker']['n']}: fresh worker {fresh:.3f} s, "
              f"warm worker {warm_s:.3f} s ({fresh / warm_s:.1f}x)", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
