"""One knowledge base: a folder with kb.sqlite (truth), cache/ (FAISS + BM25) and .lock."""
from __future__ import annotations

import json
import logging
import numbers
import os
import shutil
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from contextlib import contextmanager

import numpy as np
from filelock import FileLock, Timeout

from ingest import LoadOptions
from ingest.isolated import ParserLimits, ParserPool
from ingest.types import ChunkSettings
from knowledge import caches, db, dbfile
from knowledge.collecting import collect
from knowledge.errors import DocumentNotFound, KBBusy, KBNotFound, SettingsMismatch
from knowledge.settings import IndexSettings, IngestSettings, QuerySettings
from knowledge.syncing import Progress, SqliteDocStore, sync_files
from knowledge.types import RetrievedChunk, SyncReport
from retrieval import DenseSettings, HybridRetriever, Tokenizer
from retrieval.tokenize import shared_tokenizer

log = logging.getLogger(__name__)

EmbedderLoader = Callable[[str], object]


PARSER_IDLE_S = 120.0  # a warm parser worker idle this long is stopped (it holds ~150 MB)


def _call_if_alive(method: weakref.WeakMethod) -> None:
    bound = method()
    if bound is not None:
        bound()


class KnowledgeBaseCore:
    """What every store shares: the manifest's facts, the settings check, models, the local writer lock."""

    store = "local"
    path: Path
    name: str
    manifest: dict

    def _init_common(self, path: Path, embedder_loader: EmbedderLoader, reranker_loader: Callable | None,
                     query: QuerySettings, ingest: IngestSettings) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._embedder_loader = embedder_loader
        self._reranker_loader = reranker_loader
        self.query_settings = query
        self.ingest_settings = ingest
        self.closed = False  # a closed KB is never handed out again by Catalog.open
        self._tokenizer: Tokenizer | None = None
        self._writing = 0  # ingests of this process writing right now
        self._parser_pool: ParserPool | None = None  # kept warm between this KB's ingests (see _parser)
        self._parser_lock = threading.Lock()
        self._parser_idle: threading.Timer | None = None

    # --- facts baked into the index
    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding_model"]

    @property
    def chunk_settings(self) -> ChunkSettings:
        return ChunkSettings(**self.manifest["chunking"])

    @property
    def dim(self) -> int:
        return int(self.manifest.get("dim") or 0)

    def index_settings(self) -> IndexSettings:
        return IndexSettings(self.embedding_model, self.chunk_settings)

    def check_settings(self, wanted: IndexSettings | None) -> None:
        """Refuse index-level changes on an existing KB; name the way out."""
        if wanted is None:
            return
        have = self.index_settings()
        diffs = []
        if wanted.embedding_model != have.embedding_model:
            diffs.append(f"embedding model {have.embedding_model!r} (asked for {wanted.embedding_model!r})")
        if wanted.chunk != have.chunk:
            diffs.append(f"chunk size/overlap {have.chunk.chunk_size}/{have.chunk.chunk_overlap} (asked for "
                         f"{wanted.chunk.chunk_size}/{wanted.chunk.chunk_overlap})")
        if diffs:
            raise SettingsMismatch(f"knowledge base '{self.name}' was built with " + " and ".join(diffs)
                                   + f"; re-index it with `zhida ingest PATH --kb {self.name} --rebuild` to change "
                                   "index-level settings")

    def embedder(self):
        return self._embedder_loader(self.embedding_model)

    def knows(self, word: str) -> bool:
        """Whether the knowledge base's text uses `word` anywhere (every token of it). A store that
        cannot tell says True, so nothing is refused on its account."""
        return True

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosines of `query` with each of `texts` by this knowledge base's embedding model, embedded
        as a question and as passages, like a search's dense scores (the refusal's second look at a
        passage written in two languages: app.evidence.similarity_in_language)."""
        if not texts:
            return []
        emb = self.embedder()
        q = np.asarray(emb.embed_query(query), dtype=np.float32).reshape(-1)
        return (np.asarray(emb.embed_documents(list(texts)), dtype=np.float32) @ q).tolist()

    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            facts = self.manifest.get("tokenizer") or {}
            self._tokenizer = shared_tokenizer(self.query_settings.jieba_user_dict,
                                               stem_english=bool(facts.get("stem_english", False)))
        return self._tokenizer

    def _writer_lock(self, timeout: float | None = None) -> FileLock:
        lock = FileLock(str(self.path / ".lock"), timeout=self.ingest_settings.lock_timeout_s if timeout is None
                        else timeout)
        try:
            lock.acquire()
        except Timeout:
            owner = ""
            try:
                owner = (self.path / ".lock.owner").read_text().strip()
            except OSError:
                pass
            raise KBBusy(f"knowledge base '{self.name}' is busy: another ingest is writing to it"
                         + (f" (pid {owner})" if owner else "") + "; try again when it finishes") from None
        try:
            (self.path / ".lock.owner").write_text(str(os.getpid()))
        except OSError:
            pass
        return lock

    @contextmanager
    def _parser(self):
        """The parse function for one ingest run: an isolated worker (started on the first changed file),
        or in-process when `isolate_parsers` is off.

        The worker stays up between this KB's ingests (a server's uploads, a watched folder's bursts) until
        PARSER_IDLE_S pass without one, or `close()`: a fresh interpreter importing the parsers made a
        one-file ingest 0.70 s for a small PDF against 0.022 s warm (DOCX 0.19 against 0.046 s;
        `python -m benchmarks.warm_parser`), and an idle worker holds ~150 MB. An ingest that finds it busy
        (another thread ingesting into this KB object) gets a worker of its own for the run."""
        st = self.ingest_settings
        if not st.isolate_parsers:
            yield None
            return
        limits = ParserLimits(timeout_s=st.parser_timeout_s, memory_mb=st.parser_memory_mb)
        if not self._parser_lock.acquire(blocking=False):
            with ParserPool(limits) as own:
                yield own.parse
            return
        try:
            if self._parser_idle is not None:
                self._parser_idle.cancel()
            if self._parser_pool is None or self._parser_pool.limits != limits:
                self._close_parser()
                self._parser_pool = ParserPool(limits)
            yield self._parser_pool.parse
        finally:
            if self.closed:  # closed while this ingest ran: close() left the worker to us
                self._close_parser()
            else:  # weakly: a KB dropped without close() is collected, its pool's pipes close, the worker exits
                self._parser_idle = threading.Timer(PARSER_IDLE_S, _call_if_alive,
                                                    (weakref.WeakMethod(self._close_idle_parser),))
                self._parser_idle.daemon = True
                self._parser_idle.start()
            self._parser_lock.release()

    def _close_idle_parser(self) -> None:
        """Stop the warm worker unless an ingest is using it (that ingest then keeps or closes it)."""
        if self._parser_lock.acquire(blocking=False):
            try:
                self._close_parser()
            finally:
                self._parser_lock.release()

    def _close_parser(self) -> None:
        """Stop the warm parser worker, if any (the caller holds _parser_lock)."""
        if self._parser_idle is not None:
            self._parser_idle.cancel()
        pool, self._parser_pool = self._parser_pool, None
        if pool is not None:
            pool.close()

    def _follows(self, follow_links: bool | None) -> bool:
        """Whether this ingest reads links out of its folders: the call's choice, else the ingest setting."""
        return self.ingest_settings.follow_links if follow_links is None else bool(follow_links)

    def _plan(self, paths: Iterable[str | Path], include: Sequence[str], exclude: Sequence[str] | None,
              password: str | None, follow_links: bool = False):
        """What an ingest will look at (files, walked roots, paths not read: missing or skipped) and how to
        load it."""
        exclude = self.ingest_settings.exclude if exclude is None else exclude
        candidates, roots, missing = collect(paths, include or self.ingest_settings.include, exclude,
                                             follow_links=follow_links)
        options = LoadOptions(password=password, max_bytes=self.ingest_settings.max_file_bytes,
                              ocr=self.ingest_settings.ocr)
        return candidates, roots, missing, options

    def _query(self, overrides: dict) -> QuerySettings:
        return replace(self.query_settings, **{k_: v for k_, v in overrides.items() if v is not None})

    @staticmethod
    def _top_k(k: int | None, q: QuerySettings) -> int:
        """How many results a search returns; anything but a whole number >= 1 is refused (a negative k
        used to reach argpartition and return results anyway)."""
        k = q.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"the number of results (k) must be a whole number of at least 1, not {k!r}")
        return int(k)


class KnowledgeBase(KnowledgeBaseCore):
    """The embedded store: kb.sqlite (truth) + FAISS/BM25 caches beside it."""

    def __init__(self, path: Path, *, embedder_loader: EmbedderLoader, reranker_loader: Callable | None = None,
                 query: QuerySettings = QuerySettings(), ingest: IngestSettings = IngestSettings()):
        self._init_common(path, embedder_loader, reranker_loader, query, ingest)
        self._indexes: caches.Indexes | None = None
        self._indexes_epoch = -1
        self._epoch = 0  # bumped each time kb.sqlite is reopened because another file took its name
        self._index_lock = threading.Lock()
        self._db_lock = threading.RLock()
        self._open_db()
        dbfile.sweep_rebuilds(self.path, locked=False)

    # --- the database file
    def _open_db(self) -> None:
        self.conn, self._file_id, self.manifest = dbfile.open_db(self.path / "kb.sqlite", self.name)
        db.migrate(self.conn)  # a KB from before the parent-unit columns opens as it is, and gains them

    def _readable(self):
        """Damage found after opening (a malformed page under the chunks) is KBDamaged too."""
        return dbfile.damage_named(self.name, self.path / "kb.sqlite")

    def replaced(self) -> bool:
        """Whether kb.sqlite is now another file than the one this KB has open (a rebuild or a delete and
        re-create by another process)."""
        return dbfile.identity(self.path / "kb.sqlite") != self._file_id

    def follow_file(self) -> None:
        """Reopen kb.sqlite if another process swapped it, so reads, deletes and the in-memory indexes
        are those of the file on disk, not of one that is gone. A stat per call: cheap beside a query."""
        if not self.replaced():
            return
        with self._db_lock:
            if not self.replaced():
                return
            if dbfile.identity(self.path / "kb.sqlite") is None:
                raise KBNotFound(f"knowledge base '{self.name}' was deleted")
            old = self.conn
            self._open_db()
            old.close()
            self._epoch += 1
            log.info("kb.sqlite of '%s' was replaced on disk; reopened it", self.name)

    # --- writing
    def ingest(self, paths: Iterable[str | Path], *, include: Sequence[str] = (), exclude: Sequence[str] | None = None,
               rebuild: bool = False, password: str | None = None, progress: Progress | None = None,
               index_settings: IndexSettings | None = None, follow_links: bool | None = None) -> SyncReport:
        """Add/refresh files and folders (incremental by content hash); see knowledge.syncing.
        `follow_links` (default: the ingest setting) reads symbolic links that lead out of the folders."""
        if not rebuild:
            self.check_settings(index_settings)
        follow_links = self._follows(follow_links)
        candidates, roots, missing, options = self._plan(paths, include, exclude, password, follow_links)
        lock = self._writer_lock()
        try:
            self.follow_file()  # another process may have rebuilt or re-created the KB since we opened it
            if rebuild:
                with self._db_lock, self._storage_errors():
                    self.manifest = db.read_manifest(self.conn)
                    return self._rebuild(candidates, roots, missing, options, index_settings, progress,
                                         follow_links)
            with self._db_lock:
                self.manifest = db.read_manifest(self.conn)
            embedder = _LazyEmbedder(self)  # an unchanged folder never loads the model
            report = SyncReport(files=list(missing))
            # The writer has its own connection, so searches on self.conn keep answering (WAL) while it
            # writes; until it finishes they use the indexes of the last state they saw (see refresh_indexes).
            writer = db.connect(self.path / "kb.sqlite")
            self._writing += 1
            try:
                with self._storage_errors(), self._parser() as parse:
                    sync_files(SqliteDocStore(writer), embedder, candidates, roots, self.chunk_settings, options,
                               progress=progress, report=report, parse=parse)
            finally:
                self._writing -= 1
                writer.close()
            with self._db_lock:
                gen = db.generation(self.conn)
            if not caches.stamped_with(self.path / "cache", gen):
                self.refresh_indexes()  # build the caches now, so the first query after an ingest is fast
            return report
        finally:
            lock.release()

    def _storage_errors(self):
        """A full or read-only disk becomes one clear StorageError (see dbfile.storage_errors)."""
        return dbfile.storage_errors(self.name)

    def _ensure_dim(self, embedder) -> None:
        if not self.dim:
            with self._db_lock:
                with db.transaction(self.conn, bump=False):
                    db.set_manifest(self.conn, "dim", int(embedder.dim))
                    db.set_manifest(self.conn, "normalized", True)
                self.manifest = db.read_manifest(self.conn)
        elif self.dim != embedder.dim:
            raise SettingsMismatch(f"embedding model {self.embedding_model!r} now gives {embedder.dim}-dim vectors "
                                   f"but '{self.name}' holds {self.dim}-dim ones; re-index with --rebuild")

    def _rebuild(self, candidates, roots, missing, options, index_settings, progress, follow_links) -> SyncReport:
        """Re-embed everything into a fresh database beside this one, then swap it in atomically."""
        from knowledge.collecting import Candidate, admit

        settings = index_settings or self.index_settings()
        known = {c.path.as_posix() for c in candidates}
        missing = list(missing)
        for doc in db.documents(self.conn):
            p = Path(doc.path)
            if p.as_posix() not in known and p.exists():
                # documents of earlier runs pass the same checks as a walk (a link out, a FIFO: skipped)
                why = admit(p, [doc.root] if doc.root else [], follow_links)
                if why is None:
                    candidates.append(Candidate(p, doc.root, doc.name))
                else:
                    missing.append(why)
        dbfile.sweep_rebuilds(self.path, locked=True)  # killed rebuilds' copies (we hold the lock)
        tmp_path = dbfile.rebuild_path(self.path)
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp_path) + suffix).unlink(missing_ok=True)
        new = db.connect(tmp_path)
        try:
            embedder = self._embedder_loader(settings.embedding_model)
            manifest = settings.new_kb_manifest() | {"dim": int(embedder.dim), "normalized": True}
            db.init_db(new, manifest)
            report = SyncReport(files=list(missing))
            with self._parser() as parse:
                sync_files(SqliteDocStore(new), embedder, candidates, roots, settings.chunk, options, force=True,
                           progress=progress, report=report, parse=parse)
            gen = db.generation(self.conn) + db.generation(new) + 1
            with db.transaction(new, bump=False):
                new.execute("UPDATE manifest SET value=? WHERE key='generation'", (str(gen),))
            new.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            new.close()
        self.conn.close()
        os.replace(tmp_path, self.path / "kb.sqlite")
        for suffix in ("-wal", "-shm"):
            Path(str(self.path / "kb.sqlite") + suffix).unlink(missing_ok=True)
        self._open_db()
        self._epoch += 1
        self._indexes = None
        self.refresh_indexes()
        return report

    def delete_document(self, doc: str | int) -> dict:
        """Remove a document (by id or path) with its chunks and vectors."""
        lock = self._writer_lock()
        try:
            self.follow_file()  # delete from the file on disk, not one a rebuild replaced
            with self._db_lock, self._storage_errors():
                row = None
                if isinstance(doc, int) or str(doc).isdigit():
                    row = db.document_by_id(self.conn, int(doc))
                if row is None:
                    row = db.document_by_path(self.conn, str(Path(str(doc)).expanduser().resolve())) \
                        or db.document_by_path(self.conn, str(doc))
                if row is None:

                    raise DocumentNotFound(f"no document {doc!r} in knowledge base '{self.name}'")
                with db.transaction(self.conn):
                    db.delete_document(self.conn, row.id)
                self.refresh_indexes()
                return row.as_dict()
        finally:
            lock.release()

    # --- reading
    def documents(self) -> list[dict]:
        self.follow_file()
        with self._db_lock, self._readable():
            return [d.as_dict() for d in db.documents(self.conn)]

    def stats(self) -> dict:
        self.follow_file()
        with self._db_lock, self._readable():
            counts = db.counts(self.conn)
            manifest = db.read_manifest(self.conn)
        return {"name": self.name, "path": str(self.path), "store": self.store, "documents": counts["documents"],
                "failed": counts["failed"], "chunks": counts["chunks"], "embedding_model": manifest["embedding_model"],
                "dim": manifest.get("dim"), "chunk_size": manifest["chunking"]["chunk_size"],
                "chunk_overlap": manifest["chunking"]["chunk_overlap"], "schema_version": manifest["schema_version"], "chunker": manifest.get("chunker", 1),
                "generation": manifest["generation"]}

    def chunk(self, chunk_id: str) -> dict | None:
        """A chunk as stored (text, page, heading path, span in its section) with its document's row; None
        when this KB has no such chunk (so an id from another KB is simply unknown here)."""
        self.follow_file()
        with self._db_lock, self._readable():
            found = db.chunk_by_id(self.conn, str(chunk_id))
            doc = db.document_by_id(self.conn, int(found["doc_id"])) if found else None
        return {**found, "document": doc.as_dict()} if found and doc else None

    def document_chunks(self, doc_id: int, section_index: int | None = None) -> list[dict]:
        """A document's chunks in reading order; DocumentNotFound for an id this KB does not have."""
        self.follow_file()
        with self._db_lock, self._readable():
            if db.document_by_id(self.conn, int(doc_id)) is None:
                raise DocumentNotFound(f"no document {doc_id!r} in knowledge base '{self.name}'")
            return db.document_chunks(self.conn, int(doc_id), section_index)

    def _dense_settings(self) -> DenseSettings:
        return DenseSettings(hnsw_threshold=self.query_settings.hnsw_threshold)

    def refresh_indexes(self) -> caches.Indexes:
        """The indexes for the current committed generation: in memory, from cache files, or rebuilt."""
        self.follow_file()
        with self._index_lock:
            with self._db_lock:
                gen = db.generation(self.conn)
                epoch = self._epoch
            # a generation counts only for the file it was read from: a re-created KB counts from 0 again
            if self._indexes is not None and self._indexes_epoch == epoch and (
                    self._indexes.generation == gen or self._writing):
                # while this process ingests, every committed document bumps the generation; rebuilding
                # per request would stall searches, so they answer from the last complete snapshot (rows
                # deleted since are skipped in search) and the ingest refreshes once at the end
                return self._indexes
            cache_dir = self.path / "cache"
            loaded = caches.load(cache_dir, gen, self._dense_settings(), self.tokenizer())
            if loaded is None:
                with self._db_lock, self._readable():
                    self.manifest = db.read_manifest(self.conn)
                    dim = self.dim or 1
                    loaded = caches.build(self.conn, cache_dir, dim, self.tokenizer(), self._dense_settings())
            self._indexes, self._indexes_epoch = loaded, epoch
            return loaded

    def search(self, query: str, *, k: int | None = None, mode: str | None = None, rerank: bool | None = None,
               query_vector=None, documents: Sequence[int | str] | None = None, **overrides) -> list[RetrievedChunk]:
        """Ranked chunks for a query; `query_vector` skips embedding it again (batch evaluation);
        `documents` (ids) limits both retrievers to those documents' chunks."""
        q = self._query(overrides)
        k = self._top_k(k, q)
        mode = mode or q.mode
        rerank = q.rerank if rerank is None else rerank
        epoch = self._epoch
        idx = self.refresh_indexes()
        if idx.count == 0 or not query.strip():
            return []
        within = self._within(documents) if documents else None
        if within is not None and not within:
            return []
        embedder = self.embedder() if mode in ("dense", "hybrid") else None
        reranker = self._reranker_loader(q.reranker) if rerank and self._reranker_loader else None
        retriever = HybridRetriever(embedder, idx.dense, idx.sparse, tokenizer=self.tokenizer(),
                                    text_of=self._texts, reranker=reranker)
        hits = retriever.search(query, k=k, mode=mode, candidates=q.candidates, fusion=q.fusion, rrf_k=q.rrf_k,
                                dense_weight=q.dense_weight, rerank=rerank, rerank_top_n=q.rerank_top_n,
                                query_vector=query_vector, within=within,
                                confidence_mid=q.confidence_mid_for(self.embedding_model),
                                feedback_docs=q.feedback_docs, feedback_weight=q.feedback_weight,
                                weigh_query_terms=q.weigh_query_terms)
        with self._db_lock:
            if self._epoch != epoch:  # kb.sqlite was swapped mid-search: these ids belong to the old file
                return self.search(query, k=k, mode=mode, rerank=rerank, query_vector=query_vector,
                                   documents=documents, **overrides)
            with self._readable():
                rows = db.chunk_rows(self.conn, [h.id for h in hits])
        out = []
        for h in hits:
            row = rows.get(h.id)
            if row is None:  # deleted since the index was built
                continue
            out.append(RetrievedChunk(chunk_id=row["chunk_id"], text=row["text"], source=row["path"], score=h.score,
                                      page=row["page"], page_end=row["page_end"],
                                      heading_path=tuple(json.loads(row["heading_path"] or "[]")), hit=h,
                                      embedding_model=self.embedding_model,
                                      unit=row["unit"] or "", parent_text=row["parent_text"] or ""))
        return out

    def _within(self, documents: Sequence[int | str]) -> set[int]:
        """Row ids of the chosen documents' chunks; DocumentNotFound names an id this KB lacks."""
        bad = [d for d in documents if not str(d).strip().isdigit()]
        with self._db_lock, self._readable():
            rows, missing = db.row_ids_of_documents(self.conn, [int(d) for d in documents if str(d).strip().isdigit()])
        if bad or missing:
            raise DocumentNotFound(f"no document {(bad + missing)[0]!r} in knowledge base '{self.name}'")
        return set(rows)

    def knows(self, word: str) -> bool:
        """Whether the documents use `word` (the BM25 vocabulary of the current index): every token of it,
        or, for a compound they only write in parts, every one of its shorter words when those cover it
        whole (文件格式 as 文件 and 格式: "支持的格式……文件"; 许可证 is not covered by 许可 alone)."""
        tokens = self.tokenizer()(word)
        vocab = self.refresh_indexes().sparse.vocab
        if not tokens:
            return False
        if all(t in vocab for t in tokens):
            return True
        return covered_by_parts(word, tokens, vocab)

    def _texts(self, row_ids: list[int]) -> list[str]:
        with self._db_lock:
            rows = db.chunk_rows(self.conn, row_ids)
        return [caches.index_text(rows[i]["text"], rows[i]["heading_path"]) if i in rows else "" for i in row_ids]

    def close(self) -> None:
        # under the DB lock: closing the connection while another thread's query runs on it crashes
        # the process inside SQLite (a server request racing `kb delete`)
        with self._db_lock:
            self.closed = True
            self.conn.close()
        self._close_idle_parser()  # never waits for a running ingest: it closes the worker when it ends


def covered_by_parts(word: str, tokens: Sequence[str], vocab) -> bool:
    """Whether the tokens of `word` shorter than it are all in `vocab` and together cover every character
    of it (jieba's search mode splits a compound into the dictionary words inside it)."""
    parts = [t for t in tokens if len(t) < len(word)]
    covered: set[int] = set()
    for part in parts:
        start = word.find(part)
        while start >= 0:
            covered.update(range(start, start + len(part)))
            start = word.find(part, start + 1)
    return bool(parts) and len(covered) == len(word) and all(p in vocab for p in parts)


class _LazyEmbedder:
    """Loads the KB's embedding model (and checks its dimension) on the first text to embed."""

    def __init__(self, kb: KnowledgeBase):
        self._kb = kb
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = self._kb.embedder()
            self._kb._ensure_dim(self._model)
        return self._model

    @property
    def dim(self) -> int:
        return self._kb.dim or self._load().dim

    def embed_documents(self, texts, *, show_progress: bool = False):
        return self._load().embed_documents(texts, show_progress=show_progress)
