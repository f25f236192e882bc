"""Ingest jobs of the server: journal an upload or a folder, run it in the background, resume it after a
restart, report it per file.

A part of AppContext (app.api.context), the one seam to the knowledge layer: these methods call only
the adapter's own (`_ingest`, `require_kb`, `uploads_dir`, ...), never the knowledge layer directly.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from app.api.errors import ApiError
from app.api.uploads import SavedUpload
from app.jobs import Job

UPLOADS = "uploads"
STAGING = ".incoming"


class IngestJobs:
    """Mixed into AppContext, which provides `jobs` (JobRunner), `journal` (JobJournal) and the KB methods."""

    def start_upload_job(self, name: str, saved: list[SavedUpload], rejected: list[dict] | None = None,
                         password: str | None = None) -> Job:
        """Journal the accepted files (app.journal), then queue their ingest; the caller answers 202.
        The password is not journaled: a job resumed after a restart reports an encrypted PDF as such."""
        files = [{"name": s.name, "original": s.original_name, "staged": str(s.path)} for s in saved]
        params = {"files": files, "rejected": list(rejected or [])}
        job_id = self.jobs.new_id()
        self.journal.accepted(job_id, name, "upload", params)
        return self._submit(job_id, name, "upload", params, password=password)

    def _submit(self, job_id: str, name: str, kind: str, params: dict[str, Any], resumed: bool = False,
                password: str | None = None) -> Job:
        """Queue a journaled job (new, or resumed after a restart under the same id)."""
        extra = {"resumed": True} if resumed else {}
        if kind == "folder":
            target = Path(params["path"])

            def folder_work(job: Job) -> None:
                self._run_ingest(job, name, [target.resolve()], {}, rebuild=bool(params.get("rebuild")))

            return self.jobs.submit(name, "folder", folder_work, job_id=job_id, meta={"path": str(target), **extra})
        files, rejected = params["files"], list(params.get("rejected") or [])
        uploads = self.uploads_dir(name)
        names = {f["name"]: f["original"] for f in files}

        def work(job: Job) -> None:
            staged = [Path(f["staged"]) for f in files]
            try:
                if not files:
                    self.jobs.update(job, summary={"failed": len(rejected)})
                    return
                final: list[Path] = []
                lost: list[dict] = []
                for f, src in zip(files, staged):  # into place under uploads/; same name = same document
                    dest = uploads / f["name"]
                    if src.exists():
                        os.replace(src, dest)
                    elif not dest.exists():  # neither staged nor moved: gone while the server was down
                        lost.append({"name": f["original"], "path": f["original"], "status": "failed", "chunks": 0,
                                     "reason": "the uploaded file was lost before it was indexed; upload it again",
                                     "error_kind": "lost"})
                        continue
                    final.append(dest)  # moved now, or by the run a crash interrupted
                if final:
                    self._run_ingest(job, name, final, names, extra_rows=rejected + lost, password=password)
                else:
                    self.jobs.update(job, files=rejected + lost, summary={"failed": len(rejected + lost)})
            finally:
                for folder in {p.parent for p in staged}:
                    shutil.rmtree(folder, ignore_errors=True)

        return self.jobs.submit(name, "upload", work, total=len(files), files=list(rejected), job_id=job_id,
                                meta={"files": [f["original"] for f in files], **extra})

    def job_snapshot(self, job_id: str) -> dict[str, Any] | None:
        """A job of this run, or one the journal kept from before the last restart."""
        return self.jobs.snapshot(job_id) or self.journal.snapshot(job_id)

    def recent_jobs(self, kb: str | None = None) -> list[dict[str, Any]]:
        live = [j.to_dict() for j in reversed(self.jobs.jobs(kb))]
        ids = {j["id"] for j in live}
        return live + [j for j in self.journal.finished_jobs(kb) if j.get("id") not in ids]

    def start_upload_job_from_paths(self, name: str, paths: list[str], password: str | None = None) -> Job:
        """The web UI's uploads (already on disk in Gradio's cache): same checks, same job."""
        from app.api.uploads import stage_local_files

        self.require_kb(name)
        self.check_not_locked_elsewhere(name)
        limits = self.upload_limits()
        if len(paths) > limits["max_files"]:
            raise ApiError(413, f"too many files in one upload (limit {limits['max_files']})", "too_many_files")
        staging = self.staging_dir(name) / uuid.uuid4().hex
        saved, rejected = stage_local_files(paths, staging, max_bytes=limits["max_bytes"],
                                            suffixes=self.supported_suffixes())
        if not saved:
            shutil.rmtree(staging, ignore_errors=True)
            if not rejected:
                raise ApiError(400, "no files in the upload", "bad_request")
        return self.start_upload_job(name, saved, rejected, password=password)

    def start_folder_job(self, name: str, path: str, *, rebuild: bool = False) -> Job:
        self.require_kb(name)
        if not path:
            raise ApiError(400, "give the path of a folder or file on the server", "bad_request")
        target = Path(path).expanduser()
        if not target.exists():
            raise ApiError(400, f"{path} does not exist on the server", "bad_request")
        self.check_not_locked_elsewhere(name)
        params = {"path": str(target), "rebuild": bool(rebuild)}
        job_id = self.jobs.new_id()
        self.journal.accepted(job_id, name, "folder", params)
        return self._submit(job_id, name, "folder", params)

    def _run_ingest(self, job: Job, name: str, paths: list[Path], names: dict[str, str], rebuild: bool = False,
                    extra_rows: list[dict] | None = None, password: str | None = None) -> None:
        from app.ingest_progress import JobProgress

        progress = JobProgress(lambda **changes: self.jobs.update(job, **changes), lambda: job.meta)
        report = self._ingest(name, paths, progress, rebuild, password)
        files = []
        for f in report.files:
            shown = names.get(Path(f.path).name) or Path(str(f.path)).name
            files.append({"name": shown, "path": str(f.path), "status": f.status, "chunks": int(f.chunks or 0),
                          "reason": f.reason or "", "error_kind": f.error_kind or "",
                          "warnings": list(getattr(f, "warnings", []) or [])})
        files = list(extra_rows or []) + files
        self.jobs.update(job, files=files, processed=max(job.total, len(files)), total=max(job.total, len(files)))
        summary = report.summary()
        summary["failed"] = sum(1 for r in files if r["status"] == "failed")
        self.jobs.update(job, summary=summary, meta={**job.meta, "embedded_chunks": report.embedded_chunks,
                                                     "seconds": round(report.seconds, 3)})
