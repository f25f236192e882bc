"""Fuzz: mutated PDF/DOCX/XLSX copies and bombs go through a real ingest. Every file ends ingested or
failed with a one-line reason; nothing hangs, the calling process survives and its memory stays bounded.

Fast: ~30 mutations and small bombs. Slow (-m slow): 400 mutations and full-size bombs
(1 GB zip bomb, 100,000-deep HTML, a 200 MB single-line text file)."""
from __future__ import annotations

import collections
import resource
import time

import pytest

from knowledge import Catalog, IngestSettings
from retrieval import load_embedder
from tests.reliability import fuzz

pytestmark = pytest.mark.skipif(not hasattr(resource, "getrusage"), reason="POSIX only")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run(tmp_path, files, *, timeout_s: float, max_growth_mb: float):
    folder = files[0].parent
    cat = Catalog(tmp_path / "home", embedder_loader=lambda m: load_embedder("hashing"),
                  ingest=IngestSettings(parser_timeout_s=timeout_s, parser_memory_mb=1536, ocr=False))
    kb = cat.create("fuzz")
    before = _peak_rss_mb()
    t0 = time.monotonic()
    report = kb.ingest([folder])
    seconds = time.monotonic() - t0
    growth = _peak_rss_mb() - before
    by_name = {f.path.rsplit("/", 1)[-1]: f for f in report.files}
    assert set(by_name) == {p.name for p in files}
    outcomes = collections.Counter()
    for name, f in by_name.items():
        assert f.status in ("added", "failed"), (name, f.status)
        if f.status == "failed":
            assert f.reason and "\n" not in f.reason and f.error_kind, (name, f.reason)
        outcomes[f.status if f.status == "added" else f"failed:{f.error_kind}"] += 1
    print(f"\nfuzz: {len(files)} files in {seconds:.1f} s, outcomes {dict(sorted(outcomes.items()))}, "
          f"peak RSS growth {growth:.0f} MB")
    assert growth < max_growth_mb, f"the calling process grew by {growth:.0f} MB"
    stats = kb.stats()
    assert stats["documents"] == len(files) and stats["failed"] == sum(
        v for k, v in outcomes.items() if k.startswith("failed"))
    assert isinstance(kb.search("知识库 table", k=3), list)  # the KB still answers
    return by_name


def _check_bombs(by_name):
    assert by_name["zip-bomb.docx"].error_kind == "too_large" and "zip bomb" in by_name["zip-bomb.docx"].reason
    assert by_name["entity-bomb.docx"].status == "failed"
    assert by_name["empty-10000-pages.pdf"].error_kind == "empty"
    assert by_name["nested.html"].status in ("added", "failed")


def test_fuzz_fast(tmp_path):
    mutated = fuzz.mutated_corpus(tmp_path / "in", fuzz.seeds(tmp_path / "seeds"), 30, seed=1)
    boms = fuzz.bombs(tmp_path / "in", big=False)
    # the small run keeps the single-line file small; the slow run uses 200 MB
    fuzz.single_line_text(tmp_path / "in" / "one-line.txt", 2)
    by_name = _run(tmp_path, mutated + boms, timeout_s=60, max_growth_mb=400)
    _check_bombs(by_name)
    assert by_name["one-line.txt"].status == "added"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_fuzz_slow(tmp_path):
    mutated = fuzz.mutated_corpus(tmp_path / "in", fuzz.seeds(tmp_path / "seeds"), 400, seed=2)
    boms = fuzz.bombs(tmp_path / "in", big=True)
    by_name = _run(tmp_path, mutated + boms, timeout_s=120, max_growth_mb=600)
    _check_bombs(by_name)
    assert by_name["one-line.txt"].status == "failed"  # over max_chunks or the memory cap, with the reason
