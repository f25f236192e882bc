"""Incremental ingest: which files are new, changed, unchanged or gone, and
applying that to kb.sqlite one document per transaction.

A kill at any moment leaves every document either fully old or fully new; the
next run sees what is left to do by content hash and finishes it.
"""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ingest import IngestError, LoadOptions, supported_suffixes
from ingest.isolated import parse_in_process
from ingest.types import ChunkSettings
from knowledge import db
from knowledge.types import FileResult, SyncReport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
# (path, load options, chunk settings, doc sha256) -> (ParsedDocument, chunks); raises IngestError.
# In-process by default; KnowledgeBase passes an isolated worker's `parse` (ingest.isolated.ParserPool).
Parser = Callable[..., tuple]


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


def sync_files(conn, embedder, candidates: list[Candidate], roots: list[str], chunk_settings: ChunkSettings,
               load_options: LoadOptions, *, force: bool = False, progress: Progress | None = None,
               report: SyncReport | None = None, parse: Parser | None = None) -> SyncReport:
    parse = parse or parse_in_process
    report = report or SyncReport()
    started = time.perf_counter()
    total = len(candidates)
    wanted = {str(c.path) for c in candidates}
    for i, cand in enumerate(candidates):
        if progress:
            progress(i, total, str(cand.path))
        report.files.append(_sync_one(conn, embedder, cand, chunk_settings, load_options, force, report,
                                      parse))
    # files that disappeared from a folder we walked
    for root in roots:
        prefix = root.rstrip(os.sep) + os.sep
        for doc in db.documents(conn):
            if doc.path.startswith(prefix) and doc.path not in wanted and not Path(doc.path).exists():
                with db.transaction(conn):
                    db.delete_document(conn, doc.id)
                report.files.append(FileResult(path=doc.path, status="removed", chunks=doc.chunks))
    if progress:
        progress(total, total, "")
    report.seconds = time.perf_counter() - started
    return report


def _sync_one(conn, embedder, cand: Candidate, chunk_settings: ChunkSettings, load_options: LoadOptions,
              force: bool, report: SyncReport, parse: Parser = parse_in_process) -> FileResult:
    path = str(cand.path)
    try:
        st = cand.path.stat()
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    existing = db.document_by_path(conn, path)
    retry_failed = existing is not None and existing.status == "failed" and load_options.password
    if existing and not force and not retry_failed and existing.size == st.st_size and existing.mtime == st.st_mtime:
        return _unchanged(existing)
    try:
        sha = file_sha256(cand.path)
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    if existing and not force and not retry_failed and existing.sha256 == sha:
        with db.transaction(conn, bump=False):
            conn.execute("UPDATE documents SET size=?, mtime=? WHERE id=?", (st.st_size, st.st_mtime, existing.id))
        return _unchanged(existing)
    status = "updated" if existing else "added"
    try:
        parsed, chunks = parse(cand.path, load_options, chunk_settings, sha)
    except IngestError as exc:
        with db.transaction(conn):
            doc_id = db.upsert_document(conn, path=path, name=cand.name, root=cand.root, sha256=sha,
                                        size=st.st_size, mtime=st.st_mtime, status="failed",
                                        error_kind=exc.kind, error=exc.reason)
            db.replace_chunks(conn, doc_id, [], np.zeros((0, 1), dtype=np.float32))
        return FileResult(path=path, status="failed", reason=exc.reason, error_kind=exc.kind)
    reuse = {} if force else db.vectors_for_chunk_ids(conn, [c.id for c in chunks])
    todo = [i for i, c in enumerate(chunks) if c.id not in reuse]
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    if todo:
        fresh = embedder.embed_documents([_embed_text(chunks[i]) for i in todo], show_progress=len(todo) > 64)
        vectors[todo] = fresh
        report.embedded_chunks += len(todo)
    for i, c in enumerate(chunks):
        if c.id in reuse:
            vectors[i] = np.frombuffer(reuse[c.id], dtype=np.float32)
    with db.transaction(conn):
        doc_id = db.upsert_document(conn, path=path, name=cand.name, root=cand.root, sha256=sha, size=st.st_size,
                                    mtime=st.st_mtime, status="ok", warnings=parsed.warnings, fmt=parsed.format,
                                    pages=parsed.pages, chunks=len(chunks))
        db.replace_chunks(conn, doc_id, chunks, vectors)
    for w in parsed.warnings:
        log.warning("%s", w)
    return FileResult(path=path, status=status, chunks=len(chunks), warnings=list(parsed.warnings))


def _unchanged(doc: db.DocumentRow) -> FileResult:
    if doc.status == "failed":
        return FileResult(path=doc.path, status="failed", reason=doc.error or "", error_kind=doc.error_kind or "")
    return FileResult(path=doc.path, status="unchanged", chunks=doc.chunks)
