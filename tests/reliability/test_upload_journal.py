"""Issue 12 item 8: accepted uploads survive a crash of the server. Jobs are journaled before the 202,
resumed under the same id on the next start, and partial uploads are swept from uploads/.incoming/.

One end-to-end run against real `zhida serve` processes killed with SIGKILL, and fast in-process
checks of the recovery rules on a journal written the way a crashed server leaves it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ZHIDA_HOME": str(home), "ZHIDA_EMBEDDING_MODEL": "hashing", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}
    env.pop("ZHIDA_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "zhida serve did not start"
        time.sleep(0.2)


def _files(n: int) -> list:
    return [("files", (f"f{i:03d}.txt", (("第%d份文件讲述知识库的第%d个主题。" % (i, i)) * 60 +
                                          f"\n\nfile {i} topic{i}").encode(), "text/plain")) for i in range(n)]


def _wait_job(base: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{base}/api/jobs/{job_id}", timeout=10)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.1)


def test_kill_9_during_upload_ingest_resumes_the_job_and_sweeps_partials(tmp_path):
    home, port = tmp_path / "home", _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    incoming = home / "kbs" / "up" / "uploads" / ".incoming"
    proc = _serve(home, port, log)
    partial = None
    try:
        assert httpx.post(base + "/api/kbs", json={"name": "up"}).status_code == 201
        # an upload cut off by the crash: headers and half a file, never finished
        partial = socket.create_connection(("127.0.0.1", port))
        head = b'--B\r\nContent-Disposition: form-data; name="files"; filename="half.txt"\r\n\r\n' + b"x" * 50000
        partial.sendall(b"POST /api/kbs/up/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                        b"boundary=B\r\nContent-Length: 200000\r\n\r\n" + head)
        deadline = time.monotonic() + 20
        while not (incoming.exists() and list(incoming.rglob("half.txt"))):
            assert time.monotonic() < deadline, "the partial upload never reached the staging folder"
            time.sleep(0.05)
        r = httpx.post(base + "/api/kbs/up/documents", files=_files(41), timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if partial is not None:
            partial.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(incoming.rglob("half.txt")), "the kill should leave the partial file behind"

    proc = _serve(home, port, log)
    try:
        assert not list(incoming.rglob("half.txt")), "the partial upload was not swept on start"
        job = _wait_job(base, job_id)
        assert job["status"] == "done", job
        docs = httpx.get(base + "/api/kbs/up/documents").json()["documents"]
        assert len(docs) == 41 and all(d.get("status", "ok") != "failed" for d in docs)
        assert not incoming.exists() or not any(incoming.iterdir())
        assert httpx.post(base + "/api/kbs/up/search", json={"query": "topic7"}).json()["results"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the recovery rules, in-process ---------------------------------------------------------------------

@pytest.fixture
def settings(server_settings):
    return server_settings


def _crashed_server_state(zhida_home: Path, settings) -> dict:
    """What a server killed after its 202s leaves: journal rows that never ended, staged and moved files."""
    from app.journal import JobJournal
    from app.server import create_app

    with TestClient(create_app(settings, ui=False)) as c:
        assert c.post("/api/kbs", json={"name": "kb"}).status_code == 201
        assert c.post("/api/kbs", json={"name": "doomed"}).status_code == 201
    uploads = zhida_home / "kbs" / "kb" / "uploads"
    staged = uploads / ".incoming" / "a1"
    staged.mkdir(parents=True)
    (staged / "one.txt").write_text("first accepted file about apples", encoding="utf-8")
    (uploads / "two.txt").write_text("second accepted file about pears", encoding="utf-8")  # moved, not indexed
    stray = uploads / ".incoming" / "b2"
    stray.mkdir()
    (stray / "half.txt").write_text("cut off", encoding="utf-8")
    journal = JobJournal(zhida_home / "server" / "jobs.sqlite")
    journal.accepted("job-upload", "kb", "upload", {"files": [
        {"name": "one.txt", "original": "one.txt", "staged": str(staged / "one.txt")},
        {"name": "two.txt", "original": "two.txt", "staged": str(staged / "two.txt")},
        {"name": "three.txt", "original": "three.txt", "staged": str(staged / "three.txt")}], "rejected": []})
    journal.accepted("job-gone", "vanished", "folder", {"path": str(zhida_home), "rebuild": False})
    journal.close()
    return {"staged": staged, "stray": stray}


def test_unfinished_journaled_jobs_resume_under_their_id(settings, zhida_home):
    state = _crashed_server_state(zhida_home, settings)
    from app.server import create_app

    with TestClient(create_app(settings, ui=False)) as c:
        assert not state["stray"].exists(), "a staging folder no job needs was not swept"
        deadline = time.monotonic() + 60
        while (job := c.get("/api/jobs/job-upload").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job["status"] == "done" and job["meta"]["resumed"] is True
        rows = {f["name"]: f for f in job["files"]}
        assert rows["one.txt"]["status"] != "failed" and rows["two.txt"]["status"] != "failed"
        assert rows["three.txt"]["status"] == "failed" and "lost" in rows["three.txt"]["reason"]
        names = sorted(d["name"] for d in c.get("/api/kbs/kb/documents").json()["documents"])
        assert names == ["one.txt", "two.txt"]
        gone = c.get("/api/jobs/job-gone").json()
        assert gone["status"] == "failed" and "no longer exists" in gone["error"]
    # and after one more restart, the finished jobs are still there to read
    with TestClient(create_app(settings, ui=False)) as c:
        assert c.get("/api/jobs/job-upload").json()["status"] == "done"
        assert {"job-upload", "job-gone"} <= {j["id"] for j in c.get("/api/jobs").json()["jobs"]}


def test_a_second_server_on_the_same_home_leaves_the_first_ones_work_alone(settings, zhida_home):
    from app.server import create_app

    with TestClient(create_app(settings, ui=False)) as first:
        assert first.post("/api/kbs", json={"name": "kb"}).status_code == 201
        live = zhida_home / "kbs" / "kb" / "uploads" / ".incoming" / "live"
        live.mkdir(parents=True)
        (live / "receiving.txt").write_text("an upload the first server is receiving", encoding="utf-8")
        with TestClient(create_app(settings, ui=False)):
            assert live.exists()
