"""Parsers run in a worker process with a time and memory limit: a file that hangs, segfaults or eats
memory fails alone with a reason; the caller and the other files are fine."""
from __future__ import annotations

import functools
import os
import signal

import pytest

from ingest import ChunkSettings, IngestError, LoadOptions
from ingest.isolated import ParserLimits, ParserPool
from knowledge import Catalog, IngestSettings
from retrieval import load_embedder

HOSTILE = "tests.reliability.hostile:work"
pytestmark = pytest.mark.skipif(os.name != "posix", reason="RLIMIT_AS and signals are POSIX")


def _write(folder, names):
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / n).write_text(f"{n} 的内容讲述知识库。 plain words about {n}\n" * 5, encoding="utf-8")
    return folder


def _parse(pool, path):
    try:
        doc, chunks = pool.parse(path, LoadOptions(), ChunkSettings(), "0" * 64)
        return "ok", len(chunks)
    except IngestError as exc:
        assert exc.reason and "\n" not in exc.reason
        return exc.kind, exc.reason


def test_hang_crash_and_memory_hog_fail_alone_and_the_worker_is_replaced(tmp_path):
    d = _write(tmp_path / "d", ["ok.txt", "hang.txt", "segv.txt", "hog.txt", "exit.txt", "ok2.txt"])
    with ParserPool(ParserLimits(timeout_s=2, memory_mb=512), work=HOSTILE) as pool:
        assert _parse(pool, d / "ok.txt")[0] == "ok"
        assert _parse(pool, d / "hang.txt") == ("timeout", "parser timed out after 2 s")
        assert _parse(pool, d / "segv.txt") == ("crashed", "parser crashed (signal SIGSEGV)")
        assert _parse(pool, d / "hog.txt") == ("too_large", "ran out of memory while parsing (limit 512 MB)")
        assert _parse(pool, d / "exit.txt") == ("crashed", "parser crashed (exit code 3)")
        assert _parse(pool, d / "ok2.txt")[0] == "ok"
        assert pool.restarts == 3


def test_one_worker_serves_many_files_and_a_dead_worker_is_restarted(tmp_path):
    d = _write(tmp_path / "d", ["pid1.txt", "pid2.txt", "pid3.txt"])
    with ParserPool(ParserLimits(timeout_s=30), work=HOSTILE) as pool:
        first = _parse(pool, d / "pid1.txt")[1]
        assert _parse(pool, d / "pid2.txt")[1] == first  # reused, not one process per file
        assert int(first) != os.getpid()
        os.kill(int(first), signal.SIGKILL)  # killed between files (OOM killer, a user)
        third = _parse(pool, d / "pid3.txt")[1]
        assert third != first


def test_ingest_records_the_reason_and_keeps_the_rest(tmp_path, monkeypatch):
    import knowledge.base

    monkeypatch.setattr(knowledge.base, "ParserPool", functools.partial(ParserPool, work=HOSTILE))
    folder = _write(tmp_path / "docs", ["a.txt", "hang.txt", "segv.md", "hog.txt", "b.md"])
    cat = Catalog(tmp_path / "home", embedder_loader=lambda m: load_embedder("hashing"),
                  ingest=IngestSettings(parser_timeout_s=2, parser_memory_mb=512))
    kb = cat.create("iso")
    report = kb.ingest([folder])
    by = {os.path.basename(f.path): f for f in report.files}
    assert by["a.txt"].status == by["b.md"].status == "added"
    assert (by["hang.txt"].error_kind, by["hang.txt"].reason) == ("timeout", "parser timed out after 2 s")
    assert by["segv.md"].reason == "parser crashed (signal SIGSEGV)"
    assert "ran out of memory" in by["hog.txt"].reason
    assert kb.stats()["documents"] == 5 and kb.stats()["failed"] == 3
    assert kb.search("知识库", k=3)
    # the failures stay recorded with their reason, and a re-run does not retry unchanged files
    again = kb.ingest([folder])
    assert {f.status for f in again.files} == {"unchanged", "failed"}
    assert {d["error"] for d in kb.documents() if d["status"] == "failed"} >= {"parser timed out after 2 s"}


def test_isolation_can_be_turned_off(tmp_path, monkeypatch):
    import knowledge.base

    monkeypatch.setattr(knowledge.base, "ParserPool", lambda *a, **k: pytest.fail("isolation is off"))
    folder = _write(tmp_path / "docs", ["a.txt"])
    cat = Catalog(tmp_path / "home", embedder_loader=lambda m: load_embedder("hashing"),
                  ingest=IngestSettings(isolate_parsers=False))
    assert cat.create("inproc").ingest([folder]).summary()["added"] == 1


def test_config_keys_reach_the_ingest_settings(monkeypatch, tmp_path):
    from app import services

    (tmp_path / "config.yaml").write_text("ingest:\n  isolate_parsers: false\n  parser_timeout_s: 7\n"
                                          "  parser_memory_mb: 300\n", encoding="utf-8")
    from app.config import load_settings

    st = services.ingest_settings(load_settings(home=tmp_path))
    assert (st.isolate_parsers, st.parser_timeout_s, st.parser_memory_mb) == (False, 7.0, 300)
    default = services.ingest_settings(load_settings(home=tmp_path / "none"))
    assert default.isolate_parsers and default.parser_timeout_s == 300 and default.parser_memory_mb == 2048


def test_the_parser_process_stays_warm_between_ingests_and_goes_with_the_kb(tmp_path, monkeypatch):
    """A server's uploads and a watched folder's bursts ingest one file at a time: the worker is started
    once per KB, survives the thread that first used it (Linux's parent-death signal follows the thread
    that started a child, so it is started from a long-lived one), and is closed with the KB."""
    import threading
    import time

    folder = _write(tmp_path / "docs", ["a.txt", "b.txt", "c.txt"])
    cat = Catalog(tmp_path / "home", embedder_loader=lambda m: load_embedder("hashing"))
    kb = cat.create("warm")
    first = threading.Thread(target=kb.ingest, args=([str(folder / "a.txt")],))
    first.start()
    first.join()
    worker = kb._parser_pool._worker
    time.sleep(0.5)  # a killed worker would be gone by now
    assert worker.alive()
    for name in ("b.txt", "c.txt"):
        assert kb.ingest([str(folder / name)]).summary()["added"] == 1
        assert kb._parser_pool._worker is worker and worker.alive()
    assert kb._parser_pool.restarts == 0
    kb.close()
    assert worker.wait(5) is not None  # gone with the KB

    import knowledge.base

    monkeypatch.setattr(knowledge.base, "PARSER_IDLE_S", 0.3)
    idle = cat.open("warm")
    (folder / "d.txt").write_text("第四个文件的内容。", encoding="utf-8")
    idle.ingest([str(folder / "d.txt")])
    worker = idle._parser_pool._worker
    assert worker.wait(5) is not None and idle._parser_pool is None  # stopped once idle for PARSER_IDLE_S
    (folder / "e.txt").write_text("第五个文件的内容。", encoding="utf-8")
    assert idle.ingest([str(folder / "e.txt")]).summary()["added"] == 1  # and started again when needed
    idle.close()
