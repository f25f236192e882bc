"""Request body limit for every endpoint (pure ASGI, so streaming responses stay intact).

JSON endpoints take at most `max_bytes` (server.max_request_kb): a larger Content-Length is refused with
413 before anything is read, and a chunked body is cut off once it passes the limit. Upload routes
(`POST /api/kbs/{name}/documents` and the web UI's upload) are left to their own streaming limits
(server.max_upload_mb per file, server.max_upload_files per request).

`BodyTimeoutMiddleware` answers 408 when a request body pauses longer than server.body_timeout_s
between two pieces (a client that sends headers and then a byte now and then would otherwise hold a
worker and a connection for ever); the header deadline lives in app.api.serving.
"""
from __future__ import annotations

import asyncio
import json

UPLOAD_SUFFIXES = ("/documents",)
UPLOAD_PREFIXES = ("/gradio_api/upload", "/upload")


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int, upload_max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)
        self.upload_max_bytes = int(upload_max_bytes)

    def _limit(self, path: str) -> int:
        if path.startswith("/api/kbs/") and path.endswith(UPLOAD_SUFFIXES) or path.startswith(UPLOAD_PREFIXES):
            return self.upload_max_bytes
        return self.max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope.get("path", ""))
        for key, value in scope.get("headers") or []:
            if key == b"content-length":
                try:
                    if int(value) > limit:
                        return await _too_large(send, limit)
                except ValueError:
                    return await _too_large(send, limit, "a bad Content-Length header")
        seen = 0
        started = rejected = False

        async def limited_receive():
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # answer 413 now; the app sees the client go away and its reply is dropped
                    rejected = True
                    if not started:
                        await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


async def _too_large(send, limit: int, what: str = "") -> None:
    msg = f"request body too large (limit {limit // 1024} KB)" if not what else f"request refused: {what}"
    body = json.dumps({"error": {"message": msg, "type": "too_large"}}).encode("utf-8")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyTimeoutMiddleware:
    def __init__(self, app, timeout_s: float):
        self.app = app
        self.timeout_s = float(timeout_s)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.timeout_s <= 0:
            return await self.app(scope, receive, send)
        body_done = started = expired = False

        async def timed_receive():
            nonlocal body_done, expired
            if expired:
                return {"type": "http.disconnect"}
            if body_done:  # afterwards the app only listens for a disconnect: no deadline for that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except asyncio.TimeoutError:
                expired = True
                if not started:
                    await _send_json(send, 408, "request_timeout",
                                     f"the request body stalled for more than {self.timeout_s:g} s")
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message):
            nonlocal started
            if expired:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not expired:
                raise


async def _send_json(send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind}}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
