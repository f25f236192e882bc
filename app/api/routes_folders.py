"""`GET/PUT /api/kbs/{name}/folders`: the folders a knowledge base keeps in sync (app.folder_sync)."""
from __future__ import annotations

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Folders(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folders: list[str] = Field(..., description="absolute paths of folders on the server's disk; [] stops watching")


def install(app: FastAPI, ctx) -> None:
    """The routes, and watching from start-up to shutdown (after the job recovery, which takes the serve lock)."""
    from app import folder_sync

    sync = folder_sync.for_context(ctx)
    r = APIRouter(prefix="/api")

    @r.get("/kbs/{name}/folders", summary="Watched folders: path, whether it is watched, last sync and failures")
    def get_folders(name: str):
        return {"kb": name, "folders": sync.status(name)}

    @r.put("/kbs/{name}/folders", summary="Set the watched folders (each is synced now and on every change)")
    def put_folders(name: str, body: Folders):
        return {"kb": name, "folders": sync.set_folders(name, body.folders)}

    app.include_router(r)

    @app.on_event("startup")
    def _watch() -> None:
        if getattr(ctx, "serve_lock", None) is None:
            return  # another server on this home resumes jobs and watches; this one only serves
        try:
            sync.start()
        except Exception:  # watching is a convenience: the server must come up without it
            import logging

            logging.getLogger(__name__).warning("could not start watching folders", exc_info=True)

    @app.on_event("shutdown")
    def _unwatch() -> None:
        sync.stop()
