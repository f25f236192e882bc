"""A small OpenAI-compatible model server for tests: GET /v1/models and streaming POST /v1/chat/completions.

It runs on 127.0.0.1 through tests.local_server.serving. What it answers is a function of the messages
(`reply`), so a test decides what "the model" says; it sends a usage chunk when asked
(`stream_options.include_usage`), like vLLM, Ollama and LM Studio do. Every request is recorded.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Callable, Iterator

from tests.local_server import serving

PROMPT_TOKENS, COMPLETION_TOKENS = 123, 45  # what the fake reports as its own count


@contextmanager
def fake_openai(reply: Callable[[list[dict]], str] = lambda messages: "好的[1]。",
                models: tuple[str, ...] = ("qwen2.5:7b",), report_usage: bool = True,
                old_server: bool = False) -> Iterator[dict]:
    """Yields {"url": base URL ending in /v1, "port", "requests": [(path, body), ...]}. `old_server`: answer
    400 to `stream_options`, as servers from before token counts in streams do."""
    requests: list = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            requests.append((self.path, None))
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"}
                                                            for m in models]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            requests.append((self.path, body))
            if body.get("model") not in models:
                self._json(404, {"error": {"message": f"model {body.get('model')!r} not found"}})
                return
            if old_server and "stream_options" in body:
                self._json(400, {"error": {"message": "Unrecognized request argument supplied: stream_options"}})
                return
            text = reply(body.get("messages") or [])
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in [text[i:i + 4] for i in range(0, len(text), 4)]:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.write(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n')
            if report_usage and (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                         "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
                self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    with serving(Handler) as server:
        port = server.server_address[1]
        yield {"url": f"http://127.0.0.1:{port}/v1", "port": port, "requests": requests}
