"""REST API against real knowledge bases in the temp ZHIDA_HOME (hashing embedder, extractive answers)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

EN_TEXT = (
    "Annual leave policy. Every employee receives fifteen days of paid annual leave per year. "
    "Unused leave can be carried over to the next year, up to five days.\n\n"
    "Remote work. Staff may work from home two days a week after approval by their manager."
)
ZH_DOCX = ["报销制度", "差旅费用需要在出差结束后三十天内提交报销申请。", "住宿标准为每晚不超过五百元。"]
ZH_PDF = "公司的年会在每年十二月举行，所有员工都可以参加。年会地点在上海。"


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(ZH_DOCX[0], level=1)
    for para in ZH_DOCX[1:]:
        d.add_paragraph(para)
    d.save(str(path))
    return path


def make_pdf(path: Path) -> Path:
    import pymupdf as fitz

    doc = fitz.open()
    page = doc.new_page()
    page.insert_textbox(fitz.Rect(50, 50, 550, 800), ZH_PDF, fontname="china-s", fontsize=12)
    doc.save(str(path))
    doc.close()
    return path


@pytest.fixture
def settings(server_settings):
    s = server_settings
    s["server"]["max_upload_mb"] = 1
    s["server"]["max_upload_files"] = 5
    return s


@pytest.fixture
def client(settings):
    from app.server import create_app

    app = create_app(settings, ui=False)
    with TestClient(app) as c:
        yield c


def wait_job(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}"
        time.sleep(0.05)


def upload(client: TestClient, kb: str, files: list[tuple[str, bytes]]):
    return client.post(f"/api/kbs/{kb}/documents", files=[("files", (n, b, "application/octet-stream")) for n, b in files])


def client_with_kb(monkeypatch, kb: str, files: list[tuple[str, bytes]], llm_url: str | None = None) -> TestClient:
    """An entered TestClient of the whole server (no UI, hashing embedder, no token) with `kb` holding
    `files`; with `llm_url`, answers come from that OpenAI-compatible server. The caller exits it."""
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    if llm_url:
        monkeypatch.setenv("ZHIDA_LLM", "openai")
        monkeypatch.setenv("ZHIDA_OPENAI_BASE_URL", llm_url)
        monkeypatch.setenv("ZHIDA_OPENAI_MODEL", "qwen2.5:7b")
    else:
        monkeypatch.delenv("ZHIDA_LLM", raising=False)
    from app.config import load_settings
    from app.server import create_app

    c = TestClient(create_app(load_settings(), ui=False))
    c.__enter__()
    assert c.post("/api/kbs", json={"name": kb}).status_code == 201
    assert wait_job(c, upload(c, kb, files).json()["job_id"])["status"] == "done"
    return c


@pytest.fixture
def answering():
    return pytest.importorskip("app.answering", reason="app/answering.py has not landed yet")


@pytest.fixture
def kb_with_docs(client, tmp_path):
    assert client.post("/api/kbs", json={"name": "hr"}).status_code == 201
    docx_bytes = make_docx(tmp_path / "报销.docx").read_bytes()
    pdf_bytes = make_pdf(tmp_path / "年会.pdf").read_bytes()
    r = upload(client, "hr", [("leave.txt", EN_TEXT.encode()), ("报销.docx", docx_bytes), ("年会.pdf", pdf_bytes)])
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "done", job
    return job


def sse_events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        event, data = "message", None
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if data is not None:
            out.append((event, json.loads(data) if data != "[DONE]" else "[DONE]"))
    return out


def test_health_is_open_and_plain(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    assert "/api/kbs/{name}/chat" in client.get("/openapi.json").json()["paths"]


def test_kb_create_list_delete(client):
    r = client.post("/api/kbs", json={"name": "notes", "chunk_size": 300, "chunk_overlap": 30})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "notes"
    assert [k["name"] for k in client.get("/api/kbs").json()["kbs"]] == ["notes"]
    assert client.post("/api/kbs", json={"name": "notes"}).status_code == 409
    assert client.delete("/api/kbs/notes").status_code == 200
    assert client.get("/api/kbs").json()["kbs"] == []
    r = client.delete("/api/kbs/notes")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found"


def test_bad_input_is_400_with_error_shape(client):
    r = client.post("/api/kbs", json={"nmae": "x"})
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type"}
    client.post("/api/kbs", json={"name": "k"})
    assert client.post("/api/kbs/k/search", json={"query": "x", "mode": "fuzzy"}).status_code == 400
    assert client.post("/api/kbs/k/documents", content=b"nope", headers={"content-type": "text/plain"}).status_code == 400


def test_upload_txt_docx_pdf_ingests_in_background_and_lists_documents(client, kb_with_docs, zhida_home):
    job = kb_with_docs
    rows = {f["name"]: f for f in job["files"]}
    assert set(rows) == {"leave.txt", "报销.docx", "年会.pdf"}
    assert all(f["status"] == "added" and f["chunks"] > 0 for f in rows.values()), rows
    assert job["progress"] == 1.0 and job["summary"]["added"] == 3
    docs = client.get("/api/kbs/hr/documents").json()["documents"]
    assert sorted(d["name"] for d in docs) == sorted(rows)
    assert all(d["chunks"] > 0 for d in docs)
    # stored under the KB's own uploads folder, nowhere else
    for d in docs:
        assert Path(d["source"]).resolve().is_relative_to((zhida_home / "kbs" / "hr").resolve())


def test_search_finds_the_passage(client, kb_with_docs):
    r = client.post("/api/kbs/hr/search", json={"query": "年会在哪里举行", "k": 3, "mode": "sparse"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and results[0]["name"] == "年会.pdf"
    assert results[0]["page"] == 1
    r = client.post("/api/kbs/hr/search", json={"query": "annual leave days", "k": 2, "mode": "hybrid", "rerank": False})
    assert r.json()["results"][0]["name"] == "leave.txt"


def test_chat_json_answer_with_citations(client, kb_with_docs, answering):
    r = client.post("/api/kbs/hr/chat", json={"question": "How many days of annual leave?", "mode": "sparse"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "extractive" and body["refused"] is False
    assert body["answer"]
    assert body["citations"] and body["citations"][0]["n"] == 1
    assert any(c["name"] == "leave.txt" for c in body["citations"])
    assert "retrieve" in body["timings_ms"]


def test_chat_sse_streams_tokens_then_done(client, kb_with_docs, answering):
    with client.stream("POST", "/api/kbs/hr/chat", json={"question": "住宿标准是多少？", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = sse_events(text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"token"}
    done = events[-1][1]
    streamed = "".join(d["text"] for e, d in events if e == "token")
    assert streamed.strip() and done["answer"].startswith(streamed.strip()[:10])
    assert done["citations"] and {"mode", "refused", "timings_ms"} <= set(done)
    # the citation keeps the heading its passage sits under (the docx's 报销制度)
    assert any(c["heading"] == "报销制度" for c in done["citations"]), done["citations"]


def test_openai_compatible_chat_and_models(client, kb_with_docs, answering):
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["zhida:hr"]
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "When is the annual party?"},
            {"role": "assistant", "content": "In December."}, {"role": "user", "content": "年会在哪里举行？"}]
    r = client.post("/v1/chat/completions", json={"model": "zhida:hr", "messages": msgs, "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["message"]["content"]
    assert body["citations"]
    with client.stream("POST", "/v1/chat/completions", json={"model": "zhida:hr", "messages": msgs, "stream": True}) as r:
        assert r.status_code == 200
        events = sse_events("".join(r.iter_text()))
    assert events[-1][1] == "[DONE]"
    chunks = [d for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content.strip()
    r = client.post("/v1/chat/completions", json={"model": "zhida:nope", "messages": msgs})
    assert r.status_code == 404
    r = client.post("/v1/chat/completions", json={"model": "gpt-4", "messages": msgs})
    assert r.status_code == 404


def test_delete_document_removes_it_and_its_upload(client, kb_with_docs):
    docs = client.get("/api/kbs/hr/documents").json()["documents"]
    leave = next(d for d in docs if d["name"] == "leave.txt")
    r = client.delete(f"/api/kbs/hr/documents/{leave['id']}")
    assert r.status_code == 200, r.text
    assert not Path(leave["source"]).exists()
    names = [d["name"] for d in client.get("/api/kbs/hr/documents").json()["documents"]]
    assert "leave.txt" not in names and len(names) == 2
    assert client.delete(f"/api/kbs/hr/documents/{leave['id']}").status_code == 404


def test_unknown_kb_doc_and_job_are_404(client):
    for method, path in [("get", "/api/kbs/nope/documents"), ("delete", "/api/kbs/nope/documents/1"),
                         ("get", "/api/jobs/doesnotexist"), ("delete", "/api/kbs/nope")]:
        r = getattr(client, method)(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["type"] == "not_found"
    assert client.post("/api/kbs/nope/search", json={"query": "x"}).status_code == 404
    assert client.post("/api/kbs/nope/chat", json={"question": "x", "stream": True}).status_code == 404
    assert upload(client, "nope", [("a.txt", b"hi")]).status_code == 404


def test_unsupported_type_fails_alone_and_only_unsupported_is_415_leaving_nothing(client, zhida_home):
    client.post("/api/kbs", json={"name": "k"})
    r = upload(client, "k", [("tool.exe", b"MZ\x90\x00"), ("run.sh", b"#!/bin/sh")])
    assert r.status_code == 415, r.text
    assert r.json()["error"]["type"] == "unsupported_type"
    uploads = zhida_home / "kbs" / "k" / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]
    # in a batch, the unsupported file is a failed row and the others are indexed (issue 14)
    r = upload(client, "k", [("ok.txt", b"fine"), ("tool.exe", b"MZ\x90\x00")])
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    rows = {f["name"]: f for f in job["files"]}
    assert rows["ok.txt"]["status"] == "added" and rows["tool.exe"]["status"] == "failed"
    assert not (uploads / "tool.exe").exists()


def test_too_large_is_413_and_partial_file_deleted(client, zhida_home):
    client.post("/api/kbs", json={"name": "k"})
    r = upload(client, "k", [("small.txt", b"ok"), ("big.txt", b"x" * (1024 * 1024 + 10))])
    assert r.status_code == 413, r.text
    assert r.json()["error"]["type"] == "too_large"
    uploads = zhida_home / "kbs" / "k" / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]
    r = upload(client, "k", [(f"f{i}.txt", b"x") for i in range(6)])
    assert r.status_code == 413 and r.json()["error"]["type"] == "too_many_files"


def _starts_with(path, prefix: bytes) -> bool:
    """Whether a file begins with `prefix`; a file gone since the listing (SQLite's transient -journal
    beside jobs.sqlite, while the server records the job) begins with nothing."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(prefix)) == prefix
    except (FileNotFoundError, IsADirectoryError):
        return False


def test_hostile_file_names_stay_inside_the_kb_folder(client, zhida_home, tmp_path):
    client.post("/api/kbs", json={"name": "k"})
    boundary = "zhidaboundary"
    names = ["../../evil.txt", "/etc/passwd.txt", "C:\\x.txt", "nul\x00byte.txt", "..\\..\\win.md"]
    body = b""
    for i, n in enumerate(names):
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{n}\"\r\n"
                 f"Content-Type: text/plain\r\n\r\n").encode("utf-8") + f"hostile {i} text".encode() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    r = client.post("/api/kbs/k/documents", content=body,
                    headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 202, r.text
    stored = [f["stored_as"] for f in r.json()["files"]]
    assert all("/" not in s and "\\" not in s and "\x00" not in s and not s.startswith(".") for s in stored), stored
    wait_job(client, r.json()["job_id"])
    kb_dir = (zhida_home / "kbs" / "k").resolve()
    written = [p for p in zhida_home.rglob("*") if _starts_with(p, b"hostile ")]
    assert len(written) == len(names)
    assert all(p.resolve().is_relative_to(kb_dir / "uploads") for p in written)
    assert not (zhida_home / "evil.txt").exists() and not (zhida_home / "kbs" / "evil.txt").exists()
    shown = sorted(d["name"] for d in client.get("/api/kbs/k/documents").json()["documents"])
    assert "evil.txt" in shown and "x.txt" in shown and "passwd.txt" in shown


def test_ingest_server_folder_job(client, tmp_path):
    client.post("/api/kbs", json={"name": "k"})
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(EN_TEXT, encoding="utf-8")
    (folder / "b.md").write_text("# 标题\n\n这是一个测试文档，内容关于年假。", encoding="utf-8")
    r = client.post("/api/kbs/k/ingest", json={"path": str(folder)})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "done" and job["summary"]["added"] == 2, job
    again = wait_job(client, client.post("/api/kbs/k/ingest", json={"path": str(folder)}).json()["job_id"])
    assert again["summary"]["unchanged"] == 2 and again["summary"]["added"] == 0
    assert client.post("/api/kbs/k/ingest", json={"path": str(tmp_path / "missing")}).status_code == 400


def test_corrupt_upload_reports_failed_row_with_reason(client):
    client.post("/api/kbs", json={"name": "k"})
    r = upload(client, "k", [("bad.pdf", b"\x13\x37" * 500), ("good.txt", EN_TEXT.encode())])
    job = wait_job(client, r.json()["job_id"])
    rows = {f["name"]: f for f in job["files"]}
    assert rows["bad.pdf"]["status"] == "failed" and rows["bad.pdf"]["reason"]
    assert rows["good.txt"]["status"] == "added"
    assert job["summary"]["failed"] == 1


def test_kb_locked_by_another_process_is_409_busy(client, zhida_home):
    import subprocess
    import sys

    client.post("/api/kbs", json={"name": "k"})
    lock = zhida_home / "kbs" / "k" / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); "
                               "l.acquire(); print('held', flush=True); time.sleep(60)", str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = upload(client, "k", [("a.txt", b"hello world")])
        assert r.status_code == 409, r.text
        assert r.json()["error"]["type"] == "busy" and "busy" in r.json()["error"]["message"]
        assert client.post("/api/kbs/k/ingest", json={"path": str(zhida_home)}).status_code == 409
        assert client.post("/api/kbs/k/search", json={"query": "hello"}).status_code == 200  # reads still work
    finally:
        holder.kill()
        holder.wait()
    assert upload(client, "k", [("a.txt", b"hello world")]).status_code == 202


def test_second_upload_into_the_same_kb_queues_behind_the_first(client):
    client.post("/api/kbs", json={"name": "k"})
    first = upload(client, "k", [(f"a{i}.txt", (EN_TEXT + f" file {i}").encode()) for i in range(5)]).json()["job_id"]
    second = upload(client, "k", [("b.txt", b"second upload text")]).json()
    assert second["job"]["status"] in ("queued", "running", "done")
    assert wait_job(client, first)["status"] == "done"
    job = wait_job(client, second["job_id"])
    assert job["status"] == "done" and job["summary"]["added"] == 1
    assert len(client.get("/api/kbs/k/documents").json()["documents"]) == 6
