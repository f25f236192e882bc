"""Knowledge bases kept in Milvus, tested against Milvus Lite (a local .db file, and its gRPC server
in a separate process for two processes sharing one KB). Skipped without pymilvus + milvus-lite."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e .[milvus]")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install -e .[milvus]")

from knowledge import (Catalog, DocumentNotFound, IndexSettings, IngestSettings, KBNotFound,  # noqa: E402
                       StoreSettings)
from retrieval import HashingEmbedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class CountingEmbedder(HashingEmbedder):
    def __init__(self, dim: int = 64):
        super().__init__(dim)
        self.model_id = "hashing:64"
        self.embedded = 0

    def embed_documents(self, texts, *, show_progress=False):
        self.embedded += len(texts)
        return super().embed_documents(texts)


def write_corpus(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"doc{i:02d}.txt").write_text(f"第{i}号文档。知识库问答系统的第{i}条规定是关于检索的。\n\n"
                                                f"Document {i} talks about topic{i} in English.", encoding="utf-8")
    return folder


def make_catalog(home: Path, uri: str, embedder=None) -> Catalog:
    embedder = embedder or CountingEmbedder()
    return Catalog(home, embedder_loader=lambda name: embedder, defaults=IndexSettings("hashing:64"),
                   ingest=IngestSettings(lock_timeout_s=0.5), store=StoreSettings("milvus", uri))


@pytest.fixture()
def embedder():
    return CountingEmbedder()


@pytest.fixture()
def kb(tmp_path, embedder):
    return make_catalog(tmp_path / "home", str(tmp_path / "milvus.db"), embedder).create("知识-kb")


def names(hits):
    return [Path(h.source).name for h in hits]


def test_ingest_and_search_dense_sparse_hybrid(kb, tmp_path):
    report = kb.ingest([write_corpus(tmp_path / "docs")])
    assert report.summary()["added"] == 8
    st = kb.stats()
    assert (st["store"], st["documents"], st["chunks"], st["dim"]) == ("milvus", 8, 8, 64)
    assert not (kb.path / "kb.sqlite").exists()  # nothing but the pointer lives locally
    for mode in ("dense", "sparse", "hybrid"):
        hits = kb.search("topic5", k=3, mode=mode)
        assert names(hits)[0] == "doc05.txt", mode
    sparse = kb.search("第3条规定", k=8, mode="sparse")
    assert names(sparse)[0] == "doc03.txt"
    assert all(a.score >= b.score > 0 for a, b in zip(sparse, sparse[1:]))  # BM25 scores, best first
    hybrid = kb.search("topic5", k=2, mode="hybrid")[0]
    assert set(hybrid.hit.found_by) == {"dense", "sparse"} and hybrid.heading_path == ()
    assert kb.search("   ") == [] and kb.search("完全无关的词语", k=3, mode="sparse") == []


def test_reingest_is_incremental(kb, embedder, tmp_path):
    folder = write_corpus(tmp_path / "docs")
    kb.ingest([folder])
    embedder.embedded = 0
    assert kb.ingest([folder]).summary()["unchanged"] == 8 and embedder.embedded == 0
    (folder / "doc03.txt").write_text("全新的内容：量子计算。", encoding="utf-8")
    (folder / "doc04.txt").unlink()
    (folder / "doc00.txt").rename(folder / "renamed.txt")
    report = kb.ingest([folder])
    assert report.summary() == {"added": 1, "updated": 1, "removed": 2, "unchanged": 5, "failed": 0}
    assert embedder.embedded == 1  # the changed file; the renamed one reuses its stored vector
    assert names(kb.search("量子计算", k=1)) == ["doc03.txt"]
    assert "doc04.txt" not in names(kb.search("第4号文档", k=8))
    assert kb.stats()["chunks"] == 7  # no stale versions left behind


def test_failed_files_and_delete_document(kb, tmp_path):
    folder = write_corpus(tmp_path / "docs", n=3)
    (folder / "empty.txt").write_bytes(b"")
    report = kb.ingest([folder])
    assert report.summary()["failed"] == 1
    docs = {Path(d["path"]).name: d for d in kb.documents()}
    assert docs["empty.txt"]["status"] == "failed" and docs["empty.txt"]["error"]
    assert kb.stats()["failed"] == 1
    kb.delete_document(docs["doc01.txt"]["id"])  # by id (stable across processes)
    kb.delete_document(str(folder / "doc02.txt"))  # by path
    assert sorted(Path(d["path"]).name for d in kb.documents()) == ["doc00.txt", "empty.txt"]
    assert names(kb.search("topic1", k=5, mode="sparse")) == []
    with pytest.raises(DocumentNotFound):
        kb.delete_document("nope.txt")


def test_rebuild_switches_embedding_model(tmp_path):
    models = {}

    def loader(name):
        return models.setdefault(name, HashingEmbedder(int(name.split(":")[1])))

    cat = Catalog(tmp_path / "home", embedder_loader=loader, defaults=IndexSettings("hashing:64"),
                  store=StoreSettings("milvus", str(tmp_path / "m.db")))
    kb = cat.create("kb")
    folder = write_corpus(tmp_path / "docs", n=3)
    kb.ingest([folder])
    report = kb.ingest([folder], rebuild=True, index_settings=IndexSettings("hashing:32"))
    assert report.summary()["added"] == 3
    assert (kb.stats()["embedding_model"], kb.stats()["dim"], kb.stats()["chunks"]) == ("hashing:32", 32, 3)
    assert len(kb.search("知识库", k=3, mode="dense")) == 3
    assert names(kb.search("topic2", k=1, mode="sparse")) == ["doc02.txt"]


def test_two_catalogs_share_one_kb_and_delete_drops_it_for_both(tmp_path):
    uri = str(tmp_path / "shared.db")
    a = make_catalog(tmp_path / "home_a", uri).create("shared")
    b_cat = make_catalog(tmp_path / "home_b", uri)
    b = b_cat.create("shared")  # joins: same collections, manifest from the first
    a.ingest([write_corpus(tmp_path / "docs_a", n=2)])
    assert names(b.search("topic1", k=1)) == ["doc01.txt"]
    more = tmp_path / "docs_b"
    more.mkdir()
    (more / "extra.txt").write_text("第二台机器导入的文档：分布式部署。", encoding="utf-8")
    b.ingest([more])
    assert names(a.search("分布式部署", k=1)) == ["extra.txt"] and a.stats()["documents"] == 3
    make_catalog(tmp_path / "home_a", uri).delete("shared")
    b_cat._open.clear()
    with pytest.raises(KBNotFound, match="not there"):
        b_cat.open("shared")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lite_server(tmp_path):
    """Milvus Lite's gRPC server in its own process: a stand-in for a Milvus server at http://host:19530."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "srv.db"),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("milvus_lite server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from knowledge import Catalog, IndexSettings, StoreSettings
    from retrieval import HashingEmbedder
    uri, home, docs = sys.argv[1:4]
    emb = HashingEmbedder(64)
    cat = Catalog(Path(home), embedder_loader=lambda n: emb, defaults=IndexSettings("hashing:64"),
                  store=StoreSettings("milvus", uri))
    kb = cat.create("shared")
    seen = [Path(h.source).name for h in kb.search("topic1", k=1)]
    report = kb.ingest([docs])
    print(json.dumps({"seen": seen, "added": report.summary()["added"], "documents": kb.stats()["documents"]}))
""")


def test_another_process_sees_and_adds_to_the_same_kb(tmp_path, lite_server):
    kb = make_catalog(tmp_path / "home_a", lite_server).create("shared")
    kb.ingest([write_corpus(tmp_path / "docs_a", n=2)])
    more = tmp_path / "docs_b"
    more.mkdir()
    (more / "extra.txt").write_text("另一个进程导入的文档：横向扩展。", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, lite_server, str(tmp_path / "home_b"), str(more)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child == {"seen": ["doc01.txt"], "added": 1, "documents": 3}
    assert names(kb.search("横向扩展", k=1)) == ["extra.txt"]


def test_cli_create_show_ingest_search_delete(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from app import services
    from app.cli import _register_commands, cli

    if not cli.registered_groups:
        _register_commands()
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing:64")
    monkeypatch.setattr(services, "_catalogs", {})
    run = CliRunner().invoke
    uri = str(tmp_path / "cli.db")
    res = run(cli, ["kb", "create", "mkb", "--store", "milvus", "--uri", uri])
    assert res.exit_code == 0, res.output
    assert "Milvus" in res.output
    res = run(cli, ["ingest", str(write_corpus(tmp_path / "docs", n=3)), "--kb", "mkb"])
    assert res.exit_code == 0, res.output
    res = run(cli, ["search", "topic2", "--kb", "mkb", "--json", "-k", "1"])
    assert res.exit_code == 0 and "doc02.txt" in res.output, res.output
    res = run(cli, ["kb", "show", "mkb", "--json"])
    shown = json.loads(res.output)
    assert (shown["store"], shown["uri"], shown["documents"]) == ("milvus", uri, 3)
    assert run(cli, ["kb", "delete", "mkb", "--yes"]).exit_code == 0
    assert "mkb" not in run(cli, ["kb", "list", "--json"]).output


def test_missing_pymilvus_names_the_extra(monkeypatch, tmp_path):
    from knowledge.milvus_store import MilvusUnavailable

    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(MilvusUnavailable, match=r"pip install -e \.\[milvus\]"):
        make_catalog(tmp_path / "home", str(tmp_path / "x.db")).create("kb")


def test_a_retrieved_piece_of_an_article_brings_the_whole_article(tmp_path):
    from ingest.types import ChunkSettings
    from tests.knowledge.test_parent_units import ART_367, STATUTE

    embedder = CountingEmbedder()
    catalog = Catalog(tmp_path / "home", embedder_loader=lambda name: embedder,
                      defaults=IndexSettings("hashing:64", ChunkSettings(chunk_size=80, chunk_overlap=10)),
                      ingest=IngestSettings(lock_timeout_s=0.5), store=StoreSettings("milvus", str(tmp_path / "m.db")))
    kb = catalog.create("statute")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "civil.txt").write_text(STATUTE, encoding="utf-8")
    kb.ingest([tmp_path / "docs"])
    hit = kb.search("解决争议的方法", k=1, mode="sparse")[0]
    assert hit.unit == "第三百六十七条" and "（一）" not in hit.text and hit.unit_text == ART_367
    kb.milvus._parent = False  # a collection created before the parent fields: read without them
    old = kb.search("解决争议的方法", k=1, mode="sparse")[0]
    assert old.unit == "" and old.unit_text == old.text == hit.text
