"""A real uvicorn server in a thread, configured exactly like `zhida serve` (app.api.serving), for tests
that need real sockets: slow clients, connection limits, clients that disconnect mid-stream."""
from __future__ import annotations

import contextlib
import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app, settings, host: str = "127.0.0.1"):
    import uvicorn

    from app.api.serving import uvicorn_config

    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, settings, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout=15)
