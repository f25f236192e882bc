"""The REST API: knowledge bases, documents, ingest jobs, search, chat (SSE) and /v1 OpenAI-compatible chat."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api.context import AppContext
from app.api.errors import install_error_handlers


def create_api(ctx: AppContext) -> FastAPI:
    from app.api import (model_servers, routes_chat, routes_conversations, routes_embeddings, routes_kb,
                         routes_sources)

    # /docs and /redoc load Swagger UI and ReDoc from this server (FastAPI's own pages fetch them from
    # a CDN, which a machine without internet never reaches: the page stayed blank)
    app: FastAPI = FastAPIOffline(
        title="Zhida (知答) API",
        version="1",
        description="Local knowledge-base Q&A. Errors are `{\"error\": {\"message\", \"type\"}}`. When the server "
                    "has an access token, send `Authorization: Bearer <token>` or `X-Zhida-Token`.",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url="/api-docs-static",
    )
    app.state.zhida = ctx
    install_error_handlers(app)

    @app.get("/health", summary="Liveness: always open, reveals nothing")
    def health():
        return {"status": "ok"}

    app.include_router(routes_kb.build_router(ctx))
    app.include_router(routes_chat.build_router(ctx))
    app.include_router(routes_embeddings.build_router(ctx.settings))
    _mount_mcp(app, ctx)
    app.include_router(routes_sources.build_router(ctx))
    app.include_router(routes_conversations.build_router(ctx))
    app.include_router(model_servers.build_router(ctx))

    @app.on_event("startup")
    def _resume_jobs() -> None:
        from app.api.recovery import recover

        recover(ctx)

    _install_folder_sync(app, ctx)

    @app.on_event("shutdown")
    def _stop_jobs() -> None:
        from app.api.recovery import release

        ctx.jobs.shutdown(wait=False)
        release(ctx)

    return app


def _mount_mcp(app: FastAPI, ctx: AppContext) -> None:
    """/mcp (app.api.routes_mcp) where the `mcp` SDK is installed; the rest of the server works without it."""
    from app.api.routes_mcp import mount_mcp

    try:
        mount_mcp(app, ctx)
    except ModuleNotFoundError as exc:
        if not (exc.name and exc.name.split(".")[0] == "mcp"):
            raise


def _install_folder_sync(app: FastAPI, ctx: AppContext) -> None:
    """Watched folders (app.api.routes_folders) where watchdog is installed."""
    try:
        import watchdog  # noqa: F401
    except ModuleNotFoundError:
        return
    from app.api import routes_folders

    routes_folders.install(app, ctx)
