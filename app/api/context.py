"""The one seam between the server and the knowledge layer: settings, the KB catalog, loaded models,
the job runner and the answering code.

Routes and UI callbacks call these methods and get plain JSON-ready dicts back, or an `ApiError` with
the HTTP status that fits; this is the only file of the server that knows the knowledge and answering
APIs by name (an earlier second adapter, `Backend`, sat behind this one and every call crossed both:
the dropped model-error event and the lost citation headings lived in the gap between them). The
ingest-job methods live in app.api.ingest_jobs (IngestJobs, a part of this class) and reach the
knowledge layer only through `_ingest` here.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

from app.api.errors import ApiError, translated
from app.api.ingest_jobs import STAGING, UPLOADS, IngestJobs
from app.api.shapes import answer_dict, chunk_dict, url_key
from app.config import zhida_home
from app.jobs import JobRunner
from app.journal import JobJournal

LLM_BACKENDS = ["extractive", "openai", "transformers", "llamacpp"]


def _scope(documents) -> dict[str, Any]:
    """`documents` for the search only when some are chosen (an empty list means the whole KB)."""
    return {"documents": [str(d) for d in documents]} if documents else {}


class AppContext(IngestJobs):
    def __init__(self, settings: dict[str, Any], *, jobs: JobRunner | None = None,
                 journal: JobJournal | None = None, catalog: Any = None):
        """`catalog`: a knowledge.Catalog (default: the one the settings describe, opened on first use)."""
        self.settings = settings
        self.journal = journal or JobJournal(zhida_home() / "server" / "jobs.sqlite")
        self.jobs = jobs or JobRunner(max_workers=2)
        if self.jobs.on_finished is None:
            self.jobs.on_finished = lambda job: self.journal.finished(job.id, job.to_dict())
        self._catalog = catalog
        self._llms: dict[str, Any] = {}
        self._llm_lock = threading.Lock()

    # ---- wiring -------------------------------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None:
            from app import services

            self._catalog = services.catalog(self.settings)
        return self._catalog

    def _open(self, name: str):
        return self.catalog.open(name)

    def gone_while_running(self, name: Any, exc: Exception) -> ApiError | None:
        """A request that was in flight while its KB was deleted (or closed for a rebuild) meets a closed
        SQLite handle or vanished files: that is 404/409 with a reason, not a 500."""
        import sqlite3

        if not isinstance(name, str) or not name:
            return None
        try:
            exists = self.catalog.exists(name)
        except Exception:
            exists = False
        if not exists:
            return ApiError(404, f"knowledge base {name!r} was deleted while this request was running", "not_found")
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
            return ApiError(409, f"knowledge base {name!r} was closed (deleted, recreated or rebuilt) while this "
                                 "request was running; try again", "busy")
        return None

    # ---- settings ---------------------------------------------------------------
    def upload_limits(self) -> dict[str, int]:
        srv = self.settings.get("server") or {}
        return {"max_bytes": int(float(srv.get("max_upload_mb", 200)) * 1024 * 1024),
                "max_files": int(srv.get("max_upload_files", 50))}

    def supported_suffixes(self) -> list[str]:
        from ingest import supported_suffixes

        return sorted({s.lower() for s in supported_suffixes()})

    def llm_choices(self) -> list[str]:
        """The LLM backends, the configured one first."""
        current = (self.settings.get("answer") or {}).get("llm", "extractive")
        return [current] + [x for x in LLM_BACKENDS if x != current]

    def defaults(self) -> dict[str, Any]:
        r = self.settings.get("retrieval") or {}
        return {"k": int(r.get("top_k", 5)), "mode": r.get("mode", "hybrid"), "rerank": bool(r.get("rerank", False)),
                "llm": (self.settings.get("answer") or {}).get("llm", "extractive"),
                "embedding_model": (self.settings.get("embedding") or {}).get("model"),
                "chunk_size": (self.settings.get("chunking") or {}).get("chunk_size", 500),
                "chunk_overlap": (self.settings.get("chunking") or {}).get("chunk_overlap", 80)}

    # ---- knowledge bases ----------------------------------------------------------
    @translated
    def kb_names(self) -> list[str]:
        return list(self.catalog.names())

    @translated
    def kb_exists(self, name: str) -> bool:
        return self.catalog.exists(name)

    @translated
    def _stats(self, name: str) -> dict[str, Any]:
        return dict(self._open(name).stats())

    def list_kbs(self) -> list[dict[str, Any]]:
        out = []
        for name in self.kb_names():
            try:
                out.append(self._stats(name))
            except Exception as exc:  # one broken KB must not hide the others
                out.append({"name": name, "error": str(exc)})
        return out

    def require_kb(self, name: str) -> None:
        if not self.kb_exists(name):
            raise ApiError(404, f"no knowledge base named {name!r}", "not_found")

    def kb_info(self, name: str) -> dict[str, Any]:
        self.require_kb(name)
        info = self._stats(name)
        info["busy"] = self.jobs.busy(name)
        return info

    @translated(gone=False)
    def create_kb(self, name: str, *, embedding_model: str | None = None, chunk_size: int | None = None,
                  chunk_overlap: int | None = None) -> dict[str, Any]:
        name = (name or "").strip()
        if not name:
            raise ApiError(400, "a knowledge base needs a name", "bad_request")
        if self.kb_exists(name):
            raise ApiError(409, f"knowledge base {name!r} already exists", "exists")
        if chunk_size is not None and chunk_overlap is not None and chunk_overlap >= chunk_size:
            raise ApiError(400, "chunk_overlap must be smaller than chunk_size", "bad_request")
        if embedding_model:
            self.check_remote_model(embedding_model.strip())
            from app.services import check_embedding

            check_embedding(self.settings, embedding_model.strip())  # refused now, not at the first upload
        self.catalog.create(name, embedding_model=embedding_model, chunk_size=chunk_size,
                            chunk_overlap=chunk_overlap)
        return self._stats(name)

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

    @translated
    def delete_kb(self, name: str) -> None:
        self.require_kb(name)
        if self.jobs.busy(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: an ingest job is running; try again when it ends",
                           "busy")
        self.catalog.delete(name)

    def kb_dir(self, name: str) -> Path:
        self.require_kb(name)
        return Path(self.catalog.path(name))

    def staging_dir(self, name: str) -> Path:
        return self.kb_dir(name) / UPLOADS / STAGING

    def uploads_dir(self, name: str) -> Path:
        return self.kb_dir(name) / UPLOADS

    @translated
    def locked_elsewhere(self, name: str) -> bool:
        """Whether another process (a CLI ingest) holds the KB's writer lock right now."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.catalog.path(name) / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return True
        lock.release()
        return False

    def check_not_locked_elsewhere(self, name: str) -> None:
        """409 when another process (a CLI `zhida ingest`) holds the KB's writer lock."""
        if not self.jobs.busy(name) and self.locked_elsewhere(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: another ingest is writing to it; "
                                "queries still work, try the upload again when it ends", "busy")

    # ---- documents ------------------------------------------------------------------
    @translated
    def documents(self, name: str) -> list[dict[str, Any]]:
        self.require_kb(name)
        out = []
        for d in self._open(name).documents():
            row = {k: v for k, v in d.items() if k != "path"}
            source = str(d["path"])
            row.update(id=str(d["id"]), source=source,
                       name=str(d.get("name") or Path(source.replace("\\", "/")).name or source))
            out.append(row)
        return out

    @translated
    def delete_document(self, name: str, doc_id: str) -> dict[str, Any]:
        self.require_kb(name)
        doc = next((d for d in self.documents(name) if str(d["id"]) == str(doc_id)), None)
        if doc is None:
            raise ApiError(404, f"no document {doc_id!r} in knowledge base {name!r}", "not_found")
        if self.jobs.busy(name) or self.locked_elsewhere(name):
            raise ApiError(409, f"knowledge base {name!r} is busy: an ingest is writing to it; try again when it ends",
                           "busy")
        self._open(name).delete_document(doc["id"])
        # the uploaded copy goes too (only ever a file inside this KB's uploads folder)
        src = Path(str(doc.get("source", "")))
        uploads = self.uploads_dir(name).resolve()
        try:
            if src.is_file() and src.resolve().is_relative_to(uploads):
                src.unlink()
        except OSError:
            pass
        return {"deleted": str(doc["id"]), "name": doc.get("name")}

    # ---- ingest (the jobs around it: app.api.ingest_jobs) ----------------------------------
    @translated
    def _ingest(self, name: str, paths: list[Path], progress, rebuild: bool, password: str | None = None):
        return self._open(name).ingest([str(p) for p in paths], progress=progress, rebuild=rebuild,
                                       **({"password": password} if password else {}))

    # ---- retrieval and answers --------------------------------------------------------------
    def _query_args(self, k, mode, rerank) -> dict[str, Any]:
        d = self.defaults()
        return {"k": int(k or d["k"]), "mode": mode or d["mode"], "rerank": d["rerank"] if rerank is None else bool(rerank)}

    @translated
    def _search(self, name: str, query: str, *, k: int, mode: str, rerank: bool, documents=None):
        return self._open(name).search(query, k=k, mode=mode, rerank=rerank, **_scope(documents))

    def llm(self, name: str | None = None):
        """The named LLM backend (default: the configured one), loaded once per server."""
        from app.llms import load_llm

        name = name or (self.settings.get("answer") or {}).get("llm", "extractive")
        from app.llms.base import LLMError

        with self._llm_lock:
            if name not in self._llms:
                try:
                    self._llms[name] = load_llm(self.settings, name)
                except LLMError as exc:  # not cached: the next request tries again (a fixed config, a new file)
                    raise ApiError(503, f"the language model cannot be loaded: {exc}", "model_error") from exc
            return self._llms[name]

    def forget_llm(self, name: str) -> None:
        """Drop a loaded backend (its settings changed): the next answer loads it again."""
        with self._llm_lock:
            self._llms.pop(name, None)

    def search(self, name: str, query: str, *, k=None, mode=None, rerank=None,
               documents=None) -> tuple[list[dict], dict]:
        self.require_kb(name)
        if not (query or "").strip():
            raise ApiError(400, "the query is empty", "bad_request")
        t0 = time.perf_counter()
        chunks = self._search(name, query, **self._query_args(k, mode, rerank), documents=documents)
        ms = (time.perf_counter() - t0) * 1000
        return [chunk_dict(c) for c in chunks], {"retrieve": round(ms, 2)}

    def chat_events(self, name: str, question: str, *, history: list[dict] | None = None, k=None, mode=None,
                    rerank=None, llm: str | None = None, documents=None) -> Iterator[dict[str, Any]]:
        """Validates and retrieves now (so errors become HTTP statuses), then streams the answer.

        Yields {"type": "token", "text"} events, then one {"type": "done", "answer", "mode", "refused",
        "citations", "timings_ms", "query", "usage"}; `query` is what retrieval searched (the follow-up
        rewritten with the history).
        """
        self.require_kb(name)
        if not (question or "").strip():
            raise ApiError(400, "the question is empty", "bad_request")
        if llm and llm not in self.llm_choices():
            raise ApiError(400, f"unknown llm {llm!r}; choose one of {', '.join(self.llm_choices())}", "bad_request")
        model = self.llm(llm)
        query, chunks, timings, kb = self._retrieve(name, question, model, list(history or []),
                                                    {**self._query_args(k, mode, rerank), **_scope(documents)})
        from app.answering import answer_stream

        stream = answer_stream(question, chunks, llm=model, history=list(history or []), settings=self.settings,
                               timings=timings, query=query, known=kb.knows, similar=kb.similarities)
        return self._events(stream)

    @translated
    def _retrieve(self, name: str, question: str, model, history: list[dict], args: dict[str, Any]):
        """The follow-up made standalone (app.follow_up, the same rewrite `zhida chat` uses), searched, and the
        KB (its vocabulary check and cosines serve the refusal): eager, so a knowledge-layer error is an HTTP
        status before any streaming."""
        from app.asking import retrieve

        kb = self._open(name)
        return (*retrieve(kb, question, self.settings, model, history=history, **args), kb)

    def _events(self, stream) -> Iterator[dict[str, Any]]:
        try:
            for ev in stream:
                if ev.type == "token":
                    if ev.text:
                        yield {"type": "token", "text": ev.text}
                elif ev.type == "error":
                    # a model server that is down, times out or answers an error: 502 before streaming,
                    # an in-band SSE error once tokens went out; never the "not in the knowledge base" text
                    raise ApiError(502, f"the language model failed: {ev.text}", "model_error")
                elif ev.type == "done":
                    yield {"type": "done", **answer_dict(ev.answer)}
        finally:  # closed early (the client left): the model's stream closes with it, now, not at GC
            close = getattr(stream, "close", None)
            if close is not None:
                close()
