"""The upload form: a password opens an encrypted PDF, an unsupported file fails alone."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.test_api import client, settings, wait_job  # noqa: F401 (fixtures)

ENCRYPTED = Path(__file__).resolve().parents[3] / "shared" / "data" / "docs" / "bad_encrypted_password_test.pdf"


def _post(client, files, data=None):  # noqa: F811
    return client.post("/api/kbs/up/documents", data=data or {},
                       files=[("files", (n, b, "application/octet-stream")) for n, b in files])


def test_password_field_indexes_an_encrypted_pdf_and_a_bad_file_fails_alone(client, zhida_home):  # noqa: F811
    if not ENCRYPTED.exists():
        pytest.skip(f"{ENCRYPTED} is missing (../shared/data is not checked out)")
    pdf = ENCRYPTED.read_bytes()
    assert client.post("/api/kbs", json={"name": "up"}).status_code == 201

    r = _post(client, [("locked.pdf", pdf)])
    job = wait_job(client, r.json()["job_id"])
    row = next(f for f in job["files"] if f["name"] == "locked.pdf")
    assert row["status"] == "failed" and row["error_kind"] == "encrypted"

    r = _post(client, [("locked.pdf", pdf), ("virus.exe", b"MZ\x90\x00"), ("note.txt", "年假十五天。".encode())],
              data={"password": "test"})
    assert r.status_code == 202, r.text
    assert [x["name"] for x in r.json()["rejected"]] == ["virus.exe"]
    job = wait_job(client, r.json()["job_id"])
    rows = {f["name"]: f for f in job["files"]}
    assert rows["locked.pdf"]["status"] in ("added", "updated") and rows["locked.pdf"]["chunks"] > 0, rows
    assert rows["note.txt"]["status"] == "added"
    assert rows["virus.exe"]["status"] == "failed" and "unsupported" in rows["virus.exe"]["reason"]
    assert job["summary"]["failed"] == 1
    assert "password" not in str(client.get(f"/api/jobs/{job['id']}").json())  # never echoed ...
    journal = zhida_home / "server" / "jobs.sqlite"
    assert journal.exists() and b'"password"' not in journal.read_bytes()  # ... nor written down

    # its pages cannot be shown (the server keeps no password): the viewer says so and shows the text
    doc = next(d for d in client.get("/api/kbs/up/documents").json()["documents"] if d["name"] == "locked.pdf")
    cid = client.get(f"/api/kbs/up/documents/{doc['id']}/chunks").json()["chunks"][0]["chunk_id"]
    src = client.get(f"/api/kbs/up/chunks/{cid}/source")
    assert src.status_code == 409 and src.json()["error"]["type"] == "encrypted"
    view = client.get(f"/api/kbs/up/chunks/{cid}/view", params={"lang": "en"})
    assert view.status_code == 200 and "password-protected" in view.text and "<details open>" in view.text

    r = _post(client, [("another.pdf", pdf)], data={"password": "wrong"})  # same bytes as locked.pdf: a new name
    row = wait_job(client, r.json()["job_id"])["files"][0]
    assert row["status"] == "failed" and "wrong password" in row["reason"]

    only_bad = _post(client, [("a.exe", b"MZ"), ("b.bin", b"\x00")])
    assert only_bad.status_code == 415 and "a.exe" in only_bad.json()["error"]["message"]
    long = _post(client, [("n.txt", b"x")], data={"password": "p" * 5000})
    assert long.status_code == 400


def test_failure_reasons_are_in_the_users_language_with_warnings():
    from app.ui.render import job_status, reason_text

    locked = {"reason": "the PDF is password-protected; give the password (--password)", "error_kind": "encrypted"}
    assert "--password" not in reason_text(locked, "en") and "PDF password" in reason_text(locked, "en")
    assert "PDF 密码" in reason_text(locked, "zh")
    bad = {"reason": "unsupported file type .exe", "error_kind": "unsupported", "warnings": ["OCR extra missing"]}
    assert reason_text(bad, "zh") == "不支持的文件类型（unsupported file type .exe） ⚠ OCR extra missing"
    import time

    running = {"status": "running", "processed": 2, "total": 5, "current": "b.pdf", "started": time.time() - 10}
    line = job_status(running, "en")
    assert "2/5" in line and "about 15s left" in line


def test_a_big_file_reports_chunks_embedded_while_it_runs(client):  # noqa: F811
    """One file of ~400 chunks: the job's meta counts its embedded chunks (what the UI shows)."""
    from app.ui.render import job_status

    assert client.post("/api/kbs", json={"name": "big", "chunk_size": 60, "chunk_overlap": 0}).status_code == 201
    text = "\n\n".join(f"第{i}段：员工每年享有十五天带薪年假，未休完的可以顺延到下一年。" for i in range(420))
    r = client.post("/api/kbs/big/documents", files=[("files", ("big.txt", text.encode(), "text/plain"))])
    job = wait_job(client, r.json()["job_id"])
    chunks = job["files"][0]["chunks"]
    assert chunks > 256, chunks
    assert job["meta"]["embedding"] == {"done": chunks, "total": chunks, "file": "big.txt"}
    running = {**job, "status": "running", "processed": 0, "total": 1, "current": "big.txt",
               "meta": {"embedding": {"done": 128, "total": chunks}}}
    assert f"128/{chunks} chunks embedded" in job_status(running, "en")
