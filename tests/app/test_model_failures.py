"""A model server that is down is an error naming it, in every interface: never the refusal text.

Against a real closed port on 127.0.0.1 (nothing listens), with the real OpenAI-compatible backend."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi.testclient import TestClient
from tests.local_server import serving

REFUSALS = ("知识库中没有找到相关内容", "does not contain an answer")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


class _Broken(BaseHTTPRequestHandler):
    """A model server that answers 500, or accepts the request and never answers."""

    behaviour = "500"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if _Broken.behaviour == "hang":
            time.sleep(8)
            return
        body = b'{"error": {"message": "CUDA out of memory"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(params=["closed port", "500", "hang"])
def dead_url(request):
    if request.param == "closed port":
        yield f"http://127.0.0.1:{_closed_port()}/v1"
        return
    _Broken.behaviour = request.param
    with serving(_Broken) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def client(monkeypatch, zhida_home, dead_url):
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    monkeypatch.setenv("ZHIDA_LLM", "openai")
    monkeypatch.setenv("ZHIDA_OPENAI_BASE_URL", dead_url)
    monkeypatch.setenv("ZHIDA_OPENAI_MODEL", "qwen2.5:7b")
    from app.config import load_settings
    from app.server import create_app

    s = load_settings()
    s["llms"]["openai"]["timeout_s"] = 2  # the hanging server: a timeout naming the server, in 2 s
    with TestClient(create_app(s, ui=False)) as c:
        assert c.post("/api/kbs", json={"name": "hr"}).status_code in (200, 201)
        r = c.post("/api/kbs/hr/documents", files=[("files", ("leave.txt", "年假有十五天。报销在三十天内提交。".encode(),
                                                                "text/plain"))])
        job = r.json()["job_id"]
        for _ in range(300):
            if c.get(f"/api/jobs/{job}").json()["status"] in ("done", "failed"):
                break
            import time

            time.sleep(0.1)
        yield c


def test_rest_chat_answers_502_naming_the_server(client, dead_url):
    r = client.post("/api/kbs/hr/chat", json={"question": "年假有几天？"})
    assert r.status_code == 502, r.text
    message = r.json()["error"]["message"]
    assert dead_url.split("/v1")[0] in message and not any(x in r.text for x in REFUSALS)


def test_rest_chat_stream_reports_an_error_event(client, dead_url):
    with client.stream("POST", "/api/kbs/hr/chat", json={"question": "年假有几天？", "stream": True}) as r:
        text = "".join(r.iter_text())
    assert "event: error" in text and dead_url.split("/v1")[0] in text
    assert "event: done" not in text and not any(x in text for x in REFUSALS)


def test_openai_endpoint_returns_an_error_object(client, dead_url):
    r = client.post("/v1/chat/completions", json={"model": "zhida:hr",
                                                  "messages": [{"role": "user", "content": "年假有几天？"}]})
    assert r.status_code == 502 and "error" in r.json()
    assert dead_url.split("/v1")[0] in r.json()["error"]["message"]


def test_cli_ask_exits_non_zero_naming_the_server(tmp_path):
    dead_url = f"http://127.0.0.1:{_closed_port()}/v1"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text("# 年假\n\n年假有十五天。\n", encoding="utf-8")
    env = dict(os.environ, ZHIDA_HOME=str(tmp_path / "home"), ZHIDA_EMBEDDING_MODEL="hashing")
    assert subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(docs), "--kb", "hr"], env=env,
                          capture_output=True, text=True).returncode == 0
    for extra in ([], ["--json"]):
        out = subprocess.run([sys.executable, "-m", "app.cli", "ask", "年假有几天？", "--kb", "hr", "--llm", "openai",
                              *extra], env=dict(env, ZHIDA_OPENAI_BASE_URL=dead_url), capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert dead_url.split("/v1")[0] in out.stderr and "Traceback" not in out.stderr
        assert not any(x in out.stdout for x in REFUSALS)
        assert out.stdout.strip() == ""  # nothing pretends to be an answer
