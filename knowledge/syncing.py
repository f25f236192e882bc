"""Incremental ingest: which files are new, changed, unchanged or gone, and
applying that to the KB's document store one document at a time.

The store is `DocStore`: kb.sqlite (`SqliteDocStore`, one transaction per
document: a kill at any moment leaves every document either fully old or fully
new) or a Milvus collection (knowledge.milvus_store). The next run sees what is
left to do by content hash and finishes it.
"""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from ingest import IngestError, LoadOptions, chunk_document, load_document, supported_suffixes
from ingest.types import ChunkSettings
from knowledge import db
from knowledge.types import FileResult, SyncReport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


class DocStore(Protocol):
    """Where a KB keeps documents, chunks and vectors (what sync_files needs of it)."""

    def documents(self) -> list[db.DocumentRow]: ...

    def document_by_path(self, path: str) -> db.DocumentRow | None: ...

    def touch(self, doc: db.DocumentRow, size: int, mtime: float) -> None:
        """Same content, new size/mtime: remember them so the next run skips hashing."""

    def stored_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors already stored for these chunk ids (renamed or partly changed files re-embed nothing)."""

    def write_failed(self, *, path: str, name: str, root: str | None, sha256: str, size: int, mtime: float,
                     error_kind: str, error: str) -> None: ...

    def write_document(self, *, path: str, name: str, root: str | None, sha256: str, size: int, mtime: float,
                       warnings: Sequence[str], fmt: str | None, pages: int | None, chunks: list,
                       vectors: np.ndarray) -> None:
        """Replace the document's row and all its chunks with these, as one unit where the store allows."""

    def delete_document(self, doc: db.DocumentRow) -> None: ...


class SqliteDocStore:
    """DocStore over kb.sqlite: one transaction per document."""

    def __init__(self, conn):
        self.conn = conn

    def documents(self) -> list[db.DocumentRow]:
        return db.documents(self.conn)

    def document_by_path(self, path: str) -> db.DocumentRow | None:
        return db.document_by_path(self.conn, path)

    def touch(self, doc: db.DocumentRow, size: int, mtime: float) -> None:
        with db.transaction(self.conn, bump=False):
            self.conn.execute("UPDATE documents SET size=?, mtime=? WHERE id=?", (size, mtime, doc.id))

    def stored_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: np.frombuffer(v, dtype=np.float32) for k, v in db.vectors_for_chunk_ids(self.conn, chunk_ids).items()}

    def write_failed(self, *, path, name, root, sha256, size, mtime, error_kind, error) -> None:
        with db.transaction(self.conn):
            doc_id = db.upsert_document(self.conn, path=path, name=name, root=root, sha256=sha256, size=size,
                                        mtime=mtime, status="failed", error_kind=error_kind, error=error)
            db.replace_chunks(self.conn, doc_id, [], np.zeros((0, 1), dtype=np.float32))

    def write_document(self, *, path, name, root, sha256, size, mtime, warnings, fmt, pages, chunks,
                       vectors) -> None:
        with db.transaction(self.conn):
            doc_id = db.upsert_document(self.conn, path=path, name=name, root=root, sha256=sha256, size=size,
                                        mtime=mtime, status="ok", warnings=warnings, fmt=fmt, pages=pages,
                                        chunks=len(chunks))
            db.replace_chunks(self.conn, doc_id, chunks, vectors)

    def delete_document(self, doc: db.DocumentRow) -> None:
        with db.transaction(self.conn):
            db.delete_document(self.conn, doc.id)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Candidate:
    path: Path
    root: str | None  # the folder it was found in (None when named explicitly)
    name: str


def _matches(name: str, rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


def collect(paths: Iterable[str | Path], include: Sequence[str], exclude: Sequence[str]
            ) -> tuple[list[Candidate], list[str], list[FileResult]]:
    """Files to consider, the folders walked (for removals), and results for paths that do not exist."""
    suffixes = supported_suffixes()
    out: list[Candidate] = []
    roots: list[str] = []
    missing: list[FileResult] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        try:
            p = p.resolve()
        except OSError:
            pass
        if p.is_dir():
            roots.append(str(p))
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fn in sorted(filenames):
                    full = Path(dirpath) / fn
                    rel = str(full.relative_to(p))
                    if Path(fn).suffix.lower() not in suffixes or _matches(fn, rel, exclude):
                        continue
                    if include and not _matches(fn, rel, include):
                        continue
                    if str(full) not in seen:
                        seen.add(str(full))
                        out.append(Candidate(full, str(p), rel))
        elif p.is_file():
            if str(p) not in seen:
                seen.add(str(p))
                out.append(Candidate(p, None, p.name))
        else:
            missing.append(FileResult(path=str(raw), status="failed", reason="no such file or folder",
                                      error_kind="not_found"))
    return out, roots, missing


def _embed_text(chunk) -> str:
    heading = " > ".join(chunk.heading_path)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def sync_files(store: DocStore, embedder, candidates: list[Candidate], roots: list[str], chunk_settings: ChunkSettings,
               load_options: LoadOptions, *, force: bool = False, progress: Progress | None = None,
               report: SyncReport | None = None) -> SyncReport:
    report = report or SyncReport()
    started = time.perf_counter()
    total = len(candidates)
    wanted = {str(c.path) for c in candidates}
    for i, cand in enumerate(candidates):
        if progress:
            progress(i, total, str(cand.path))
        report.files.append(_sync_one(store, embedder, cand, chunk_settings, load_options, force, report))
    # files that disappeared from a folder we walked
    for root in roots:
        prefix = root.rstrip(os.sep) + os.sep
        for doc in store.documents():
            if doc.path.startswith(prefix) and doc.path not in wanted and not Path(doc.path).exists():
                store.delete_document(doc)
                report.files.append(FileResult(path=doc.path, status="removed", chunks=doc.chunks))
    if progress:
        progress(total, total, "")
    report.seconds = time.perf_counter() - started
    return report


def _sync_one(store: DocStore, embedder, cand: Candidate, chunk_settings: ChunkSettings, load_options: LoadOptions,
              force: bool, report: SyncReport) -> FileResult:
    path = str(cand.path)
    try:
        st = cand.path.stat()
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    existing = store.document_by_path(path)
    retry_failed = existing is not None and existing.status == "failed" and load_options.password
    if existing and not force and not retry_failed and existing.size == st.st_size and existing.mtime == st.st_mtime:
        return _unchanged(existing)
    try:
        sha = file_sha256(cand.path)
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    if existing and not force and not retry_failed and existing.sha256 == sha:
        store.touch(existing, st.st_size, st.st_mtime)
        return _unchanged(existing)
    status = "updated" if existing else "added"
    try:
        parsed = load_document(cand.path, load_options)
        chunks = chunk_document(parsed, chunk_settings, sha)
    except IngestError as exc:
        store.write_failed(path=path, name=cand.name, root=cand.root, sha256=sha, size=st.st_size,
                           mtime=st.st_mtime, error_kind=exc.kind, error=exc.reason)
        return FileResult(path=path, status="failed", reason=exc.reason, error_kind=exc.kind)
    reuse = {} if force else store.stored_vectors([c.id for c in chunks])
    todo = [i for i, c in enumerate(chunks) if c.id not in reuse]
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    if todo:
        fresh = embedder.embed_documents([_embed_text(chunks[i]) for i in todo], show_progress=len(todo) > 64)
        vectors[todo] = fresh
        report.embedded_chunks += len(todo)
    for i, c in enumerate(chunks):
        if c.id in reuse:
            vectors[i] = reuse[c.id]
    store.write_document(path=path, name=cand.name, root=cand.root, sha256=sha, size=st.st_size, mtime=st.st_mtime,
                         warnings=parsed.warnings, fmt=parsed.format, pages=parsed.pages, chunks=chunks,
                         vectors=vectors)
    for w in parsed.warnings:
        log.warning("%s", w)
    return FileResult(path=path, status=status, chunks=len(chunks), warnings=list(parsed.warnings))


def _unchanged(doc: db.DocumentRow) -> FileResult:
    if doc.status == "failed":
        return FileResult(path=doc.path, status="failed", reason=doc.error or "", error_kind=doc.error_kind or "")
    return FileResult(path=doc.path, status="unchanged", chunks=doc.chunks)
