"""Thin adapter from the server to the knowledge layer (app.services) and the answering code.

The server speaks plain values (names, paths, dicts, `SyncReport`,
`RetrievedChunk`); this file is the only one that knows the knowledge and
answering APIs by name, so a rename there is a one-file change here.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from app.api.errors import ApiError

LLM_BACKENDS = ["extractive", "openai", "transformers", "llamacpp"]


class Backend:
    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self._llms: dict[str, Any] = {}
        self._llm_lock = threading.Lock()
        self._catalog = None

    # ---- wiring -----------------------------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None:
            from app import services

            self._catalog = services.catalog(self.settings)
        return self._catalog

    def supported_suffixes(self) -> Sequence[str]:
        from ingest import supported_suffixes

        return supported_suffixes()

    def llm_choices(self) -> list[str]:
        current = (self.settings.get("answer") or {}).get("llm", "extractive")
        return [current] + [x for x in LLM_BACKENDS if x != current]

    # ---- knowledge bases --------------------------------------------------------------
    def kb_names(self) -> list[str]:
        return sorted(self.catalog.names())

    def kb_exists(self, name: str) -> bool:
        return self.catalog.exists(name)

    def kb_path(self, name: str) -> Path:
        return self.catalog.path(name)

    def _open(self, name: str):
        return self.catalog.open(name)

    def kb_info(self, name: str) -> dict[str, Any]:
        stats = self._open(name).stats()
        data = stats if isinstance(stats, dict) else vars(stats)
        return {"name": name, **{k: v for k, v in data.items() if k != "name"}}

    def create_kb(self, name: str, *, embedding_model=None, chunk_size=None, chunk_overlap=None) -> None:
        self.catalog.create(name, embedding_model=embedding_model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    def delete_kb(self, name: str) -> None:
        self.catalog.delete(name)

    def locked_elsewhere(self, name: str) -> bool:
        return False

    # ---- documents ----------------------------------------------------------------------
    def documents(self, name: str) -> list[dict[str, Any]]:
        out = []
        for d in self._open(name).documents():
            data = d if isinstance(d, dict) else vars(d)
            out.append({"id": str(data.get("id")), "source": str(data.get("path") or data.get("source")),
                        "status": data.get("status", ""), "chunks": int(data.get("chunks") or 0),
                        "error": data.get("error") or "", "size": data.get("size"), "sha256": data.get("sha256")})
        return out

    def delete_document(self, name: str, doc_id: str) -> None:
        self._open(name).delete_document(doc_id)

    def ingest(self, name: str, paths: list[Path], *, progress: Callable | None = None, rebuild: bool = False):
        return self._open(name).ingest([str(p) for p in paths], progress=progress, rebuild=rebuild)

    # ---- retrieval and answers --------------------------------------------------------------
    def search(self, name: str, query: str, *, k: int, mode: str, rerank: bool):
        return self._open(name).search(query, k=k, mode=mode, rerank=rerank)

    def _llm(self, name: str | None):
        from app.llms import load_llm

        name = name or (self.settings.get("answer") or {}).get("llm", "extractive")
        with self._llm_lock:
            if name not in self._llms:
                s = copy.deepcopy(self.settings)
                s.setdefault("answer", {})["llm"] = name
                self._llms[name] = load_llm(s)
            return self._llms[name]

    def answer_stream(self, question: str, chunks, *, history: list[dict], llm: str | None) -> Iterator[tuple[str, Any]]:
        from app.answering import answer_stream

        for ev in answer_stream(question, chunks, llm=self._llm(llm), history=history, settings=self.settings):
            kind = getattr(ev, "kind", None) or getattr(ev, "type", None)
            if kind == "token":
                yield "token", getattr(ev, "text", "")
            elif kind == "done":
                yield "done", getattr(ev, "answer", ev)
