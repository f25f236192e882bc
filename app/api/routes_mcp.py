"""The MCP server (app.mcp_server) over streamable HTTP at /mcp, inside `zhida serve`.

It sits behind the same outer middleware as /api (app.server): the Host allow-list and same-origin
writes (app.api.origin), the access token (app.api.auth, which answers /mcp like an API path: JSON
401, never the login page) and the body limits. The SDK's own DNS-rebinding check is switched off
because OriginGuard already applies Zhida's rules (and knows `server.allowed_hosts`); keeping both
would refuse a token-protected server bound to another interface that OriginGuard admits.

Stateless and JSON: every POST carries one JSON-RPC request and gets one JSON answer, so no session
lives on in the server between calls and nothing streams past the body limits. The SDK's session
manager needs a running task group; it is entered in the app's lifespan, around whatever lifespan
the app already has (the job recovery, Gradio's).
"""
from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI

PATH = "/mcp"


def mount_mcp(app: FastAPI, ctx: Any) -> None:
    """Mount /mcp on the server's app; `ask` answers with the server's own loaded LLM where it has one."""
    from mcp.server.transport_security import TransportSecuritySettings

    from app.mcp_server import ZhidaTools, build_server

    shared = getattr(ctx, "llm", None)  # the API's LLM cache (name -> backend)
    tools = ZhidaTools(ctx.settings, llm_loader=(lambda: shared(None)) if callable(shared) else None)
    server = build_server(ctx.settings, tools=tools)
    sub = server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True,
                                     transport_security=TransportSecuritySettings(
                                         enable_dns_rebinding_protection=False))
    app.router.routes.extend(sub.routes)  # the /mcp route itself (no auth routes: Zhida checks its own token)
    manager = server.session_manager
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with manager.run():
            async with inner(a) as state:
                yield state

    app.router.lifespan_context = lifespan
