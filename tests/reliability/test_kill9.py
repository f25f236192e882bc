"""kill -9 campaigns against real `zhida` subprocesses: in the middle of an ingest, a `kb delete` and a
cache rebuild. After every kill the KB opens, every query answers, `zhida kb show` matches what SQLite
holds, and the next command completes the job. A few trials in the fast suite, 30+ each with -m slow."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

FAST, SLOW = 3, 30


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


def _check_kb(home, name, env):
    """The KB opens, `kb show` matches SQLite, every document is all-or-nothing, a search answers."""
    shown = _cli(["kb", "show", name, "--json"], env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    conn = sqlite3.connect(home / "kbs" / name / "kb.sqlite")
    n_docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    per_doc = conn.execute("SELECT COUNT(*) FROM documents d WHERE d.chunks != "
                           "(SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)").fetchone()[0]
    conn.close()
    assert (data["documents"], data["chunks"], per_doc) == (n_docs, n_chunks, 0)
    found = _cli(["search", "知识库", "--kb", name, "--json"], env)
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout)


def _kill_after(proc, seconds):
    time.sleep(seconds)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive


@pytest.mark.parametrize("trials", [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(1800)])])
def test_kill_9_mid_ingest_recovers(tmp_path, env, trials):
    folder = _corpus(tmp_path / "docs", 300)
    rng = random.Random(7)
    interrupted = 0
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", "crash"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_writing(tmp_path / "home" / "kbs" / "crash" / "kb.sqlite", proc)
        interrupted += _kill_after(proc, rng.uniform(0.0, 0.8))
        _check_kb(tmp_path / "home", "crash", env)
        if trials > FAST and trial % 3 == 2:  # now and then finish the job, so later kills land on re-ingests
            assert _cli(["ingest", str(folder), "--kb", "crash"], env).returncode == 0
            for f in list(folder.iterdir())[trial % 7::40]:
                f.write_text(f.read_text(encoding="utf-8") + f" edit {trial}", encoding="utf-8")
    print(f"\ningest kill-9: {trials} trials, {interrupted} kills landed mid-run")
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


@pytest.fixture()
def template_kb(tmp_path, env):
    """A KB of 80 files with its caches, built once per test; trials work on copies of it."""
    folder = _corpus(tmp_path / "docs", 80)
    assert _cli(["ingest", str(folder), "--kb", "tmpl"], env).returncode == 0
    return tmp_path / "home" / "kbs" / "tmpl"


@pytest.mark.parametrize("trials", [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(1800)])])
def test_kill_9_mid_kb_delete_leaves_it_whole_or_gone(tmp_path, env, template_kb, trials):
    home = tmp_path / "home"
    rng = random.Random(11)
    outcomes = {"intact": 0, "gone": 0}
    for trial in range(trials):
        name = f"victim{trial}"
        shutil.copytree(template_kb, home / "kbs" / name)
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "kb", "delete", name, "--yes"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_after(proc, rng.uniform(0.3, 2.0))
        listed = json.loads(_cli(["kb", "list", "--json"], env).stdout)
        names = {k["name"] for k in (listed if isinstance(listed, list) else listed.get("kbs", []))}
        assert not list((home / "kbs").glob(".trash-*")), "an interrupted delete was not swept"
        if (home / "kbs" / name / "kb.sqlite").exists():
            outcomes["intact"] += 1
            assert name in names
            _check_kb(home, name, env)
            assert _cli(["kb", "delete", name, "--yes"], env).returncode == 0  # the next delete completes it
        else:
            outcomes["gone"] += 1
            assert name not in names
        assert not (home / "kbs" / name).exists()
    print(f"\nkb delete kill-9: {trials} trials, {outcomes}")


@pytest.mark.parametrize("trials", [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(1800)])])
def test_kill_9_mid_cache_rebuild_never_serves_a_broken_cache(tmp_path, env, template_kb, trials):
    home = tmp_path / "home"
    reference = _check_kb(home, "tmpl", env)
    rng = random.Random(13)
    states = {}
    for trial in range(trials):
        shutil.rmtree(template_kb / "cache", ignore_errors=True)
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "search", "知识库", "--kb", "tmpl", "--json"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_after(proc, rng.uniform(0.5, 3.0))
        cache = template_kb / "cache"
        state = "stamped" if (cache / "stamp.json").exists() else ("partial" if cache.exists() and
                                                                   any(cache.iterdir()) else "none")
        states[state] = states.get(state, 0) + 1
        assert _check_kb(home, "tmpl", env) == reference  # same answers, from a good cache or a rebuild
        stamp = json.loads((cache / "stamp.json").read_text())
        conn = sqlite3.connect(template_kb / "kb.sqlite")
        gen = int(conn.execute("SELECT value FROM manifest WHERE key='generation'").fetchone()[0])
        conn.close()
        assert stamp["generation"] == gen
    print(f"\ncache rebuild kill-9: {trials} trials, cache left {states}")
