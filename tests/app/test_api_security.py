"""Access token, bind rules, streaming upload limits, file-name sanitising, job queueing, language detection."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient

from app.api.errors import ApiError
from app.api.uploads import receive_upload_form, sanitize_filename
from app.errors import UserError
from app.i18n import detect_lang
from app.jobs import JobRunner
from app.server import check_bind, is_loopback

TOKEN = "s3cret-token-for-tests"


class NoKBs:
    """Just enough catalog for the auth tests: a server with no knowledge bases."""

    def names(self):
        return []

    def exists(self, name):
        return False


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    from app.config import load_settings

    return load_settings()


def create_app(settings, **kw):
    from app.api.context import AppContext
    from app.server import create_app as real

    return real(settings, context=AppContext(settings, catalog=NoKBs()), **kw)


def test_token_is_required_on_api_when_set(settings):
    app = create_app(settings, token=TOKEN, ui=False)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/api/kbs")
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
        assert c.get("/api/kbs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/kbs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/api/kbs", headers={"X-Zhida-Token": TOKEN}).status_code == 200
        assert c.post("/v1/chat/completions", json={}).status_code == 401
        assert c.get("/api/kbs?token=" + TOKEN).status_code == 401  # no tokens in API URLs


def test_browser_token_login_sets_cookie(settings):
    app = create_app(settings, token=TOKEN, ui=False)
    with TestClient(app, follow_redirects=False) as c:
        page = c.get("/docs", headers={"accept": "text/html"})
        assert page.status_code == 401 and "token" in page.text
        assert c.get("/docs?token=nope").status_code == 401
        r = c.get("/docs?token=" + TOKEN)
        assert r.status_code == 303 and r.headers["location"] == "/docs"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert c.get("/docs").status_code == 200  # cookie kept by the client


def test_no_token_means_open_and_no_cors(settings):
    with TestClient(create_app(settings, ui=False)) as c:
        r = c.get("/api/kbs", headers={"Origin": "http://evil.example"})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers


def test_non_loopback_bind_needs_token():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(UserError, match="without an access token"):
        check_bind("0.0.0.0", None)


def test_serve_refuses_public_bind_without_token_in_one_line(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    r = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "serve", "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "token" in lines[0]


@pytest.mark.parametrize("given,expected", [
    ("../../evil.txt", "evil.txt"), ("/etc/passwd", "passwd"), ("C:\\x.txt", "x.txt"), ("a\x00b.txt", "ab.txt"),
    ("..", "upload"), ("", "upload"), ("年度 报告.pdf", "年度 报告.pdf"), ("a<b>:c.md", "a_b__c.md"),
    (".hidden.txt", "hidden.txt"),
])
def test_sanitize_filename(given, expected):
    assert sanitize_filename(given) == expected


def test_sanitize_keeps_suffix_of_very_long_names():
    name = sanitize_filename("长" * 300 + ".docx")
    assert name.endswith(".docx") and len(name.encode()) <= 180


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    body = b""
    for name, data in parts:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n').encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_upload_limit_is_enforced_while_streaming(tmp_path):
    """The body is cut off at the limit: the rest of a 50 MB upload is never read, nothing stays on disk."""
    head = _multipart([("big.txt", b"")]).split(b"\r\n--b0undary--")[0][:-2]  # headers of one part, no data yet
    consumed = {"bytes": 0}

    async def body():
        yield head + b"\r\n"
        for _ in range(50):
            consumed["bytes"] += 1024 * 1024
            yield b"x" * (1024 * 1024)
        yield b"\r\n--b0undary--\r\n"

    async def go():
        return await receive_upload_form("multipart/form-data; boundary=b0undary", body(), tmp_path,
                                         max_bytes=2 * 1024 * 1024, max_files=3, suffixes=[".txt"])

    with pytest.raises(ApiError) as info:
        asyncio.run(go())
    assert info.value.status == 413
    assert consumed["bytes"] <= 3 * 1024 * 1024
    assert not list(tmp_path.rglob("*"))


def test_upload_writes_server_chosen_names(tmp_path):
    async def body():
        yield _multipart([("../a.txt", b"one"), ("sub/a.txt", b"two"), ("报告.md", b"three")])

    form = asyncio.run(receive_upload_form("multipart/form-data; boundary=b0undary", body(), tmp_path,
                                           max_bytes=1024, max_files=5, suffixes=[".txt", ".md"]))
    folder, saved = form.dest, form.saved
    assert [s.name for s in saved] == ["a.txt", "a (2).txt", "报告.md"]
    assert [s.original_name for s in saved] == ["../a.txt", "sub/a.txt", "报告.md"]
    assert all(s.path.parent == folder and folder.parent == tmp_path for s in saved)
    assert (folder / "a (2).txt").read_bytes() == b"two"


def test_jobs_for_one_kb_run_one_at_a_time_others_in_parallel():
    runner = JobRunner(max_workers=3)
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def work(job):
        with lock:
            active[job.kb] = active.get(job.kb, 0) + 1
            peak[job.kb] = max(peak.get(job.kb, 0), active[job.kb])
        time.sleep(0.1)
        with lock:
            active[job.kb] -= 1

    jobs = [runner.submit("a", "upload", work) for _ in range(3)] + [runner.submit("b", "upload", work)]
    assert runner.get(jobs[1].id).status == "queued"
    assert runner.busy("a")
    for j in jobs:
        assert runner.wait(j.id, timeout=10).status == "done"
    assert peak == {"a": 1, "b": 1}
    assert jobs[3].started < jobs[2].started  # b did not wait behind a's queue
    assert not runner.busy("a")
    runner.shutdown()


def test_failed_job_reports_reason():
    runner = JobRunner()

    def boom(job):
        raise RuntimeError("disk full")

    job = runner.wait(runner.submit("a", "folder", boom).id)
    assert job.status == "failed" and job.error == "disk full"
    runner.shutdown()


@pytest.mark.parametrize("header,lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("en;q=0.5, zh-TW;q=0.8", "zh"),
    ("", "en"), (None, "en"), ("fr-FR,fr", "en"), ("fr, zh;q=0.3", "zh"),
])
def test_language_follows_accept_language(header, lang):
    assert detect_lang(header) == lang


def test_ui_is_mounted_at_root_behind_the_same_token(settings):
    with TestClient(create_app(settings, token=TOKEN), follow_redirects=False) as c:
        page = c.get("/", headers={"accept": "text/html"})
        assert page.status_code == 401 and "token" in page.text.lower()
        r = c.get("/?token=" + TOKEN)
        assert r.status_code == 303
        page = c.get("/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert c.get("/health").status_code == 200
        assert c.get("/api/kbs").status_code == 200  # same-origin pages (/docs "try it out") ride on the cookie
