"""What the API and the web UI share: settings, the KB catalog, loaded models and the job runner.

This is the one place the server touches the knowledge layer and the answering
code; routes and UI callbacks call these methods and get plain JSON-ready
dicts back, or an `ApiError` with the HTTP status that fits.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from app.api.errors import ApiError
from app.api.shapes import answer_dict, chunk_dict, url_key
from app.api.uploads import SavedUpload
from app.config import zhida_home
from app.jobs import Job, JobRunner
from app.journal import JobJournal

UPLOADS = "uploads"


def _scope(documents) -> dict[str, Any]:
    """`documents` for the backend only when some are chosen (an empty list means the whole KB)."""
    return {"documents": [str(d) for d in documents]} if documents else {}
STAGING = ".incoming"


class AppContext:
    def __init__(self, settings: dict[str, Any], *, jobs: JobRunner | None = None, backend: Any = None,
                 journal: JobJournal | None = None):
        self.settings = settings
        self.journal = journal or JobJournal(zhida_home() / "server" / "jobs.sqlite")
        self.jobs = jobs or JobRunner(max_workers=2)
        if self.jobs.on_finished is None:
            self.jobs.on_finished = lambda job: self.journal.finished(job.id, job.to_dict())
        if backend is None:
            from app.api.backend import Backend

            backend = Backend(settings)
        self.backend = backend

    # ---- settings ---------------------------------------------------------------
    def upload_limits(self) -> dict[str, int]:
        srv = self.settings.get("server") or {}
        return {"max_bytes": int(float(srv.get("max_upload_mb", 200)) * 1024 * 1024),
                "max_files": int(srv.get("max_upload_files", 50))}

    def supported_suffixes(self) -> list[str]:
        return sorted({s.lower() for s in self.backend.supported_suffixes()})

    def llm_choices(self) -> list[str]:
        return self.backend.llm_choices()

    def defaults(self) -> dict[str, Any]:
        r = self.settings.get("retrieval") or {}
        return {"k": int(r.get("top_k", 5)), "mode": r.get("mode", "hybrid"), "rerank": bool(r.get("rerank", False)),
                "llm": (self.settings.get("answer") or {}).get("llm", "extractive"),
                "embedding_model": (self.settings.get("embedding") or {}).get("model"),
                "chunk_size": (self.settings.get("chunking") or {}).get("chunk_size", 500),
                "chunk_overlap": (self.settings.get("chunking") or {}).get("chunk_overlap", 80)}

    # ---- knowledge bases ----------------------------------------------------------
    def list_kbs(self) -> list[dict[str, Any]]:
        out = []
        for name in self.backend.kb_names():
            try:
                out.append(self.backend.kb_info(name))
            except Exception as exc:  # one broken KB must not hide the others
                out.append({"name": name, "error": str(exc)})
        return out

    def require_kb(self, name: str) -> None:
        if not self.backend.kb_exists(name):
            raise ApiError(404, f"no knowledge base named {name!r}", "not_found")

    def kb_info(self, name: str) -> dict[str, Any]:
        self.require_kb(name)
        info = self.backend.kb_info(name)
        info["busy"] = self.jobs.busy(name)
        return info

    def create_kb(self, name: str, *, embedding_model: str | None = None, chunk_size: int | None = None,
                  chunk_overlap: int | None = None) -> dict[str, Any]:
        name = (name or "").strip()
        if not name:
            raise ApiError(400, "a knowledge base needs a name", "bad_request")
        if self.backend.kb_exists(name):
            raise ApiError(409, f"knowledge base {name!r} already exists", "exists")
        if chunk_size is not None and chunk_overlap is not None and chunk_overlap >= chunk_size:
            raise ApiError(400, "chunk_overlap must be smaller than chunk_size", "bad_request")
        if embedding_model:
            self.check_remote_model(embedding_model.strip())
        self.backend.create_kb(name, embedding_model=embedding_model, chunk_size=chunk_size,
                               chunk_overlap=chunk_overlap)
        return self.backend.kb_info(name)

    def check_remote_model(self, model: str) -> None:
        """A request may not point a KB's embedder at a server the config file did not name.

        `openai:<model>@<url>` sends every chunk of every document to `<url>`: from a request (API or
        UI) only the configured `embedding.remote.base_url` is accepted, so a page or script that can
        reach this server cannot make it ship a folder's text to a host of its choosing. Other hosts
        are set in config.yaml or with the CLI (`zhida kb create --embedding-model ...`).
        """
        if not model.startswith("openai:") or model == (self.settings.get("embedding") or {}).get("model"):
            return  # not remote, or the config file's own default
        _, at, url = model[len("openai:"):].partition("@")
        if not at:
            return  # the configured server
        configured = ((self.settings.get("embedding") or {}).get("remote") or {}).get("base_url") or ""
        if not configured or url_key(url) != url_key(configured):
            shown = configured or "none is set"
            raise ApiError(403, f"refusing embedding server {url!r} from a request: knowledge bases created "
                                f"through the server may only use the configured embedding.remote.base_url "
                                f"({shown}); write openai:<model> to use it, or create the KB with the CLI",
                           "remote_model_refused")

    def delete_kb(self, name: str) -> None:
        self.require_kb(name)
        if self.jobs.busy(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: an ingest job is running; try again when it ends",
                           "busy")
        self.backend.delete_kb(name)

    def kb_dir(self, name: str) -> Path:
        self.require_kb(name)
        return Path(self.backend.kb_path(name))

    def staging_dir(self, name: str) -> Path:
        return self.kb_dir(name) / UPLOADS / STAGING

    def uploads_dir(self, name: str) -> Path:
        return self.kb_dir(name) / UPLOADS

    def check_not_locked_elsewhere(self, name: str) -> None:
        """409 when another process (a CLI `zhida ingest`) holds the KB's writer lock."""
        if not self.jobs.busy(name) and self.backend.locked_elsewhere(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: another ingest is writing to it; "
                                "queries still work, try the upload again when it ends", "busy")

    # ---- documents ------------------------------------------------------------------
    def _display_name(self, name: str, source: str) -> str:
        return Path(str(source).replace("\\", "/")).name or str(source)

    def documents(self, name: str) -> list[dict[str, Any]]:
        self.require_kb(name)
        docs = self.backend.documents(name)
        for d in docs:
            d.setdefault("name", self._display_name(name, d.get("source", "")))
        return docs

    def delete_document(self, name: str, doc_id: str) -> dict[str, Any]:
        self.require_kb(name)
        doc = next((d for d in self.documents(name) if str(d["id"]) == str(doc_id)), None)
        if doc is None:
            raise ApiError(404, f"no document {doc_id!r} in knowledge base {name!r}", "not_found")
        if self.jobs.busy(name) or self.backend.locked_elsewhere(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: an ingest is writing to it; try again when it ends",
                           "busy")
        self.backend.delete_document(name, doc["id"])
        # the uploaded copy goes too (only ever a file inside this KB's uploads folder)
        src = Path(str(doc.get("source", "")))
        uploads = self.uploads_dir(name).resolve()
        try:
            if src.is_file() and src.resolve().is_relative_to(uploads):
                src.unlink()
        except OSError:
            pass
        return {"deleted": str(doc["id"]), "name": doc.get("name")}

    # ---- ingest jobs -------------------------------------------------------------------
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
        from app.api.uploads import sanitize_filename, suffix_of

        self.require_kb(name)
        self.check_not_locked_elsewhere(name)
        limits = self.upload_limits()
        if len(paths) > limits["max_files"]:
            raise ApiError(413, f"too many files in one upload (limit {limits['max_files']})", "too_many_files")
        suffixes = set(self.supported_suffixes())
        staging = self.staging_dir(name) / uuid.uuid4().hex
        staging.mkdir(parents=True)
        saved: list[SavedUpload] = []
        rejected: list[dict] = []
        for p in paths:
            src = Path(p)
            original = src.name
            safe = sanitize_filename(original)
            if suffix_of(safe) not in suffixes:
                rejected.append({"name": original, "path": original, "status": "failed", "chunks": 0,
                                 "reason": f"unsupported file type {suffix_of(safe) or '(no extension)'}",
                                 "error_kind": "unsupported"})
                continue
            size = src.stat().st_size
            if size > limits["max_bytes"]:
                rejected.append({"name": original, "path": original, "status": "failed", "chunks": 0,
                                 "reason": f"larger than the upload limit ({limits['max_bytes'] // (1024 * 1024)} MB)",
                                 "error_kind": "too_large"})
                continue
            taken = {s.name for s in saved}
            stem, suffix, n = Path(safe).stem, Path(safe).suffix, 2
            while safe in taken:
                safe, n = f"{stem} ({n}){suffix}", n + 1
            dest = staging / safe
            shutil.copyfile(src, dest)
            saved.append(SavedUpload(original_name=original, name=safe, path=dest, size=size))
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

        report = self.backend.ingest(name, paths, progress=progress, rebuild=rebuild,
                                     **({"password": password} if password else {}))
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

    # ---- retrieval and answers --------------------------------------------------------------
    def _query_args(self, k, mode, rerank) -> dict[str, Any]:
        d = self.defaults()
        return {"k": int(k or d["k"]), "mode": mode or d["mode"], "rerank": d["rerank"] if rerank is None else bool(rerank)}

    def search(self, name: str, query: str, *, k=None, mode=None, rerank=None,
               documents=None) -> tuple[list[dict], dict]:
        self.require_kb(name)
        if not (query or "").strip():
            raise ApiError(400, "the query is empty", "bad_request")
        t0 = time.perf_counter()
        chunks = self.backend.search(name, query, **self._query_args(k, mode, rerank), **_scope(documents))
        ms = (time.perf_counter() - t0) * 1000
        return [chunk_dict(c) for c in chunks], {"retrieve": round(ms, 2)}

    def chat_events(self, name: str, question: str, *, history: list[dict] | None = None, k=None, mode=None,
                    rerank=None, llm: str | None = None, documents=None) -> Iterator[dict[str, Any]]:
        """Validates and retrieves now (so errors become HTTP statuses), then streams the answer.

        Yields {"type": "token", "text"} events, then one {"type": "done", "answer", "mode", "refused",
        "citations", "timings_ms"}.
        """
        self.require_kb(name)
        if not (question or "").strip():
            raise ApiError(400, "the question is empty", "bad_request")
        if llm and llm not in self.llm_choices():
            raise ApiError(400, f"unknown llm {llm!r}; choose one of {', '.join(self.llm_choices())}", "bad_request")
        args = self._query_args(k, mode, rerank)
        t0 = time.perf_counter()
        chunks = self.backend.search(name, question, **args, **_scope(documents))
        retrieve_ms = (time.perf_counter() - t0) * 1000
        stream = self.backend.answer_stream(question, chunks, history=list(history or []), llm=llm, kb=name)
        return self._events(stream, retrieve_ms)

    def _events(self, stream, retrieve_ms: float) -> Iterator[dict[str, Any]]:
        try:
            for kind, value in stream:
                if kind == "token":
                    if value:
                        yield {"type": "token", "text": value}
                elif kind == "error":
                    # a model server that is down, times out or answers an error: 502 before streaming,
                    # an in-band SSE error once tokens went out; never the "not in the knowledge base" text
                    raise ApiError(502, f"the language model failed: {value}", "model_error")
                elif kind == "done":
                    out = answer_dict(value)
                    tm = dict(out.get("timings_ms") or {})
                    tm.setdefault("retrieve", round(retrieve_ms, 2))
                    out["timings_ms"] = tm
                    yield {"type": "done", **out}
        finally:  # closed early (the client left): the model's stream closes with it, now, not at GC
            close = getattr(stream, "close", None)
            if close is not None:
                close()
