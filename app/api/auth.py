"""Access-token check for the whole server (API, OpenAI endpoint, docs and web UI).

API clients send `Authorization: Bearer <token>` or `X-Zhida-Token: <token>`.
A browser opens `/?token=<token>` once: the token is checked, stored in an
HttpOnly SameSite=Strict cookie and the page reloads without it in the URL;
without a valid cookie the UI answers with a small page asking for the token.
Comparisons are constant-time (`hmac.compare_digest`). `/health` stays open.
"""
from __future__ import annotations

import hmac
import html
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

COOKIE = "zhida_token"
OPEN_PATHS = ("/health",)
API_PREFIXES = ("/api/", "/v1/", "/mcp")


def token_matches(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def cookie_value(token: str) -> str:
    """What the browser keeps: a keyed digest of the token, never the token itself."""
    return hmac.new(token.encode("utf-8"), b"zhida-ui-session", "sha256").hexdigest()


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers") or []:
        out[key.decode("latin-1").lower()] = value.decode("latin-1")
    return out


def header_token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-zhida-token") or None


def cookie_token(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Zhida 知答</title>
<style>body{{font-family:system-ui,sans-serif;display:flex;justify-content:center;margin-top:15vh}}
form{{display:flex;flex-direction:column;gap:.6em;min-width:18em}}input,button{{font-size:1em;padding:.4em}}</style></head>
<body><form method="get" action="{action}"><b>知答 Zhida</b>
<label for="t">访问令牌 / Access token</label><input id="t" name="token" type="password" autofocus>
<button type="submit">进入 / Enter</button>{note}</form></body></html>"""


class TokenMiddleware:
    """Pure ASGI middleware (keeps streaming responses and websockets intact)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token or None
        self._cookie = cookie_value(self.token) if self.token else ""

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        if token_matches(header_token(headers), self.token) or token_matches(cookie_token(headers), self._cookie):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        query = dict(parse_qsl((scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True))
        is_api = path.startswith(API_PREFIXES)
        if not is_api and "token" in query:
            if token_matches(query.get("token"), self.token):
                return await self._set_cookie_and_redirect(scope, send, query)
            return await self._login(scope, send, note="令牌不正确 / Wrong token")
        if is_api or scope.get("method") not in ("GET", "HEAD") or _wants_json(headers):
            return await self._json_401(send)
        return await self._login(scope, send)

    async def _set_cookie_and_redirect(self, scope, send, query):
        query.pop("token", None)
        root = scope.get("root_path", "")
        location = root + scope.get("path", "/") + (("?" + urlencode(query)) if query else "")
        secure = "; Secure" if scope.get("scheme") in ("https", "wss") else ""
        cookie = f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await send({
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("utf-8")), (b"set-cookie", cookie.encode("latin-1")),
                        (b"cache-control", b"no-store"), (b"content-length", b"0")],
        })
        await send({"type": "http.response.body", "body": b""})

    async def _json_401(self, send):
        body = json.dumps({"error": {"message": "missing or wrong access token (send Authorization: Bearer <token> "
                                                 "or X-Zhida-Token)", "type": "unauthorized"}}).encode("utf-8")
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                        (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})

    async def _login(self, scope, send, note: str = ""):
        action = html.escape(scope.get("root_path", "") + scope.get("path", "/"), quote=True)
        note_html = f"<small style='color:#b00'>{html.escape(note)}</small>" if note else ""
        body = _LOGIN_PAGE.format(action=action, note=note_html).encode("utf-8")
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                        (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})


def _wants_json(headers: dict[str, str]) -> bool:
    accept = headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept
