"""Issue 12 item 5: when a streaming client leaves, the answer stops and the upstream model stream is
closed. A real uvicorn (tests.app.live) in front of a fake OpenAI-compatible server on 127.0.0.1 that
streams a token every 50 ms for up to 30 s and notes when its client hangs up."""
from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from tests.app.live import live_server
from tests.local_server import serving

DOC = ("Annual leave policy. Every employee receives fifteen days of paid annual leave per year. "
       "Unused leave can be carried over to the next year, up to five days.").encode()


class _Upstream(BaseHTTPRequestHandler):
    streams: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        record = {"started": time.monotonic(), "ended": None, "tokens": 0, "finished": False}
        type(self).streams.append(record)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for _ in range(600):
                chunk = {"choices": [{"delta": {"content": "leave "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                record["tokens"] += 1
                time.sleep(0.05)
            self.wfile.write(b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')
            record["finished"] = True
        except OSError:  # the server hung up on us: what the test waits for
            pass
        finally:
            record["ended"] = time.monotonic()


@pytest.fixture
def upstream():
    _Upstream.streams = []
    with serving(_Upstream) as server:
        yield server


@pytest.fixture
def base(server_settings, upstream):
    pytest.importorskip("app.answering")
    from app.server import create_app

    s = server_settings
    s["answer"]["llm"] = "openai"
    s["llms"]["openai"].update(base_url=f"http://127.0.0.1:{upstream.server_address[1]}/v1", model="fake",
                               timeout_s=10)
    with live_server(create_app(s, ui=False), s) as (url, _):
        assert httpx.post(url + "/api/kbs", json={"name": "hr"}).status_code == 201
        r = httpx.post(url + "/api/kbs/hr/documents", files=[("files", ("leave.txt", DOC, "text/plain"))])
        job = r.json()["job_id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/api/jobs/{job}").json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield url


@pytest.mark.parametrize("path,body", [
    ("/api/kbs/hr/chat", {"question": "How many days of annual leave per year?", "stream": True}),
    ("/v1/chat/completions", {"model": "zhida:hr", "stream": True,
                              "messages": [{"role": "user", "content": "How many days of annual leave per year?"}]}),
])
def test_client_disconnect_closes_the_upstream_model_stream(base, path, body):
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", base + path, json=body) as r:
            assert r.status_code == 200
            lines = 0
            for line in r.iter_lines():
                if "leave" in line:
                    lines += 1
                if lines >= 3:
                    break
    left = time.monotonic()  # the connection is closed here
    assert _Upstream.streams, "the model was never called"
    rec = _Upstream.streams[-1]
    deadline = left + 5
    while rec["ended"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rec["ended"] is not None, f"upstream still streaming 5 s after the client left ({rec['tokens']} tokens)"
    assert not rec["finished"]
    assert rec["ended"] - left < 3.0
    # the server keeps answering
    assert httpx.get(base + "/health").status_code == 200
