"""Incremental ingest: which files are new, changed, unchanged or gone, and
applying that to the KB's document store one document at a time.

The store is `DocStore`: kb.sqlite (`SqliteDocStore`, one transaction per
document: a kill at any moment leaves every document either fully old or fully
new) or a Milvus collection (knowledge.milvus_store). The next run sees what is
left to do by content hash and finishes it.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ingest import PARSERS_VERSION, IngestError, LoadOptions
from ingest.isolated import parse_in_process
from ingest.types import ChunkSettings
from knowledge import db
from knowledge.collecting import Candidate, NotRegularFile, file_sha256, skipped, special_kind
from knowledge.types import FileResult, SyncReport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
# A Progress may also have `embedded(done, total, path)`: chunks embedded so far in the current embedding
# call, which can take minutes for one big file (the server shows it; plain callables are called as before).
EMBED_PROGRESS_SLICE = 128  # chunks per model call when someone watches the embedding progress
# (path, load options, chunk settings, doc sha256) -> (ParsedDocument, chunks); raises IngestError.
# In-process by default; KnowledgeBase passes an isolated worker's `parse` (ingest.isolated.ParserPool).
Parser = Callable[..., tuple]


class DocStore(Protocol):
    """Where a KB keeps documents, chunks and vectors (what sync_files needs of it)."""

    def documents(self) -> list[db.DocumentRow]: ...

    def document_by_path(self, path: str) -> db.DocumentRow | None: ...

    def touch(self, doc: db.DocumentRow, size: int, mtime: float) -> None:
        """Same content, new size/mtime: remember them so the next run skips hashing."""

    def stored_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors already stored for these chunk ids (renamed or partly changed files re-embed nothing)."""

    def write_failed(self, *, path: str, name: str, root: str | None, sha256: str, size: int, mtime: float,
                     error_kind: str, error: str, parsers: int) -> None:
        """Record the file as failed, with no chunks, under ingest.PARSERS_VERSION `parsers`."""

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

    def write_failed(self, *, path, name, root, sha256, size, mtime, error_kind, error, parsers) -> None:
        with db.transaction(self.conn):
            doc_id = db.upsert_document(self.conn, path=path, name=name, root=root, sha256=sha256, size=size,
                                        mtime=mtime, status="failed", error_kind=error_kind, error=error,
                                        parsers=parsers)
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


def _embed_text(chunk) -> str:
    heading = " > ".join(chunk.heading_path)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


EMBED_BATCH_CHUNKS = 256  # most chunks gathered across small files before one embedding call
PARSE_AHEAD = 64  # files the parser may run ahead of the one being embedded


@dataclass
class _Job:
    """A new or changed file: to parse, chunk, embed and commit."""

    slot: int
    cand: Candidate
    status: str  # "added" | "updated"
    sha: str
    st: os.stat_result


@dataclass
class _Pending:
    """A parsed file waiting for its vectors: committed in its own transaction once they exist."""

    job: _Job
    parsed: object
    chunks: list
    vectors: np.ndarray
    todo: list[int]


def sync_files(store: DocStore, embedder, candidates: list[Candidate], roots: list[str], chunk_settings: ChunkSettings,
               load_options: LoadOptions, *, force: bool = False, progress: Progress | None = None,
               report: SyncReport | None = None, parse: Parser | None = None) -> SyncReport:
    """Bring the store in line with the candidates, one document at a time.

    Three things keep the model busy, since embedding is the cost that cannot be cut: the next
    files are parsed ahead on a thread (in the isolated parser process when `parse` is one, else
    in-process, where the model runs outside the GIL) while the current ones embed;
    chunks of consecutive small files go to the model together (up to EMBED_BATCH_CHUNKS, or
    whatever is parsed when the parser has nothing ready), as a model called per 3-chunk file
    spends most of its time on per-call overhead; and unchanged
    files are settled first from size/mtime/hash. Each file still commits alone, so a kill loses
    at most the files whose vectors were not yet written.
    """
    from concurrent.futures import ThreadPoolExecutor

    parse = parse or parse_in_process
    report = report or SyncReport()
    started = time.perf_counter()
    total = len(candidates)
    wanted = {str(c.path) for c in candidates}
    results: list[FileResult | None] = [None] * total
    jobs: list[_Job] = []
    done = 0
    for i, cand in enumerate(candidates):
        outcome = _triage(store, cand, load_options, force, i)
        if isinstance(outcome, FileResult):
            results[i] = outcome
            done += 1
            if progress:
                progress(done, total, str(cand.path))
        else:
            jobs.append(outcome)

    pending: list[_Pending] = []

    def flush() -> None:
        texts = [_embed_text(p.chunks[i]) for p in pending for i in p.todo]
        if texts:
            fresh = _embed(embedder, texts, getattr(progress, "embedded", None),
                           str(pending[-1].job.cand.path) if pending else "")
            at = 0
            for p in pending:
                p.vectors[p.todo] = fresh[at:at + len(p.todo)]
                at += len(p.todo)
            report.embedded_chunks += len(texts)
        for p in pending:
            results[p.job.slot] = _commit(store, p)
        pending.clear()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhida-parse") as pool:
        futures = {}
        try:
            for n, job in enumerate(jobs):
                for ahead in jobs[n:n + PARSE_AHEAD + 1]:
                    if ahead.slot not in futures:
                        futures[ahead.slot] = pool.submit(parse, ahead.cand.path, load_options, chunk_settings,
                                                              ahead.sha)
                if progress:
                    progress(done, total, str(job.cand.path))
                try:
                    parsed, chunks = futures.pop(job.slot).result()
                except IngestError as exc:
                    results[job.slot] = _record_failure(store, job, exc)
                else:
                    pending.append(_with_vectors(store, embedder, job, parsed, chunks, force))
                    queued = sum(len(p.todo) for p in pending)
                    following = futures.get(jobs[n + 1].slot) if n + 1 < len(jobs) else None
                    # Embed now if the batch is full, or if the parser has nothing ready: the model never
                    # waits for the parser while it has work, and batches grow once the parser is ahead.
                    if queued >= EMBED_BATCH_CHUNKS or (queued and following is not None and not following.done()):
                        flush()
                done += 1
            flush()
        finally:
            for f in futures.values():
                f.cancel()
    report.files.extend(r for r in results if r is not None)
    # files that disappeared from a folder we walked, and those now skipped (a link out of the folder or a
    # FIFO that an older version indexed): what the report says is not read must not stay searchable
    skipped_paths = {f.path for f in report.files if f.status == "skipped"}
    skipped_dirs = tuple(p + os.sep for p in skipped_paths)  # files under a skipped folder link

    def refused(path: str) -> bool:
        return path in skipped_paths or (bool(skipped_dirs) and path.startswith(skipped_dirs))

    for root in roots:
        prefix = root.rstrip(os.sep) + os.sep
        for doc in store.documents():
            if doc.path.startswith(prefix) and (refused(doc.path)
                                                or (doc.path not in wanted and not Path(doc.path).exists())):
                store.delete_document(doc)
                report.files.append(FileResult(path=doc.path, status="removed", chunks=doc.chunks))
    if progress:
        progress(total, total, "")
    report.seconds = time.perf_counter() - started
    return report


def _triage(store: DocStore, cand: Candidate, load_options: LoadOptions, force: bool, slot: int) -> FileResult | _Job:
    """Settle a file from size, mtime and hash alone (unchanged, unreadable) or make it a job."""
    path = str(cand.path)
    try:
        st = cand.path.stat()
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or device since the walk
        return skipped(path, f"not a regular file ({special_kind(st.st_mode)})", "not_regular")
    existing = store.document_by_path(path)
    # a failed file is tried again when a password comes with this ingest, or when it failed under older
    # loaders (ingest.PARSERS_VERSION), which may read it now; otherwise it stays failed until it changes
    retry_failed = existing is not None and existing.status == "failed" and bool(
        load_options.password or (existing.parsers or 1) < PARSERS_VERSION)
    if existing and not force and not retry_failed and existing.size == st.st_size and existing.mtime == st.st_mtime:
        return _unchanged(existing)
    try:
        sha = file_sha256(cand.path)
    except NotRegularFile as exc:
        return skipped(path, exc.strerror, "not_regular")
    except OSError as exc:
        return FileResult(path=path, status="failed", reason=f"cannot read it ({exc.strerror})", error_kind="io")
    if existing and not force and not retry_failed and existing.sha256 == sha:
        store.touch(existing, st.st_size, st.st_mtime)
        return _unchanged(existing)
    return _Job(slot, cand, "updated" if existing else "added", sha, st)


def _record_failure(store: DocStore, job: _Job, exc: IngestError) -> FileResult:
    path = str(job.cand.path)
    store.write_failed(path=path, name=job.cand.name, root=job.cand.root, sha256=job.sha, size=job.st.st_size,
                       mtime=job.st.st_mtime, error_kind=exc.kind, error=exc.reason, parsers=PARSERS_VERSION)
    return FileResult(path=path, status="failed", reason=exc.reason, error_kind=exc.kind)


def _with_vectors(store: DocStore, embedder, job: _Job, parsed, chunks: list, force: bool) -> _Pending:
    """Stored vectors for chunks the KB already holds (renames, edits elsewhere); the rest to embed."""
    reuse = {} if force else store.stored_vectors([c.id for c in chunks])
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for i, c in enumerate(chunks):
        if c.id in reuse:
            vectors[i] = reuse[c.id]
    todo = [i for i, c in enumerate(chunks) if c.id not in reuse]
    return _Pending(job, parsed, chunks, vectors, todo)


def _embed(embedder, texts: list[str], embedded: Callable[[int, int, str], None] | None, path: str) -> np.ndarray:
    """All vectors in one model call, or in slices reporting `embedded(done, total, path)` after each."""
    if embedded is None or len(texts) <= EMBED_PROGRESS_SLICE:
        return embedder.embed_documents(texts, show_progress=len(texts) > 64)
    parts = []
    for at in range(0, len(texts), EMBED_PROGRESS_SLICE):
        parts.append(embedder.embed_documents(texts[at:at + EMBED_PROGRESS_SLICE]))
        try:
            embedded(min(len(texts), at + EMBED_PROGRESS_SLICE), len(texts), path)
        except Exception:  # a progress display must never stop an ingest
            log.debug("embedding progress callback failed", exc_info=True)
    return np.vstack(parts)


def _commit(store: DocStore, p: _Pending) -> FileResult:
    cand, st, parsed = p.job.cand, p.job.st, p.parsed
    path = str(cand.path)
    store.write_document(path=path, name=cand.name, root=cand.root, sha256=p.job.sha, size=st.st_size,
                         mtime=st.st_mtime, warnings=parsed.warnings, fmt=parsed.format, pages=parsed.pages,
                         chunks=p.chunks, vectors=p.vectors)
    for w in parsed.warnings:
        log.warning("%s", w)
    return FileResult(path=path, status=p.job.status, chunks=len(p.chunks), warnings=list(parsed.warnings))


def _unchanged(doc: db.DocumentRow) -> FileResult:
    if doc.status == "failed":
        return FileResult(path=doc.path, status="failed", reason=doc.error or "", error_kind=doc.error_kind or "")
    return FileResult(path=doc.path, status="unchanged", chunks=doc.chunks)
