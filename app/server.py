"""One FastAPI app for `zhida serve`: REST API (/api), OpenAI-compatible chat (/v1), /health,
OpenAPI docs (/docs) and the Gradio UI mounted at /.

Loopback-only by default; any other bind address needs an access token, which
is then checked on every request (see app.api.auth). Outermost, app.api.origin
answers only to this server's own Host names and refuses writes from other
origins; CORS stays closed unless `server.cors_origins` lists origins.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import FastAPI

from app.api import create_api
from app.api.auth import TokenMiddleware
from app.api.limits import BodyLimitMiddleware, BodyTimeoutMiddleware
from app.api.origin import OriginGuard
from app.api.context import AppContext
from app.errors import UserError


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(settings: dict[str, Any], cli_token: str | None = None) -> str | None:
    token = cli_token or (settings.get("server") or {}).get("token")
    token = str(token).strip() if token is not None else None
    return token or None


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UserError(
            f"refusing to listen on {host} without an access token: set ZHIDA_TOKEN, server.token "
            "in config.yaml or pass --token (or bind 127.0.0.1)"
        )
    if token is not None and len(token) < 8:
        raise UserError("the access token is too short: use at least 8 characters")


def create_app(settings: dict[str, Any], *, token: str | None = None, ui: bool = True,
               context: AppContext | None = None, bind_host: str | None = None) -> FastAPI:
    """The whole server as one ASGI app (tests use it with TestClient, `zhida serve` with uvicorn)."""
    ctx = context or AppContext(settings)
    app = create_api(ctx)
    if ui:
        import gradio as gr

        from app.ui.app import build_ui
        from app.ui import explore, viewer
        from app.ui.render import CSS

        demo, i18n = build_ui(ctx)
        demo.queue(default_concurrency_limit=4)
        limits = ctx.upload_limits()
        app = gr.mount_gradio_app(app, demo, path="/", i18n=i18n, css=CSS + viewer.CSS + explore.CSS,
                                  head=viewer.HEAD, footer_links=["api"],
                                  max_file_size=limits["max_bytes"], show_error=True)
    origins = (settings.get("server") or {}).get("cors_origins") or []
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["*"],
                           allow_headers=["Authorization", "X-Zhida-Token", "Content-Type"])
    srv = settings.get("server") or {}
    limits = ctx.upload_limits()
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(float(srv.get("max_request_kb", 1024)) * 1024),
                       upload_max_bytes=limits["max_bytes"] * limits["max_files"] + 1024 * 1024)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=float(srv.get("body_timeout_s", 30)))
    if token:  # nothing is read before the token is checked ...
        app.add_middleware(TokenMiddleware, token=token)
    # ... except the Host and Origin headers: a page on another origin is refused even with a cookie
    app.add_middleware(OriginGuard, bind_host=bind_host or srv.get("host"),
                       allowed_hosts=srv.get("allowed_hosts") or [], cors_origins=origins)
    return app
