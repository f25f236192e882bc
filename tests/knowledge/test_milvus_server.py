"""Knowledge bases in a real Milvus server: the standalone binary the `milvus` package (2.3.5) bundles,
started once for the session (`from milvus import MilvusServer`) on free ports under a temp folder.

Milvus 2.3 has no BM25 function and no sparse vectors (2.5+): the store detects the version and keeps
BM25 in Zhida over the stored terms, so the same tests as on Milvus Lite pass, with the same BM25
scores as the local store. Marked slow: the server takes ~10-30 s to start (twice, with the restart
test) on a shared 2-core machine. Skipped with the reason where the package or the binary cannot run.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e .[milvus]")

from ingest import PARSERS_VERSION  # noqa: E402
from knowledge import Catalog, IndexSettings, IngestSettings, StoreSettings  # noqa: E402
from tests.knowledge.test_milvus_store import CHILD, ROOT, CountingEmbedder, names, write_corpus  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One embedded Milvus standalone process; restartable on the same data folder and port."""

    def __init__(self, base: Path):
        from milvus import MilvusServer

        self.server = MilvusServer(wait_for_started=True)
        self.server.set_base_dir(str(base))
        self.server.listen_port = _free_port()
        for key in ("etcd_port", "proxy_internal_port", "root_coord_port", "query_coord_port", "query_node_port",
                    "index_coord_port", "index_node_port", "data_coord_port", "data_node_port"):
            if key in self.server.config_keys:  # another session's server may hold the defaults
                self.server.config.set(key, _free_port())
        self.uri = f"http://127.0.0.1:{self.server.listen_port}"

    def start(self) -> None:
        """Start (again). A restart may land on another port (the old one can sit in TIME_WAIT for a
        minute and the package then takes the next free one): `uri` says where it listens now."""
        self.server.start()
        self.uri = f"http://127.0.0.1:{self.server.listen_port}"

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    try:
        import milvus  # noqa: F401
    except ImportError:
        pytest.skip("the `milvus` package (an embedded Milvus server) is not installed: pip install milvus==2.3.5")
    server = None
    try:
        server = Server(tmp_path_factory.mktemp("milvus-server"))
        server.start()
    except Exception as exc:  # no binary for this platform, ports, a sandbox without etcd's needs
        if server is not None:
            try:
                server.stop()
            except Exception:
                pass
        pytest.skip(f"the embedded Milvus server did not start here: {type(exc).__name__}: {str(exc)[:200]}")
    yield server
    server.stop()


def catalog(home: Path, uri: str, embedder=None) -> Catalog:
    embedder = embedder or CountingEmbedder()
    return Catalog(home, embedder_loader=lambda name: embedder, defaults=IndexSettings("hashing:64"),
                   ingest=IngestSettings(lock_timeout_s=0.5), store=StoreSettings("milvus", uri))


def test_server_is_2_3_and_the_store_computes_bm25_itself(milvus_server, tmp_path):
    kb = catalog(tmp_path / "home", milvus_server.uri).create("版本")
    assert kb.milvus.server_version()[:2] == (2, 3)
    kb.ingest([write_corpus(tmp_path / "docs")])
    assert kb.milvus.native_bm25() is False
    fields = {f["name"] for f in kb.milvus.client.describe_collection(kb.milvus.chunks)["fields"]}
    assert "sparse" not in fields and {"dense", "terms"} <= fields
    # the same BM25 as the local store: same tokens, same formula, same scores
    local = Catalog(tmp_path / "local", embedder_loader=lambda name: CountingEmbedder(),
                    defaults=IndexSettings("hashing:64")).create("版本")
    local.ingest([tmp_path / "docs"])
    for query in ("第3条规定", "topic5 English", "知识库问答"):
        got = [(Path(h.source).name, round(h.score, 4)) for h in kb.search(query, k=5, mode="sparse")]
        want = [(Path(h.source).name, round(h.score, 4)) for h in local.search(query, k=5, mode="sparse")]
        assert got == want and got, query


def test_create_ingest_search_modes_and_delete(milvus_server, tmp_path):
    kb = catalog(tmp_path / "home", milvus_server.uri).create("kb-crud")
    assert kb.ingest([write_corpus(tmp_path / "docs")]).summary()["added"] == 8
    assert (kb.stats()["store"], kb.stats()["chunks"]) == ("milvus", 8)
    for mode in ("dense", "sparse", "hybrid"):
        assert names(kb.search("topic5", k=3, mode=mode))[0] == "doc05.txt", mode
    docs = {Path(d["path"]).name: d for d in kb.documents()}
    kb.delete_document(docs["doc05.txt"]["id"])
    assert "doc05.txt" not in names(kb.search("topic5", k=8, mode="sparse"))  # BM25 sees the delete at once
    assert "doc05.txt" not in names(kb.search("topic5", k=8, mode="dense"))
    (tmp_path / "docs" / "doc03.txt").write_text("量子计算的新文档。", encoding="utf-8")
    (tmp_path / "docs" / "doc05.txt").unlink()
    summary = kb.ingest([tmp_path / "docs"]).summary()
    assert (summary["updated"], summary["added"]) == (1, 0)
    assert names(kb.search("量子计算", k=1, mode="sparse")) == ["doc03.txt"]
    assert kb.stats()["chunks"] == 7  # no stale versions left behind
    (tmp_path / "docs" / "empty.txt").write_bytes(b"")  # a failure keeps the loaders' version it failed under
    assert kb.ingest([tmp_path / "docs"]).summary()["failed"] == 1
    failed = next(d for d in kb.documents() if Path(d["path"]).name == "empty.txt")
    assert failed["status"] == "failed" and kb.milvus.document_by_path(failed["path"]).parsers == PARSERS_VERSION


def test_another_process_sees_and_adds_to_the_same_kb(milvus_server, tmp_path):
    kb = catalog(tmp_path / "home_a", milvus_server.uri).create("shared")
    kb.ingest([write_corpus(tmp_path / "docs_a", n=2)])
    assert names(kb.search("topic1", k=1, mode="sparse")) == ["doc01.txt"]
    more = tmp_path / "docs_b"
    more.mkdir()
    (more / "extra.txt").write_text("另一个进程导入的文档：横向扩展。", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, milvus_server.uri, str(tmp_path / "home_b"), str(more)],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"seen": ["doc01.txt"], "added": 1, "documents": 3}
    for mode in ("sparse", "dense", "hybrid"):  # this process's cached BM25 notices the other's write
        assert "extra.txt" in names(kb.search("横向扩展", k=3, mode=mode)), mode


def test_a_restarted_server_reloads_the_collections(milvus_server, tmp_path):
    kb = catalog(tmp_path / "home", milvus_server.uri).create("restart")
    kb.ingest([write_corpus(tmp_path / "docs", n=4)])
    kb.close()
    milvus_server.stop()
    milvus_server.start()
    # a KB made elsewhere on the restarted server: the collections, manifest and rows come back from its storage
    again = catalog(tmp_path / "home2", milvus_server.uri).create("restart")
    assert again.manifest["embedding_model"] == "hashing:64"
    assert again.stats()["documents"] == 4
    for mode in ("dense", "sparse", "hybrid"):
        assert names(again.search("topic2", k=1, mode=mode)) == ["doc02.txt"], mode
