"""Faults short of a kill: corrupt or stale caches, a full disk, KBs from another schema version."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from knowledge import Catalog, caches, db
from knowledge.errors import SchemaError, StorageError
from retrieval import load_embedder


def _corpus(folder, n=12):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"d{i:02d}.txt").write_text((f"第{i}份文件讲述知识库的主题{i}。" * 20) + f"\n\nenglish topic{i} words",
                                             encoding="utf-8")
    return folder


@pytest.fixture()
def kb(tmp_path):
    cat = Catalog(tmp_path / "home", embedder_loader=lambda m: load_embedder("hashing"))
    kb = cat.create("faults", embedding_model="hashing")
    kb.ingest([_corpus(tmp_path / "docs")])
    return kb


def _reopen(kb):
    cat = Catalog(kb.path.parent.parent, embedder_loader=lambda m: load_embedder("hashing"))
    return cat.open(kb.name)


def _answers(kb):
    return [(h.chunk_id, round(h.score, 5)) for h in kb.search("知识库 主题3 topic3", k=5)]


def _stamp(kb):
    return json.loads((kb.path / "cache" / "stamp.json").read_text())


@pytest.mark.parametrize("damage", ["truncate-dense", "truncate-bm25", "empty-dense", "garbage-stamp",
                                    "wrong-generation", "other-generation-files", "missing-bm25", "truncate-indptr"])
def test_corrupt_or_stale_cache_is_rebuilt_never_served(kb, damage):
    reference = _answers(kb)
    cache = kb.path / "cache"
    st = _stamp(kb)
    dense, sparse = cache / st["dense"], cache / st["sparse"]
    if damage == "truncate-dense":
        dense.write_bytes(dense.read_bytes()[: dense.stat().st_size // 2])
    elif damage == "truncate-bm25":
        f = sparse / "data.npy"
        f.write_bytes(f.read_bytes()[:-7])
    elif damage == "empty-dense":
        dense.write_bytes(b"")
    elif damage == "garbage-stamp":
        (cache / "stamp.json").write_text("{not json")
    elif damage == "wrong-generation":
        (cache / "stamp.json").write_text(json.dumps({**st, "generation": st["generation"] + 5}))
    elif damage == "other-generation-files":  # a stamp that points at another build's files
        shutil.copytree(sparse, cache / "bm25-999")
        (cache / "bm25-999" / "vocab.json").write_text('{"x": 0}')
        (cache / "stamp.json").write_text(json.dumps({**st, "sparse": "bm25-999"}))
    elif damage == "missing-bm25":
        shutil.rmtree(sparse)
    elif damage == "truncate-indptr":
        f = sparse / "indptr.npy"
        f.write_bytes(f.read_bytes()[:-8])
    gen = db.generation(kb.conn)
    assert caches.load(cache, gen, kb._dense_settings()) is None  # detected
    fresh = _reopen(kb)
    assert _answers(fresh) == reference  # rebuilt from kb.sqlite, same answers
    assert _stamp(fresh)["generation"] == gen
    assert caches.load(cache, gen, fresh._dense_settings()) is not None  # and written back whole


def test_cache_write_failure_still_answers_and_keeps_the_old_files(kb, monkeypatch):
    import errno

    from retrieval import DenseIndex

    reference = _answers(kb)
    before = _stamp(kb)

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(DenseIndex, "save", full)
    shutil.rmtree(kb.path / "cache" / before["sparse"])  # force a rebuild, whose write then fails
    fresh = _reopen(kb)
    assert _answers(fresh) == reference  # served from memory
    assert _stamp(fresh) == before  # the failed write never replaced the stamp


def test_full_disk_under_stale_caches_still_answers_from_memory(kb, caplog):
    """A real ENOSPC (the FAISS temp file is /dev/full): FAISS raised RuntimeError and every search was an
    HTTP 500 once the caches were stale; now the search answers and a warning says why."""
    import logging
    import os

    reference = _answers(kb)
    before = _stamp(kb)
    gen = db.generation(kb.conn)
    cache = kb.path / "cache"
    shutil.rmtree(cache / before["sparse"])  # stale: the next open rebuilds, and its write meets a full disk
    os.symlink("/dev/full", cache / f".dense-{gen}.faiss.{os.getpid()}.tmp")
    with caplog.at_level(logging.WARNING, logger="knowledge.caches"):
        fresh = _reopen(kb)
        assert _answers(fresh) == reference
        assert _answers(fresh) == reference  # the second search uses the indexes in memory
    assert any("No space left on device" in r.getMessage() and "answering from memory" in r.getMessage()
               for r in caplog.records)
    assert not (cache / f"dense-{gen}.faiss").is_symlink()  # nothing half-written was renamed into place
    assert _stamp(fresh) == before
    assert caches.load(cache, gen, fresh._dense_settings()) is None  # and the next start rebuilds


def test_disk_full_during_ingest_is_one_clear_error_and_keeps_the_committed_state(kb, tmp_path):
    before = kb.stats()
    reference = _answers(kb)
    more = tmp_path / "more"
    more.mkdir()
    for i in range(30):
        (more / f"m{i:02d}.txt").write_text(f"新文件{i}。" * 3000, encoding="utf-8")
    pages = kb.conn.execute("PRAGMA page_count").fetchone()[0]
    real_connect = db.connect

    def small_disk(path):  # SQLite's own 'database or disk is full' after ~160 KB more, on every connection
        conn = real_connect(path)
        conn.execute(f"PRAGMA max_page_count = {pages + 40}")
        return conn

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "connect", small_disk)
        with pytest.raises(StorageError) as info:
            kb.ingest([more])
    msg = str(info.value)
    assert "could not write knowledge base 'faults'" in msg and "full" in msg and "run the same command again" in msg
    fresh = _reopen(kb)
    after = fresh.stats()
    conn = sqlite3.connect(kb.path / "kb.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == after["chunks"]
    assert conn.execute("SELECT COUNT(*) FROM documents d WHERE d.chunks != (SELECT COUNT(*) FROM chunks c "
                        "WHERE c.doc_id = d.id)").fetchone()[0] == 0  # all-or-nothing per document
    conn.close()
    assert before["documents"] <= after["documents"] < before["documents"] + 30
    assert _answers(fresh)[:1] == reference[:1] or fresh.search("知识库", k=1)
    # with space again, the same ingest finishes the job
    report = fresh.ingest([more])
    assert report.summary()["failed"] == 0 and fresh.stats()["documents"] == before["documents"] + 30


def _set_schema(kb_path, value):
    conn = sqlite3.connect(kb_path / "kb.sqlite")
    conn.execute("UPDATE manifest SET value=? WHERE key='schema_version'", (value,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version,words", [(str(db.SCHEMA_VERSION + 1), "newer Zhida"), ("0", "older than"),
                                           ("x1", "unreadable schema_version")])
def test_other_schema_versions_are_refused_with_a_message(kb, version, words):
    path = kb.path
    kb.close()
    _set_schema(path, version)
    with pytest.raises(SchemaError, match=words):
        _reopen(kb)


def test_cli_reports_a_newer_schema_in_one_line(kb, tmp_path):
    import os

    path = kb.path
    kb.close()
    _set_schema(path, str(db.SCHEMA_VERSION + 1))
    env = dict(os.environ, ZHIDA_HOME=str(tmp_path / "home"))
    for args in (["kb", "show", "faults"], ["search", "知识库", "--kb", "faults"]):
        r = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "newer Zhida" in lines[0], r.stderr
