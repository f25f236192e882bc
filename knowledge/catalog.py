"""The knowledge bases under ZHIDA_HOME/kbs: list, create, open, delete."""
from __future__ import annotations

import logging
import shutil
import threading
import uuid
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from ingest.types import ChunkSettings
from knowledge import db
from knowledge.base import KnowledgeBase
from knowledge.errors import KBBusy, KBError, KBExists, KBNotFound
from knowledge.names import legacy_name, name_key, validate_kb_name
from knowledge.settings import IndexSettings, IngestSettings, QuerySettings, StoreSettings

POINTER = "store.json"  # a KB kept elsewhere (Milvus): see knowledge.milvus_kb

log = logging.getLogger(__name__)


class Catalog:
    def __init__(self, home: Path, *, embedder_loader: Callable[[str], object],
                 reranker_loader: Callable[[str], object] | None = None,
                 defaults: IndexSettings = IndexSettings(), query: QuerySettings = QuerySettings(),
                 ingest: IngestSettings = IngestSettings(), store: StoreSettings = StoreSettings()):
        self.home = Path(home)
        self.store = store  # for new KBs; the Milvus token also opens existing Milvus KBs
        self.root = self.home / "kbs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.embedder_loader = embedder_loader
        self.reranker_loader = reranker_loader
        self.defaults = defaults
        self.query = query
        self.ingest_settings = ingest
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()
        self._sweep_trash()

    def _sweep_trash(self) -> None:
        """Finish deletions a crash interrupted (folders renamed to .trash-*)."""
        for entry in self.root.glob(".trash-*"):
            shutil.rmtree(entry, ignore_errors=True)

    def path(self, name: str) -> Path:
        path = self.root / validate_kb_name(name)
        if not self._is_kb(path):  # a KB an older version made under its NFC (not NFKC) name stays reachable
            legacy = self.root / legacy_name(name)
            if legacy != path and legacy.parent == self.root and self._is_kb(legacy):
                return legacy
        return path

    def _collision(self, name: str) -> str | None:
        """An existing KB whose name differs from this one only in case or full-width forms."""
        key = name_key(name)
        return next((n for n in self.names() if name_key(n) == key and n != name), None)

    @staticmethod
    def _is_kb(path: Path) -> bool:
        return (path / "kb.sqlite").is_file() or (path / POINTER).is_file()

    def exists(self, name: str) -> bool:
        try:
            return self._is_kb(self.path(name))
        except Exception:
            return False

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and self._is_kb(p))

    def list(self) -> list[dict]:
        out = []
        for name in self.names():
            try:
                out.append(self.open(name).stats())
            except Exception as exc:  # one broken KB must not hide the others
                out.append({"name": name, "error": str(exc)})
        return out

    def create(self, name: str, settings: IndexSettings | None = None, *, embedding_model: str | None = None,
               chunk_size: int | None = None, chunk_overlap: int | None = None,
               store: StoreSettings | None = None) -> KnowledgeBase:
        """A new KB. With store backend "milvus", an existing KB of that name at that URI is attached to
        (its manifest wins), which is how a second machine joins a shared KB."""
        settings = settings or self.defaults
        if embedding_model or chunk_size or chunk_overlap is not None:
            chunk = ChunkSettings(chunk_size=chunk_size or settings.chunk.chunk_size,
                                  chunk_overlap=settings.chunk.chunk_overlap if chunk_overlap is None else chunk_overlap,
                                  keep_tables_whole_up_to=settings.chunk.keep_tables_whole_up_to)
            settings = IndexSettings(embedding_model or settings.embedding_model, chunk)
        if settings.chunk.chunk_overlap >= settings.chunk.chunk_size:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        store = store or self.store
        path = self.path(name)
        if self._is_kb(path):
            same = f" ('{name}' is the same name)" if path.name != name else ""
            raise KBExists(f"knowledge base '{path.name}' already exists{same}")
        clash = self._collision(path.name)
        if clash is not None:
            raise KBExists(f"knowledge base name '{name}' is too close to the existing '{clash}' (names that differ "
                           "only in letter case or full-width characters count as the same); choose another name")
        if store.backend == "milvus":
            return self._create_milvus(name, path, settings, store)
        if store.backend != "local":
            raise ValueError(f"unknown store {store.backend!r}; choose local or milvus")
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / f".kb.sqlite.{uuid.uuid4().hex}"
        conn = db.connect(tmp)
        try:
            db.init_db(conn, settings.new_kb_manifest())
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        tmp.replace(path / "kb.sqlite")  # appears complete or not at all
        return self.open(name)

    def _create_milvus(self, name: str, path: Path, settings: IndexSettings, store: StoreSettings):
        from knowledge.milvus_kb import write_pointer
        from knowledge.milvus_store import MilvusStore

        if not store.uri:
            raise ValueError("a milvus knowledge base needs a URI: a local Milvus Lite file (kb.db) or "
                             "http://host:19530")
        milvus = MilvusStore(store.uri, name, token=store.token)
        try:
            milvus.create(settings.new_kb_manifest())
            uri, collection = milvus.uri, milvus.base
        finally:
            milvus.close()
        path.mkdir(parents=True, exist_ok=True)
        write_pointer(path, {"store": "milvus", "uri": uri, "collection": collection})
        return self.open(name)

    def _load(self, path: Path):
        from knowledge.milvus_kb import read_pointer

        kw = dict(embedder_loader=self.embedder_loader, reranker_loader=self.reranker_loader, query=self.query,
                  ingest=self.ingest_settings)
        pointer = read_pointer(path) if not (path / "kb.sqlite").is_file() else None
        if pointer is None:
            return KnowledgeBase(path, **kw)
        from knowledge.milvus_kb import MilvusKnowledgeBase

        return MilvusKnowledgeBase(path, uri=pointer["uri"], collection=pointer.get("collection"),
                                   token=self.store.token, **kw)

    def open(self, name: str) -> KnowledgeBase:
        path = self.path(name)
        with self._lock:
            kb = self._open.get(path.name)
            if kb is not None and not getattr(kb, "closed", False) and self._is_kb(path):
                follow = getattr(kb, "follow_file", None)  # kb.sqlite swapped by another process: reopen it
                try:
                    if follow is not None and (path / "kb.sqlite").is_file():
                        follow()
                        return kb
                    if follow is None:
                        return kb
                except KBError:  # gone or damaged now: forget it, and open what is there afresh below
                    pass
                self._open.pop(path.name, None)
                kb.close()
            if not self._is_kb(path):
                known = ", ".join(self.names()) or "none yet"
                raise KBNotFound(f"no knowledge base named '{name}' (known: {known}); "
                                 f"create it with `zhida kb create {name}` or `zhida ingest PATH --kb {name}`")
            kb = self._load(path)
            self._open[path.name] = kb
            return kb

    def _drop_remote(self, path: Path) -> None:
        from knowledge.milvus_kb import read_pointer

        pointer = read_pointer(path) if not (path / "kb.sqlite").is_file() else None
        if pointer is None:
            return
        from knowledge.milvus_store import MilvusStore

        milvus = MilvusStore(pointer["uri"], path.name, token=self.store.token, collection=pointer.get("collection"))
        try:
            milvus.drop()
        finally:
            milvus.close()

    def delete(self, name: str) -> None:
        """Delete a KB; for a Milvus KB this drops its collections, for every machine that shares it."""
        path = self.path(name)
        if not self._is_kb(path):
            raise KBNotFound(f"no knowledge base named '{name}'")
        lock = FileLock(str(path / ".lock"), timeout=2)
        try:
            lock.acquire()
        except Timeout:
            raise KBBusy(f"knowledge base '{name}' is busy: an ingest is writing to it; try again later") from None
        try:
            with self._lock:
                kb = self._open.pop(path.name, None)
                if kb is not None:
                    kb.close()
                self._drop_remote(path)
            trash = self.root / f".trash-{path.name}-{uuid.uuid4().hex[:8]}"
            path.rename(trash)  # atomic: the KB is gone or intact, never half-deleted
        finally:
            lock.release()
        shutil.rmtree(trash, ignore_errors=True)
