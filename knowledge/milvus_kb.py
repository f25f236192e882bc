"""A knowledge base kept in Milvus (knowledge.milvus_store) instead of kb.sqlite + FAISS/BM25 files.

Locally it is only a folder `kbs/<name>/` holding `store.json` (the URI and
collection name, never a token) and the writer lock; documents, chunks,
vectors and the manifest live in Milvus, so every process and machine pointed
at the same URI sees the same KB and each other's ingests. Retrieval runs in
Milvus (dense: FLAT inner product; sparse: Milvus BM25 full-text search over
Zhida's tokens) and is fused here with the same code as the local store.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from knowledge.base import EmbedderLoader, KnowledgeBaseCore, _LazyEmbedder
from knowledge.errors import DocumentNotFound, KBNotFound, SettingsMismatch
from knowledge.milvus_store import MilvusStore, terms_text
from knowledge.settings import IndexSettings, IngestSettings, QuerySettings
from knowledge.collecting import Candidate, admit
from knowledge.syncing import Progress, sync_files
from knowledge.types import RetrievedChunk, SyncReport
from retrieval import HybridRetriever

POINTER = "store.json"


def read_pointer(path: Path) -> dict | None:
    try:
        return json.loads((Path(path) / POINTER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_pointer(path: Path, data: dict) -> None:
    tmp = Path(path) / f".{POINTER}.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(Path(path) / POINTER)


class _DenseView:
    """What HybridRetriever needs of a dense index, answered by Milvus; keeps the rows it saw."""

    def __init__(self, store: MilvusStore, rows: dict[int, dict]):
        self.store, self.rows = store, rows

    def __len__(self) -> int:
        return 1  # not counted (a round trip); an empty collection simply returns no hits

    def search(self, vector, k: int) -> list[tuple[int, float]]:
        hits = self.store.search_dense(vector, k)
        self.rows.update({pk: row for pk, _, row in hits})
        return [(pk, score) for pk, score, _ in hits]


class _SparseView(_DenseView):
    def search(self, query: str, k: int, tokenizer: Callable[[str], list[str]]) -> list[tuple[int, float]]:
        hits = self.store.search_sparse(terms_text(tokenizer(query)), k)
        self.rows.update({pk: row for pk, _, row in hits})
        return [(pk, score) for pk, score, _ in hits]


class MilvusKnowledgeBase(KnowledgeBaseCore):
    store = "milvus"

    def __init__(self, path: Path, *, uri: str, token: str | None = None, collection: str | None = None,
                 embedder_loader: EmbedderLoader, reranker_loader: Callable | None = None,
                 query: QuerySettings = QuerySettings(), ingest: IngestSettings = IngestSettings()):
        self._init_common(path, embedder_loader, reranker_loader, query, ingest)
        self.milvus = MilvusStore(uri, self.name, token=token, collection=collection,
                                  tokenizer=lambda text: self.tokenizer()(text))
        self.uri = self.milvus.uri
        if not self.milvus.exists():
            raise KBNotFound(f"knowledge base '{self.name}' points at Milvus collection {self.milvus.meta} on "
                             f"{self.uri}, which is not there (deleted elsewhere?); `zhida kb delete {self.name}` "
                             "forgets it here")
        self.milvus.ensure_loaded()
        self.manifest = self.milvus.read_manifest()
        self._lock = threading.RLock()

    # --- writing
    def ingest(self, paths: Iterable[str | Path], *, include: Sequence[str] = (), exclude: Sequence[str] | None = None,
               rebuild: bool = False, password: str | None = None, progress: Progress | None = None,
               index_settings: IndexSettings | None = None, follow_links: bool | None = None) -> SyncReport:
        """Add/refresh files and folders (incremental by content hash) in Milvus."""
        if not rebuild:
            self.check_settings(index_settings)
        follow_links = self._follows(follow_links)
        candidates, roots, missing, options = self._plan(paths, include, exclude, password, follow_links)
        lock = self._writer_lock()  # serialises writers on this machine; see README for several machines
        try:
            with self._lock:
                self.manifest = self.milvus.read_manifest()
                report = SyncReport(files=list(missing))
                if rebuild:
                    return self._rebuild(candidates, roots, options, index_settings, progress, report, follow_links)
                try:
                    with self._parser() as parse:
                        sync_files(self.milvus, _LazyEmbedder(self), candidates, roots, self.chunk_settings, options,
                                   progress=progress, report=report, parse=parse)
                finally:
                    self.milvus.flush()
                return report
        finally:
            lock.release()

    def _ensure_dim(self, embedder) -> None:
        if not self.dim:
            self.manifest = self.milvus.read_manifest() | {"dim": int(embedder.dim), "normalized": True}
            self.milvus.set_manifest(self.manifest)
        elif self.dim != embedder.dim:
            raise SettingsMismatch(f"embedding model {self.embedding_model!r} now gives {embedder.dim}-dim vectors "
                                   f"but '{self.name}' holds {self.dim}-dim ones; re-index with --rebuild")
        self.milvus.ensure_chunks(self.dim)

    def _rebuild(self, candidates, roots, options, index_settings, progress, report, follow_links) -> SyncReport:
        """Drop the KB's Milvus collections and re-embed every document with the (new) index settings.

        Unlike the local store there is no side-by-side copy to swap in: queries during a rebuild see a
        partial knowledge base."""
        settings = index_settings or self.index_settings()
        known = {c.path.as_posix() for c in candidates}
        for doc in self.milvus.documents():
            p = Path(doc.path)
            if p.as_posix() not in known and p.exists():
                why = admit(p, [doc.root] if doc.root else [], follow_links)  # as a walk would
                if why is None:
                    candidates.append(Candidate(p, doc.root, doc.name))
                else:
                    report.files.append(why)
        embedder = self._embedder_loader(settings.embedding_model)
        generation = int(self.manifest.get("generation", 0)) + 1
        self.milvus.drop()
        self.manifest = self.milvus.create(settings.new_kb_manifest() | {"dim": int(embedder.dim), "normalized": True,
                                                                      "generation": generation})
        self.milvus.ensure_chunks(int(embedder.dim))
        with self._parser() as parse:
            sync_files(self.milvus, embedder, candidates, roots, settings.chunk, options, force=True,
                       progress=progress, report=report, parse=parse)
        self.milvus.flush()
        return report

    def delete_document(self, doc: str | int) -> dict:
        lock = self._writer_lock()
        try:
            with self._lock:
                row = None
                if isinstance(doc, int) or str(doc).isdigit():
                    row = self.milvus.document_by_id(int(doc))
                if row is None:
                    row = self.milvus.document_by_path(str(Path(str(doc)).expanduser().resolve())) \
                        or self.milvus.document_by_path(str(doc))
                if row is None:
                    raise DocumentNotFound(f"no document {doc!r} in knowledge base '{self.name}'")
                self.milvus.delete_document(row)
                return row.as_dict()
        finally:
            lock.release()

    # --- reading
    def documents(self) -> list[dict]:
        return [d.as_dict() for d in self.milvus.documents()]

    def stats(self) -> dict:
        docs = self.milvus.documents()
        manifest = self.milvus.read_manifest()
        return {"name": self.name, "path": str(self.path), "store": self.store, "uri": self.uri,
                "collection": self.milvus.base, "documents": len(docs),
                "failed": sum(1 for d in docs if d.status == "failed"), "chunks": self.milvus.count_chunks(),
                "embedding_model": manifest["embedding_model"], "dim": manifest.get("dim"),
                "chunk_size": manifest["chunking"]["chunk_size"], "chunk_overlap": manifest["chunking"]["chunk_overlap"],
                "schema_version": manifest["schema_version"], "chunker": manifest.get("chunker", 1), "generation": manifest.get("generation", 0)}

    def refresh_indexes(self) -> None:
        """Nothing to rebuild: Milvus holds the indexes (kept so callers need not know the store)."""
        return None

    def search(self, query: str, *, k: int | None = None, mode: str | None = None, rerank: bool | None = None,
               query_vector=None, **overrides) -> list[RetrievedChunk]:
        """Ranked chunks for a query; `query_vector` skips embedding it again (batch evaluation)."""
        q = self._query(overrides)
        k = self._top_k(k, q)
        mode = mode or q.mode
        rerank = q.rerank if rerank is None else rerank
        if not query.strip():
            return []
        rows: dict[int, dict] = {}
        embedder = self.embedder() if mode in ("dense", "hybrid") and query_vector is None else None
        reranker = self._reranker_loader(q.reranker) if rerank and self._reranker_loader else None

        def text_of(ids: list[int]) -> list[str]:
            out = []
            for i in ids:
                row = rows.get(i, {})
                heading = " ".join(json.loads(row.get("heading") or "[]"))
                out.append(f"{heading}\n{row.get('text', '')}" if heading else row.get("text", ""))
            return out

        retriever = HybridRetriever(embedder, _DenseView(self.milvus, rows), _SparseView(self.milvus, rows),
                                    tokenizer=self.tokenizer(), text_of=text_of, reranker=reranker)
        hits = retriever.search(query, k=k, mode=mode, candidates=q.candidates, fusion=q.fusion, rrf_k=q.rrf_k,
                                dense_weight=q.dense_weight, rerank=rerank, rerank_top_n=q.rerank_top_n,
                                query_vector=None if query_vector is None else np.asarray(query_vector),
                                confidence_mid=q.confidence_mid_for(self.embedding_model),
                                feedback_docs=q.feedback_docs, feedback_weight=q.feedback_weight,
                                # Milvus's BM25 takes a bag of terms (hashed): no per-term weights
                                weigh_query_terms=False)
        out = []
        for h in hits:
            row = rows.get(h.id)
            if row is None:
                continue
            page, page_end = int(row["page"]), int(row["page_end"])
            out.append(RetrievedChunk(chunk_id=row["chunk_id"], text=row["text"], source=row["path"], score=h.score,
                                      page=None if page < 0 else page, page_end=None if page_end < 0 else page_end,
                                      heading_path=tuple(json.loads(row["heading"] or "[]")), hit=h,
                                      embedding_model=self.embedding_model,
                                      unit=row.get("unit") or "", parent_text=row.get("parent") or ""))
        return out

    def close(self) -> None:
        self.closed = True
        self.milvus.close()
        self._close_idle_parser()  # never waits for a running ingest: it closes the worker when it ends
