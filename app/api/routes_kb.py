"""Knowledge bases, documents, uploads, folder ingest and jobs."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.context import AppContext
from app.api.errors import ApiError
from app.api.uploads import receive_upload_form


class CreateKB(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., description="letters, digits, '-', '_' (Chinese allowed)")
    embedding_model: Optional[str] = Field(None, description="defaults to embedding.model in the settings")
    chunk_size: Optional[int] = Field(None, ge=50, le=20000)
    chunk_overlap: Optional[int] = Field(None, ge=0, le=10000)


class IngestFolder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(..., description="a folder or file on the server's disk")
    rebuild: bool = False


def build_router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/api")

    @r.get("/kbs", summary="List knowledge bases")
    def list_kbs():
        return {"kbs": ctx.list_kbs()}

    @r.post("/kbs", status_code=201, summary="Create a knowledge base")
    def create_kb(body: CreateKB):
        return ctx.create_kb(body.name, embedding_model=body.embedding_model,
                             chunk_size=body.chunk_size, chunk_overlap=body.chunk_overlap)

    @r.get("/kbs/{name}", summary="One knowledge base with its stats")
    def show_kb(name: str):
        return ctx.kb_info(name)

    @r.delete("/kbs/{name}", summary="Delete a knowledge base and all its files")
    def delete_kb(name: str):
        ctx.delete_kb(name)
        return {"deleted": name}

    @r.get("/kbs/{name}/documents", summary="Documents with chunk counts, status and error reason")
    def list_documents(name: str):
        return {"kb": name, "documents": ctx.documents(name)}

    @r.delete("/kbs/{name}/documents/{doc_id}", summary="Delete one document (and its uploaded file)")
    def delete_document(name: str, doc_id: str):
        return ctx.delete_document(name, doc_id)

    @r.post("/kbs/{name}/documents", status_code=202, summary="Upload files (multipart 'files', many) and ingest them; "
            "an unsupported file fails alone; 'password' opens encrypted PDFs",
            openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                                                 "password": {"type": "string", "format": "password"}},
                "required": ["files"]}}}, "required": True}})
    async def upload_documents(name: str, request: Request):
        ctx.require_kb(name)
        ctx.check_not_locked_elsewhere(name)
        limits = ctx.upload_limits()
        form = await receive_upload_form(
            request.headers.get("content-type", ""), request.stream(), ctx.staging_dir(name),
            max_bytes=limits["max_bytes"], max_files=limits["max_files"], suffixes=ctx.supported_suffixes(),
        )
        # an unsupported file fails alone (a failed row of the job); the password opens encrypted PDFs
        # and is kept in memory for this job only, never journaled
        job = ctx.start_upload_job(name, form.saved, form.rejected, password=form.fields.get("password") or None)
        return {"job_id": job.id, "job": job.to_dict(),
                "files": [{"name": s.original_name, "stored_as": s.name, "bytes": s.size} for s in form.saved],
                "rejected": form.rejected}

    @r.post("/kbs/{name}/ingest", status_code=202, summary="Ingest (re-index) a folder on the server's disk")
    def ingest_folder(name: str, body: IngestFolder):
        job = ctx.start_folder_job(name, body.path, rebuild=body.rebuild)
        return {"job_id": job.id, "job": job.to_dict()}

    @r.get("/jobs/{job_id}", summary="Status of an ingest job: queued/running/done/failed, per-file results, progress")
    def get_job(job_id: str):
        snap = ctx.job_snapshot(job_id)
        if snap is None:
            raise ApiError(404, f"no job {job_id!r}", "not_found")
        return snap

    @r.get("/jobs", summary="Recent jobs, newest first (this run's, then finished ones from the journal)")
    def list_jobs(kb: Optional[str] = None):
        return {"jobs": ctx.recent_jobs(kb)}

    return r
