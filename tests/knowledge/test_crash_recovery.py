"""kill -9 in the middle of a real `zhida ingest` subprocess leaves a KB that opens,
answers, whose counts match SQLite, and that the next ingest completes."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _cli(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.fixture()
def env(tmp_path):
    e = dict(os.environ, ZHIDA_HOME=str(tmp_path / "home"), ZHIDA_EMBEDDING_MODEL="hashing")
    return e


def _corpus(folder, n):
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:03d}.txt").write_text(("第%d份文件讲述知识库的第%d个主题。" % (i, i)) * 40 +
                                              f"\n\nfile {i} english words topic{i}", encoding="utf-8")
    return folder


def _wait_until_writing(db_path, proc, timeout=60.0):
    """Until the ingest has committed at least one document (so the kill lands mid-run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                conn = sqlite3.connect(db_path, timeout=1)
                n = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
                conn.close()
                if n:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.05)


def test_kill_9_mid_ingest_recovers(tmp_path, env):
    folder = _corpus(tmp_path / "docs", 300)
    rng = random.Random(7)
    interrupted = 0
    for trial in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", "crash"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_writing(tmp_path / "home" / "kbs" / "crash" / "kb.sqlite", proc)
        time.sleep(rng.uniform(0.0, 0.8))
        killed_mid_run = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        interrupted += killed_mid_run
        shown = _cli(["kb", "show", "crash", "--json"], env)
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        conn = sqlite3.connect(tmp_path / "home" / "kbs" / "crash" / "kb.sqlite")
        n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        per_doc = conn.execute("SELECT COUNT(*) FROM documents d WHERE d.chunks != "
                               "(SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)").fetchone()[0]
        conn.close()
        assert data["chunks"] == n_chunks and per_doc == 0  # every document is all-or-nothing
        found = _cli(["search", "知识库", "--kb", "crash", "--json"], env)
        assert found.returncode == 0, found.stderr
    assert interrupted >= 1, "no kill landed while the ingest was running"
    done = _cli(["ingest", str(folder), "--kb", "crash", "--json"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["failed"] == 0
    assert report["summary"]["added"] + report["summary"]["unchanged"] + report["summary"]["updated"] == 300
    final = json.loads(_cli(["kb", "show", "crash", "--json"], env).stdout)
    assert final["documents"] == 300
    again = json.loads(_cli(["ingest", str(folder), "--kb", "crash", "--json"], env).stdout)
    assert again["summary"]["unchanged"] == 300 and again["embedded_chunks"] == 0


def test_concurrent_cli_ingest_reports_busy(tmp_path, env):
    folder = _corpus(tmp_path / "docs", 1)
    assert _cli(["kb", "create", "busy"], env).returncode == 0
    from filelock import FileLock

    lock = FileLock(str(tmp_path / "home" / "kbs" / "busy" / ".lock"))
    lock.acquire()
    try:
        env = dict(env)
        out = _cli(["ingest", str(folder), "--kb", "busy"], env)
    finally:
        lock.release()
    assert out.returncode == 2 and "busy" in out.stderr and "Traceback" not in out.stderr
