"""Thin adapter from the server to the knowledge layer (app.services) and the answering code.

The server speaks plain values (names, paths, dicts, `SyncReport`,
`RetrievedChunk`); this file is the only one that knows the knowledge and
answering APIs by name, so a rename there is a one-file change here.
"""
from __future__ import annotations

import copy
import functools
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from app.api.errors import ApiError, disk_full

LLM_BACKENDS = ["extractive", "openai", "transformers", "llamacpp"]


def api_error(exc: Exception) -> ApiError | None:
    """The HTTP status for a knowledge-layer error (None: not a user error)."""
    from knowledge import errors as ke

    full = disk_full(exc)
    if full is not None:
        return full
    table = [(ke.KBNotFound, 404, "not_found"), (ke.DocumentNotFound, 404, "not_found"),
             (ke.KBExists, 409, "exists"), (ke.KBBusy, 409, "busy"), (ke.InvalidName, 400, "bad_request"),
             (ke.SettingsMismatch, 409, "settings_mismatch"), (ke.SchemaError, 500, "schema_error"),
             (ke.KBError, 400, "bad_request"), (ValueError, 400, "bad_request")]
    for cls, status, kind in table:
        if isinstance(exc, cls):
            return ApiError(status, str(exc), kind)
    return None


def _translated(fn=None, *, gone: bool = True):
    """Knowledge-layer errors -> ApiError. `gone`: a failure of a request whose KB vanished under it is
    reported as that (off for create, where the KB not existing yet is the point)."""
    if fn is None:
        return functools.partial(_translated, gone=gone)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError:
            raise
        except Exception as exc:
            from knowledge.errors import KBError

            err = api_error(exc)
            if (gone and not isinstance(exc, KBError) and (err is None or err.type == "bad_request")
                    and isinstance(args[0] if args else None, Backend)):
                # a KB deleted under a running request fails in odd ways (a closed handle, cache files
                # half gone: ValueError from numpy): the vanished KB is the reason to report
                err = args[0].gone_while_running(args[1] if len(args) > 1 else kwargs.get("name"), exc) or err
            if err is None:
                raise
            raise err from exc
    return wrapper


class Backend:
    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self._llms: dict[str, Any] = {}
        self._llm_lock = threading.Lock()
        self._catalog = None

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

    # ---- wiring -----------------------------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None:
            from app import services

            self._catalog = services.catalog(self.settings)
        return self._catalog

    @_translated
    def supported_suffixes(self) -> Sequence[str]:
        from ingest import supported_suffixes

        return supported_suffixes()

    @_translated
    def llm_choices(self) -> list[str]:
        current = (self.settings.get("answer") or {}).get("llm", "extractive")
        return [current] + [x for x in LLM_BACKENDS if x != current]

    # ---- knowledge bases --------------------------------------------------------------
    @_translated
    def kb_names(self) -> list[str]:
        return list(self.catalog.names())

    @_translated
    def kb_exists(self, name: str) -> bool:
        return self.catalog.exists(name)

    @_translated
    def kb_path(self, name: str) -> Path:
        return self.catalog.path(name)

    def _open(self, name: str):
        return self.catalog.open(name)

    @_translated
    def kb_info(self, name: str) -> dict[str, Any]:
        return dict(self._open(name).stats())

    @_translated(gone=False)
    def create_kb(self, name: str, *, embedding_model=None, chunk_size=None, chunk_overlap=None) -> None:
        self.catalog.create(name, embedding_model=embedding_model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    @_translated
    def delete_kb(self, name: str) -> None:
        self.catalog.delete(name)

    @_translated
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

    # ---- documents ----------------------------------------------------------------------
    @_translated
    def documents(self, name: str) -> list[dict[str, Any]]:
        out = []
        for d in self._open(name).documents():
            row = {k: v for k, v in d.items() if k != "path"}
            row.update(id=str(d["id"]), source=str(d["path"]), name=str(d.get("name") or Path(str(d["path"])).name))
            out.append(row)
        return out

    @_translated
    def delete_document(self, name: str, doc_id: str) -> None:
        self._open(name).delete_document(doc_id)

    @_translated
    def ingest(self, name: str, paths: list[Path], *, progress: Callable | None = None, rebuild: bool = False,
               password: str | None = None):
        return self._open(name).ingest([str(p) for p in paths], progress=progress, rebuild=rebuild, password=password)

    # ---- retrieval and answers --------------------------------------------------------------
    @_translated
    def search(self, name: str, query: str, *, k: int, mode: str, rerank: bool, documents=None):
        scope = {"documents": list(documents)} if documents else {}  # chosen documents only (both retrievers)
        return self._open(name).search(query, k=k, mode=mode, rerank=rerank, **scope)

    def _llm(self, name: str | None):
        from app.llms import load_llm

        name = name or (self.settings.get("answer") or {}).get("llm", "extractive")
        with self._llm_lock:
            if name not in self._llms:
                s = copy.deepcopy(self.settings)
                s.setdefault("answer", {})["llm"] = name
                self._llms[name] = load_llm(s)
            return self._llms[name]

    @_translated
    def answer_stream(self, question: str, chunks, *, history: list[dict], llm: str | None,
                      kb: str | None = None) -> Iterator[tuple[str, Any]]:
        from app.answering import answer_stream

        known = self._open(kb).knows if kb else None  # the refusal asks whether the documents use a word
        events = answer_stream(question, chunks, llm=self._llm(llm), history=history, settings=self.settings,
                               known=known)
        try:
            for ev in events:
                kind = getattr(ev, "kind", None) or getattr(ev, "type", None)
                if kind == "token":
                    yield "token", getattr(ev, "text", "")
                elif kind == "error":  # the model failed: the caller reports it, never as "not found"
                    yield "error", getattr(ev, "text", "")
                elif kind == "done":
                    yield "done", getattr(ev, "answer", ev)
        finally:
            events.close()
