"""kb.sqlite as a file other processes change: a swapped file is reopened, killed rebuilds' copies are
swept, a damaged file is named with the way out and never written over."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from knowledge import Catalog, IndexSettings, IngestSettings, KBError
from retrieval import load_embedder

ROOT = Path(__file__).resolve().parents[2]


def _catalog(home: Path) -> Catalog:
    return Catalog(home, embedder_loader=lambda name: load_embedder("hashing"), defaults=IndexSettings("hashing"),
                   ingest=IngestSettings(lock_timeout_s=5))


def _folder(path: Path, **files: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / f"{name}.txt").write_text(text, encoding="utf-8")
    return path


def _found(kb, word: str) -> set[str]:
    return {Path(h.source).stem for h in kb.search(word, k=10, mode="sparse")}


def _env(home: Path) -> dict:
    return dict(os.environ, ZHIDA_HOME=str(home), ZHIDA_EMBEDDING_MODEL="hashing", PYTHONPATH=str(ROOT))


def test_a_rebuild_by_another_catalog_is_seen_and_later_writes_go_to_the_new_file(tmp_path):
    home = tmp_path / "home"
    server = _catalog(home)
    kb = server.create("x")
    kb.ingest([_folder(tmp_path / "a", apple="苹果 apple 的介绍")])
    assert _found(kb, "苹果") == {"apple"}
    other = _catalog(home)  # another process: its rebuild renames a fresh kb.sqlite over the old one
    other.open("x").ingest([_folder(tmp_path / "b", banana="香蕉 banana 的介绍")], rebuild=True)
    # the server's open KB (the object it holds and what Catalog.open hands out) reads the new file
    assert _found(kb, "香蕉") == {"banana"}
    assert server.open("x") is kb
    assert {Path(d["path"]).stem for d in kb.documents()} == {"apple", "banana"}
    # its own upload lands in the file it searches, and its delete sticks after a restart
    kb.ingest([_folder(tmp_path / "c", cherry="樱桃 cherry 的介绍")])
    assert _found(kb, "樱桃") == {"cherry"}
    banana = next(d for d in kb.documents() if d["path"].endswith("banana.txt"))
    kb.delete_document(banana["id"])
    restarted = _catalog(home).open("x")
    assert {Path(d["path"]).stem for d in restarted.documents()} == {"apple", "cherry"}
    assert not _found(restarted, "香蕉") and not _found(kb, "香蕉")


def test_a_kb_deleted_and_created_again_elsewhere_is_the_new_one(tmp_path):
    home = tmp_path / "home"
    server = _catalog(home)
    kb = server.create("x")
    kb.ingest([_folder(tmp_path / "a", apple="苹果 apple", pear="梨子 pear")])
    assert _found(kb, "苹果") == {"apple"}
    other = _catalog(home)
    other.delete("x")
    with pytest.raises(KBError, match="deleted|no knowledge base"):
        server.open("x")
    fresh = other.create("x")
    # as many commits as before, so the new file's generation equals the old one's: the generation alone
    # cannot tell the server that its in-memory indexes are of another file
    fresh.ingest([_folder(tmp_path / "g", grape="葡萄 grape")])
    fresh.ingest([_folder(tmp_path / "g2", melon="西瓜 melon")])
    assert _found(server.open("x"), "葡萄") == {"grape"}
    assert not _found(kb, "苹果")
    doc = next(d for d in kb.documents() if d["path"].endswith("grape.txt"))
    kb.delete_document(doc["id"])
    assert {Path(d["path"]).stem for d in _catalog(home).open("x").documents()} == {"melon"}


def test_the_cli_rebuilding_in_another_process_is_seen_by_a_running_server(tmp_path):
    home = tmp_path / "home"
    server = _catalog(home)
    kb = server.create("x")
    kb.ingest([_folder(tmp_path / "a", apple="苹果 apple")])
    assert _found(kb, "苹果") == {"apple"}
    folder = _folder(tmp_path / "b", banana="香蕉 banana")
    r = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", "x", "--rebuild", "--json"],
                       env=_env(home), capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert _found(server.open("x"), "香蕉") == {"banana"}
    banana = next(d for d in kb.documents() if d["path"].endswith("banana.txt"))
    kb.delete_document(banana["id"])
    assert "banana" not in {Path(d["path"]).stem for d in _catalog(home).open("x").documents()}


_KILLED_REBUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from knowledge import Catalog, IndexSettings
    from retrieval import load_embedder

    class Stuck:  # embeds forever: the parent kills this process mid-rebuild
        def __init__(self):
            self.inner = load_embedder("hashing")
            self.dim, self.model_id = self.inner.dim, "hashing"
        def embed_documents(self, texts, show_progress=False):
            time.sleep(600)

    cat = Catalog(Path(sys.argv[1]), embedder_loader=lambda name: Stuck(), defaults=IndexSettings("hashing"))
    cat.open("x").ingest([sys.argv[2]], rebuild=True)
""")


def test_copies_left_by_killed_rebuilds_are_swept_when_the_kb_is_opened_or_rebuilt(tmp_path):
    home = tmp_path / "home"
    kb = _catalog(home).create("x")
    folder = _folder(tmp_path / "a", apple="苹果 apple " * 2000, pear="梨子 pear")
    kb.ingest([folder])
    leftovers = []
    for _ in range(2):  # real kill -9 mid-rebuild, twice
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_REBUILD, str(home), str(folder)], env=_env(home),
                                cwd=ROOT)
        left = kb.path / f"kb.sqlite.rebuild-{proc.pid}"
        deadline = time.monotonic() + 120
        while not left.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert left.exists(), "the rebuild never started"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        leftovers.append(left)
    # the second rebuild's process opened the KB after the first was killed: it swept the first's copy
    assert not leftovers[0].exists() and leftovers[1].exists()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = kb.path / f"kb.sqlite.rebuild-{alive.pid}"  # as if a rebuild were running in that process
        running.write_bytes(b"x")
        reopened = _catalog(home).open("x")
        assert not any(Path(str(p) + s).exists() for p in leftovers for s in ("", "-wal", "-shm"))
        assert running.exists()  # its process lives: opening the KB leaves it alone
        assert _found(reopened, "苹果") == {"apple"}  # the KB kept its last complete state
        reopened.ingest([folder], rebuild=True)  # under the KB lock no other rebuild can be running
        assert not running.exists()
        assert not list(kb.path.glob("kb.sqlite.rebuild-*"))
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize("damage", ["garbage", "malformed"])
def test_a_damaged_kb_names_itself_and_the_way_out_and_is_never_overwritten(tmp_path, damage):
    home = tmp_path / "home"
    kb = _catalog(home).create("坏库")
    kb.ingest([_folder(tmp_path / "a", **{f"d{i}": f"文件{i} " * 300 for i in range(8)})])
    kb.close()
    db_file = kb.path / "kb.sqlite"
    data = bytearray(db_file.read_bytes())
    if damage == "garbage":
        data[:100] = b"\x00garbage" * 12 + b"\x00" * 4
    else:  # a good header, every page after the first overwritten
        data[4096:] = b"\xff" * (len(data) - 4096)
    db_file.write_bytes(bytes(data))
    for s in ("-wal", "-shm"):
        Path(str(db_file) + s).unlink(missing_ok=True)
    with pytest.raises(KBError) as info:
        _catalog(home).open("坏库").documents()
    msg = str(info.value)
    assert "knowledge base '坏库' is damaged" in msg and "zhida kb delete 坏库" in msg and "ingest" in msg
    env = _env(home)
    for argv in (["kb", "show", "坏库"], ["ingest", str(tmp_path / "a"), "--kb", "坏库"], ["kb", "list"]):
        r = subprocess.run([sys.executable, "-m", "app.cli", *argv], env=env, capture_output=True, text=True,
                           timeout=180, cwd=ROOT)
        assert "Traceback" not in r.stderr, r.stderr
        if argv[0] != "kb" or argv[1] != "list":
            assert r.returncode == 2 and "is damaged" in r.stderr and "zhida kb delete 坏库" in r.stderr, r.stderr
    assert db_file.read_bytes() == bytes(data)  # nothing wrote over it
    r = subprocess.run([sys.executable, "-m", "app.cli", "kb", "delete", "坏库", "--yes"], env=env,
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert not kb.path.exists()


def test_damage_found_after_opening_also_names_the_kb_and_the_way_out(tmp_path):
    import sqlite3

    home = tmp_path / "home"
    kb = _catalog(home).create("x")
    kb.ingest([_folder(tmp_path / "a", **{f"d{i}": f"文件{i} " * 300 for i in range(5)})])
    kb.close()
    db_file = kb.path / "kb.sqlite"
    conn = sqlite3.connect(db_file)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r[0] for r in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name='chunks'")]
    conn.close()
    with open(db_file, "r+b") as fh:  # the root pages of chunks and its indexes: the manifest still reads
        for root in roots:
            fh.seek((root - 1) * page_size)
            fh.write(b"\xa5" * page_size)
    reopened = _catalog(home).open("x")
    for call in (reopened.stats, lambda: reopened.search("文件", k=3)):
        with pytest.raises(KBError, match="knowledge base 'x' is damaged.*zhida kb delete x"):
            call()
