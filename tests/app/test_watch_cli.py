"""`zhida ingest FOLDER --kb NAME --watch` as a real process: it follows creates, edits, renames, deletes and
bursts, prints one line per change, stops on Ctrl-C, and a kill -9 mid-sync is finished by the next start.
(Files still being written: tests/knowledge/test_watching.py.)"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("watchdog", reason="watchdog is not installed")

ROOT = Path(__file__).resolve().parents[2]


class Watch:
    """A running `zhida ingest --watch` with its output collected line by line."""

    def __init__(self, env, folder: Path, kb: str = "w"):
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", kb, "--watch"],
                                     env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(line.rstrip("\n")) for line in s],
                             daemon=True).start()

    def wait_for(self, what: str, where: str = "err", timeout: float = 60) -> None:
        lines = self.err if where == "err" else self.out
        wait_until(lambda: any(what in line for line in lines), timeout,
                   f"{what!r} never printed; stdout={self.out[-5:]} stderr={self.err[-5:]}")

    def changes(self) -> list[str]:
        """Change lines after the first sync's table: 'HH:MM:SS status path ...' -> 'status path ...'."""
        return [line.split(" ", 1)[1].strip() for line in self.out if line[:2].isdigit() and line[2] == ":"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


def wait_until(cond, timeout: float, message: str = "condition not met") -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(message)
        time.sleep(0.05)
    return time.monotonic() - t0


def kb_docs(home: Path, kb: str = "w") -> dict[str, str]:
    """path -> the text of its chunks, read from kb.sqlite as another process would."""
    db = home / "kbs" / kb / "kb.sqlite"
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT d.path, group_concat(c.text, ' ') FROM documents d LEFT JOIN chunks c "
                            "ON c.doc_id = d.id GROUP BY d.id").fetchall()
    except sqlite3.OperationalError:  # created but not initialised yet
        return {}
    finally:
        conn.close()
    return {p: t or "" for p, t in rows}


def folder_files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*.md")}


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("ingest:\n  watch:\n    debounce_s: 0.3\n    settle_s: 0.3\n", encoding="utf-8")
    return dict(os.environ, ZHIDA_HOME=str(home), ZHIDA_EMBEDDING_MODEL="hashing", HF_HUB_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1")


def test_watch_follows_create_modify_rename_delete_and_a_burst(env, tmp_path):
    home, folder = Path(env["ZHIDA_HOME"]), tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("apples are red", encoding="utf-8")
    w = Watch(env, folder)
    try:
        w.wait_for("watching 1 folder")
        assert set(kb_docs(home)) == {str(folder / "a.md")}

        (folder / "b.md").write_text("pears are green", encoding="utf-8")  # create
        wait_until(lambda: str(folder / "b.md") in kb_docs(home), 20, "created file not indexed")
        (folder / "a.md").write_text("apples are red and sweet", encoding="utf-8")  # modify
        wait_until(lambda: "sweet" in kb_docs(home).get(str(folder / "a.md"), ""), 20, "edit not indexed")
        os.rename(folder / "b.md", folder / "sub" / "c.md")  # rename into a sub-folder
        wait_until(lambda: set(kb_docs(home)) == {str(folder / "a.md"), str(folder / "sub" / "c.md")}, 20,
                   "rename not followed")
        os.remove(folder / "a.md")  # delete
        wait_until(lambda: set(kb_docs(home)) == {str(folder / "sub" / "c.md")}, 20, "deletion not followed")
        (folder / "notes.tmp").write_text("excluded", encoding="utf-8")  # ignored by the ingest.exclude default
        w.wait_for(f"removed  {folder / 'a.md'}", "out", 10)
        assert w.changes() == [f"added    {folder / 'b.md'} (1 chunks)", f"updated  {folder / 'a.md'} (1 chunks)",
                               f"added    {folder / 'sub' / 'c.md'} (1 chunks)", f"removed  {folder / 'b.md'}",
                               f"removed  {folder / 'a.md'}"]

        # a burst: 200 files written as fast as possible, the KB matches the folder shortly after it ends
        for i in range(200):
            (folder / "sub" / f"burst-{i:03}.md").write_text(f"burst file number {i} about topic {i % 7}",
                                                            encoding="utf-8")
        ended = time.monotonic()
        wait_until(lambda: set(kb_docs(home)) == folder_files(folder), 30, "burst not indexed within 30 s")
        latency = time.monotonic() - ended
        print(f"\nKB matched the folder {latency:.2f} s after a 200-file burst ended")
        assert latency < 15
        wait_until(lambda: len(w.changes()) == 205, 10, f"expected 200 more change lines, got {len(w.changes())}")
    finally:
        rc = w.stop()
    assert rc == 0 and w.err[-1] == "stopped watching", w.err[-5:]
    assert not any("Traceback" in line for line in w.err)


def test_kill_9_mid_sync_leaves_a_consistent_kb_the_next_start_completes(env, tmp_path):
    home, folder = Path(env["ZHIDA_HOME"]), tmp_path / "docs"
    folder.mkdir()
    (folder / "seed.md").write_text("seed", encoding="utf-8")
    w = Watch(env, folder)
    w.wait_for("watching 1 folder")
    text = "。".join(f"第{j}条 规定了事项{j}的处理方式和期限" for j in range(150))  # ~3,000 characters
    for i in range(200):
        (folder / f"doc-{i:03}.md").write_text(f"# 文件{i}\n\n{text}", encoding="utf-8")
    wait_until(lambda: 1 < len(kb_docs(home)) < 150, 60, "the sync never got under way")
    w.proc.kill()  # SIGKILL mid-sync
    w.proc.wait(timeout=10)
    partial = kb_docs(home)
    assert 1 < len(partial) < 201, len(partial)

    conn = sqlite3.connect(home / "kbs" / "w" / "kb.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # every document there is whole: its chunk count matches the chunks stored for it
        bad = conn.execute("SELECT d.path FROM documents d WHERE d.chunks != (SELECT count(*) FROM chunks c "
                           "WHERE c.doc_id = d.id)").fetchall()
        assert bad == []
    finally:
        conn.close()

    again = Watch(env, folder)
    try:
        again.wait_for("watching 1 folder")  # the first sync of the new start has finished the work
        assert set(kb_docs(home)) == folder_files(folder)
    finally:
        assert again.stop() == 0


def test_json_change_lines_carry_the_report_fields():
    import json

    from app.watching import change_json, change_line
    from knowledge.types import FileResult

    row = json.loads(change_json(FileResult(path="/d/x.pdf", status="failed", reason="damaged PDF", error_kind="corrupt")))
    assert {k: row[k] for k in ("path", "status", "chunks", "reason", "error_kind")} == {
        "path": "/d/x.pdf", "status": "failed", "chunks": 0, "reason": "damaged PDF", "error_kind": "corrupt"}
    assert change_line(FileResult(path="/d/a.md", status="added", chunks=3)).endswith(" added    /d/a.md (3 chunks)")
