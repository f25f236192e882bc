"""Who may talk to the server: the Host allow-list, same-origin writes and closed CORS (pure ASGI).

The server listens on loopback, and loopback is reachable from every web page the user opens: a page
can POST to http://127.0.0.1:7860/ without reading the answer (a "no-cors" request), and a page on
another localhost port passes Gradio's own CORS check, which trusts every localhost origin. DNS
rebinding goes further: a page on attacker.example re-points its name at 127.0.0.1 and becomes
same-origin with us. Three checks close those doors, before anything else reads the request:

1. Host: the name the client asked for must be one this server answers to: a loopback name, an IP
   literal (a rebinding attack needs a DNS name), the address the connection arrived on, the bind
   name, or one listed in `server.allowed_hosts`. Anything else is 400.
2. Writes (POST/PUT/PATCH/DELETE) and websocket handshakes whose Origin (or, without one, Referer)
   is not this server's own scheme://host:port are 403, unless the origin is listed in
   `server.cors_origins`. Browsers always send Origin on such requests; clients that send neither
   (curl, scripts, the CLI) are not a browser riding on the user's session and pass unchanged.
3. CORS: a preflight from an origin not in `server.cors_origins` is 403, and Access-Control-* headers
   are stripped from every answer to such an origin, so Gradio's localhost CORS never reaches a page.
"""
from __future__ import annotations

import ipaddress
import json
import socket
from typing import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None]:
    """`Host` header -> (lower-case name without brackets, port or None). ('', None) when unparsable."""
    value = (value or "").strip()
    if not value:
        return "", None
    try:
        parts = urlsplit("//" + value)
        return (parts.hostname or "").lower().rstrip("."), parts.port
    except ValueError:
        return "", None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def normalise_origin(origin: str) -> str | None:
    """`scheme://host[:port]` with the default port made explicit, or None for `null`/garbage."""
    try:
        parts = urlsplit((origin or "").strip())
        scheme = (parts.scheme or "").lower()
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or port is None:
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class OriginGuard:
    def __init__(self, app, *, bind_host: str | None = None, allowed_hosts: Iterable[str] = (),
                 cors_origins: Iterable[str] = ()):
        self.app = app
        hosts = {h.lower().strip().strip("[]").rstrip(".") for h in allowed_hosts if h and str(h).strip()}
        self.any_host = "*" in hosts
        bind = (bind_host or "").strip().strip("[]").lower()
        if bind and bind not in WILDCARD_BINDS:
            hosts.add(bind)
        elif bind_host is not None:  # listening on every interface: the machine's own name too
            hosts.add(socket.gethostname().lower())
        self.hosts = hosts | set(LOOPBACK_NAMES)
        self.cors = {o for o in (normalise_origin(x) for x in cors_origins) if o}

    # -- the three checks --------------------------------------------------------------------
    def host_allowed(self, name: str, scope) -> bool:
        if not name:
            return False
        if self.any_host or name in self.hosts or is_ip_literal(name):
            return True
        server = scope.get("server") or ()
        return bool(server) and str(server[0]).lower() == name  # the address the client connected to

    def own_origin(self, scope, host_header: str) -> str | None:
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        return normalise_origin(f"{scheme}://{host_header}")

    def foreign_writer(self, scope, headers: dict[str, str]) -> str | None:
        """The origin of a browser write that is not ours (None when the request may go on)."""
        if scope["type"] == "http" and scope.get("method") not in WRITE_METHODS:
            return None
        given = headers.get("origin")
        if given is None and headers.get("referer"):
            parts = urlsplit(headers["referer"])
            given = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"
        if given is None:
            site = headers.get("sec-fetch-site")
            return "a cross-site page" if site in ("cross-site", "same-site") else None
        origin = normalise_origin(given)
        if origin is not None and (origin == self.own_origin(scope, headers.get("host", "")) or origin in self.cors):
            return None
        return given or "null"

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or []:
            headers[key.decode("latin-1").lower()] = value.decode("latin-1")
        name, _ = split_host(headers.get("host", ""))
        if not self.host_allowed(name, scope):
            return await _refuse(scope, send, 400, "host_not_allowed",
                                 f"this server does not answer to the host name {headers.get('host', '')!r}: open it as "
                                 "http://127.0.0.1:<port>/ or add the name to server.allowed_hosts in config.yaml")
        foreign = self.foreign_writer(scope, headers)
        if foreign is not None:
            return await _refuse(scope, send, 403, "forbidden_origin",
                                 f"cross-origin request refused: this server only takes changes from its own pages, "
                                 f"not from {foreign} (list trusted origins in server.cors_origins)")
        origin = headers.get("origin")
        if origin is None or normalise_origin(origin) in self.cors:
            return await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
            return await _refuse(scope, send, 403, "forbidden_origin",
                                 f"cross-origin requests from {origin} are not allowed")

        async def no_cors_send(message):  # same-origin pages need no CORS headers; others must not get them
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [(k, v) for k, v in message.get("headers") or []
                                      if not k.lower().startswith(b"access-control-")]
            await send(message)

        return await self.app(scope, receive, no_cors_send)


async def _refuse(scope, send, status: int, kind: str, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4403 if status == 403 else 4400})
        return
    body = json.dumps({"error": {"message": message, "type": kind}}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"vary", b"Origin")]})
    await send({"type": "http.response.body", "body": body})
