"""Issue 12 item 4: stalled and slow clients cannot starve the server. A real uvicorn (the `zhida serve`
configuration) on 127.0.0.1, raw sockets, bounded loops."""
from __future__ import annotations

import selectors
import socket
import time

import httpx
import pytest

from tests.app.live import live_server


@pytest.fixture
def settings(server_settings):
    s = server_settings
    s["server"].update(header_timeout_s=1.5, body_timeout_s=1.5)
    return s


def _app(settings, **kw):
    from app.server import create_app

    return create_app(settings, ui=False, **kw)


def _connect(base: str) -> socket.socket:
    host, port = base.rsplit("//", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def _closed_within(socks: list[socket.socket], seconds: float) -> tuple[int, list[bytes]]:
    """How many of `socks` the server closed within `seconds` (reading whatever it sent first)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    got: dict[int, bytes] = {}
    closed = 0
    deadline = time.monotonic() + seconds
    while closed < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if data:
                got[s.fileno()] = got.get(s.fileno(), b"") + data
                continue
            sel.unregister(s)
            closed += 1
    sel.close()
    return closed, list(got.values())


def test_stalled_connections_do_not_starve_health_search_or_upload(settings):
    """~1,100 connections that never finish their headers (the issue's fd-exhaustion run)."""
    from app.api.serving import raise_fd_limit

    if raise_fd_limit(4096) < 2600:
        pytest.skip("needs an open-file limit of 2600 for 1,100 client and 1,100 server sockets in one process")
    with live_server(_app(settings), settings) as (base, _):
        assert httpx.post(base + "/api/kbs", json={"name": "kb"}).status_code == 201
        stalled = []
        try:
            for i in range(1100):
                s = _connect(base)
                if i % 2:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
                stalled.append(s)
            t0 = time.monotonic()
            assert httpx.get(base + "/health", timeout=10).status_code == 200
            assert httpx.post(base + "/api/kbs/kb/search", json={"query": "x"}, timeout=10).status_code == 200
            r = httpx.post(base + "/api/kbs/kb/documents", files=[("files", ("a.txt", b"hello world", "text/plain"))],
                           timeout=10)
            assert r.status_code == 202
            assert time.monotonic() - t0 < 10
            job = r.json()["job_id"]
            while httpx.get(f"{base}/api/jobs/{job}", timeout=10).json()["status"] not in ("done", "failed"):
                assert time.monotonic() - t0 < 60
                time.sleep(0.05)
            closed, answers = _closed_within(stalled, 15)
            assert closed == len(stalled), f"only {closed} of {len(stalled)} stalled connections were closed"
            assert any(a.startswith(b"HTTP/1.1 408") for a in answers)
        finally:
            for s in stalled:
                s.close()


def test_slow_header_client_is_cut_off_at_the_deadline(settings):
    with live_server(_app(settings), settings) as (base, _):
        s = _connect(base)
        s.settimeout(0.25)
        request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        t0 = time.monotonic()
        answer = b""
        for byte in request:  # one byte every 0.1 s: each byte alone would reset a naive idle timer
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            answer += data
            if not data or answer:
                break
        elapsed = time.monotonic() - t0
        s.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 1.0 < elapsed < 5.0, elapsed


def test_slow_body_client_gets_408_and_leaves_no_partial_upload(settings, zhida_home):
    with live_server(_app(settings), settings) as (base, _):
        assert httpx.post(base + "/api/kbs", json={"name": "kb"}).status_code == 201
        s = _connect(base)
        part = (b"--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"slow.txt\"\r\n\r\n" + b"x" * 100)
        s.sendall(b"POST /api/kbs/kb/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n" + part)
        s.settimeout(8)
        t0 = time.monotonic()
        answer = b""
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except OSError:
            pass
        s.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert time.monotonic() - t0 < 6
        deadline = time.monotonic() + 5
        incoming = zhida_home / "kbs" / "kb" / "uploads" / ".incoming"
        while incoming.exists() and any(incoming.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not incoming.exists() or not any(incoming.iterdir())


def test_past_max_connections_requests_get_a_quick_503(settings):
    settings["server"]["max_connections"] = 10
    with live_server(_app(settings), settings) as (base, _):
        held = [_connect(base) for _ in range(12)]
        try:
            r = httpx.get(base + "/health", timeout=5)
            assert r.status_code == 503
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while httpx.get(base + "/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_token_mode_keeps_its_limits(settings):
    token = "s3cret-token-for-tests"
    with live_server(_app(settings, token=token), settings) as (base, _):
        s = _connect(base)
        s.sendall(b"GET /api/kbs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed, answers = _closed_within([s], 6)
        s.close()
        assert closed == 1 and answers and answers[0].startswith(b"HTTP/1.1 408")
        assert httpx.get(base + "/api/kbs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(base + "/api/kbs").status_code == 401
