"""Issue 12 items 9 and 12: requests that used to be answered 202 or 500 get a clear 4xx/5xx and leave
nothing behind: truncated multipart bodies, over-long boundaries, bad /v1 message content, a KB deleted
under in-flight requests, and a full disk (a real small tmpfs, so ENOSPC comes from the kernel)."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

TEXT = ("Annual leave policy. Every employee receives fifteen days of paid annual leave per year. " * 20).encode()


@pytest.fixture
def settings(server_settings):
    return server_settings


@pytest.fixture
def client(settings):
    from app.server import create_app

    with TestClient(create_app(settings, ui=False)) as c:
        assert c.post("/api/kbs", json={"name": "kb"}).status_code == 201
        yield c


def _staging(home: Path, kb: str = "kb") -> list[Path]:
    root = home / "kbs" / kb / "uploads" / ".incoming"
    return sorted(root.iterdir()) if root.exists() else []


def _wait(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


def test_truncated_multipart_body_is_refused_and_nothing_is_stored(client, zhida_home):
    """The body ends mid-file with a matching Content-Length: before, 202 and a cut document."""
    full = (b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"cut.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\n" + TEXT + b"\r\n--XyZ--\r\n")
    cut = full[: len(full) - len(TEXT) // 2 - 12]
    r = client.post("/api/kbs/kb/documents", content=cut,
                    headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "incomplete_upload"
    assert "closing multipart boundary" in r.json()["error"]["message"]
    assert _staging(zhida_home) == []
    assert not (zhida_home / "kbs" / "kb" / "uploads" / "cut.txt").exists()
    assert client.get("/api/kbs/kb/documents").json()["documents"] == []
    # the same body, whole, is accepted
    r = client.post("/api/kbs/kb/documents", content=full, headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 202 and _wait(client, r.json()["job_id"])["status"] == "done"


def test_overlong_boundary_is_400_and_leaves_no_staging_folder(client, zhida_home):
    b = "b" * 300
    body = f"--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nx\r\n--{b}--\r\n"
    r = client.post("/api/kbs/kb/documents", content=body.encode(),
                    headers={"content-type": f"multipart/form-data; boundary={b}"})
    assert r.status_code == 400, r.text
    assert "boundary" in r.json()["error"]["message"]
    assert _staging(zhida_home) == []


@pytest.mark.parametrize("content", [[{"type": "text", "text": 5}], [{"type": "text", "text": None}], None, 5,
                                     [None], {"text": "hi"}])
def test_bad_v1_message_content_is_an_openai_style_400(client, content):
    r = client.post("/v1/chat/completions", json={"model": "zhida:kb", "messages": [{"role": "user", "content": content}]})
    assert r.status_code == 400, (content, r.status_code, r.text)
    err = r.json()["error"]
    assert err["type"] in ("invalid_request_error", "bad_request") and err["message"]


def test_v1_text_parts_still_work(client):
    r = client.post("/v1/chat/completions", json={"model": "zhida:kb", "messages": [
        {"role": "assistant", "content": None},
        {"role": "user", "content": [{"type": "text", "text": "annual leave"}, {"type": "image_url", "image_url": {}}]}]})
    assert r.status_code == 200, r.text


def test_requests_in_flight_while_the_kb_is_deleted_get_404_or_409(client):
    """Searches racing a delete used to hit "Cannot operate on a closed database" (500), or crash the
    process inside SQLite (the connection was closed under a running query)."""
    seen: dict[int, int] = {}
    bodies: list[str] = []

    def hammer(stop: threading.Event):
        while not stop.is_set():
            for method, path, body in (("POST", "/api/kbs/kb/search", {"query": "annual leave"}),
                                       ("GET", "/api/kbs/kb", None), ("GET", "/api/kbs/kb/documents", None)):
                r = client.request(method, path, json=body)
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
                if r.status_code not in (200, 404, 409):
                    bodies.append(r.text[:300])

    for _ in range(12):
        client.post("/api/kbs", json={"name": "kb"})
        r = client.post("/api/kbs/kb/documents", files=[("files", ("a.txt", TEXT, "text/plain"))])
        assert _wait(client, r.json()["job_id"])["status"] == "done"
        stop = threading.Event()
        threads = [threading.Thread(target=hammer, args=(stop,)) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        try:
            assert client.delete("/api/kbs/kb").status_code == 200
            time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
    assert not bodies, (seen, bodies[:3])
    assert seen.get(200) and seen.get(404), seen


# --- a full disk: ZHIDA_HOME on a 4 MB tmpfs -------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs: " + r.stderr.decode(errors="replace").strip())
    monkeypatch.setenv("ZHIDA_HOME", str(mnt / "home"))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(mnt: Path) -> Path:
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _small_disk_client(monkeypatch):
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    from app.config import load_settings
    from app.server import create_app

    return TestClient(create_app(load_settings(), ui=False))


def test_create_kb_on_a_full_disk_is_507(small_disk, monkeypatch):
    with _small_disk_client(monkeypatch) as c:
        assert c.post("/api/kbs", json={"name": "first"}).status_code == 201
        filler = _fill(small_disk)
        r = c.post("/api/kbs", json={"name": "second"})
        assert r.status_code == 507, r.text
        assert r.json()["error"]["type"] == "disk_full" and "disk is full" in r.json()["error"]["message"]
        os.unlink(filler)
        assert c.get("/api/kbs/first").status_code == 200


def test_upload_on_a_full_disk_is_507_not_the_clients_fault(small_disk, monkeypatch):
    with _small_disk_client(monkeypatch) as c:
        assert c.post("/api/kbs", json={"name": "kb"}).status_code == 201
        filler = _fill(small_disk)
        r = c.post("/api/kbs/kb/documents", files=[("files", ("big.txt", TEXT * 40, "text/plain"))])
        assert r.status_code == 507, r.text
        assert r.json()["error"]["type"] == "disk_full"
        assert _staging(small_disk / "home") == []
        os.unlink(filler)
        r = c.post("/api/kbs/kb/documents", files=[("files", ("big.txt", TEXT, "text/plain"))])
        assert r.status_code == 202
        assert _wait(c, r.json()["job_id"])["status"] == "done"  # nothing keeps writing after the unmount
