"""How `zhida serve` runs uvicorn: connection limits and timeouts, so stalled clients cannot starve it.

Before, ~1,100 connections that sent nothing (or one header byte now and then) used up the process's
1,024 file descriptors and /health, search and upload timed out, in token mode too, since the token
is only read once a request's headers are complete. uvicorn bounds a request's header size
(`h11_max_incomplete_event_size`) and the idle time between requests (`timeout_keep_alive`) but has
no deadline for the headers themselves, so this module adds one:

- `HeaderDeadlineProtocol` (uvicorn's h11 protocol) closes a connection whose request headers are not
  complete `header_timeout_s` after its first byte (or after it opened), answering 408;
- `limit_concurrency` (server.max_connections) answers 503 past that many connections/tasks, and the
  file-descriptor soft limit is raised towards the hard one so the limit is reached first;
- a request body that pauses longer than server.body_timeout_s is answered 408 (app.api.limits).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

import h11

log = logging.getLogger(__name__)


class HeaderDeadlineProtocol(H11Protocol):
    """h11 protocol with a deadline for each request's headers (slowloris)."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_timer()  # part of a request's headers: the clock runs from its first byte
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._cancel_header_timer()  # between requests the keep-alive timeout rules
        super().on_response_complete()

    def _arm_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        body = b"request headers took too long\n"
        try:
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        except Exception:  # pragma: no cover - the peer is gone already
            pass
        self.transport.close()


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never past the hard limit); returns the soft limit."""
    try:
        import resource
    except ImportError:  # Windows
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %s: %s", target, exc)
    return soft


def server_limits(settings: dict[str, Any]) -> dict[str, float]:
    srv = settings.get("server") or {}
    return {"max_connections": int(srv.get("max_connections", 2048)),
            "header_timeout_s": float(srv.get("header_timeout_s", 10)),
            "body_timeout_s": float(srv.get("body_timeout_s", 30)),
            "keep_alive_s": float(srv.get("keep_alive_s", 5)),
            "max_header_kb": int(srv.get("max_header_kb", 32))}


def uvicorn_config(app, settings: dict[str, Any], *, host: str, port: int, **extra):
    """The uvicorn.Config `zhida serve` uses (tests run the same one in a thread)."""
    import uvicorn

    lim = server_limits(settings)
    nofile = raise_fd_limit(int(lim["max_connections"]) + 256)
    concurrency = max(8, min(int(lim["max_connections"]), nofile - 128))
    protocol = type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": lim["header_timeout_s"]})
    return uvicorn.Config(app, host=host, port=port, http=protocol, limit_concurrency=concurrency,
                          timeout_keep_alive=lim["keep_alive_s"], backlog=min(2048, concurrency),
                          h11_max_incomplete_event_size=int(lim["max_header_kb"]) * 1024, **extra)
