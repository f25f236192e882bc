"""kb.sqlite: the source of truth of a knowledge base.

Documents, chunks with their float32 vectors, and a manifest of the facts the
index was built with. Every committed write bumps `generation`, which stamps
the derived FAISS/BM25 caches. WAL mode lets readers keep answering from the
last committed state while an ingest writes.

Schema changes that only add nullable columns keep SCHEMA_VERSION: `migrate`
adds them to an existing kb.sqlite when it opens (older Zhida versions ignore
them), so a KB made before them opens and answers unchanged; its rows simply
have NULL there until their file is re-ingested.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from knowledge.errors import SchemaError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    root TEXT,
    sha256 TEXT,
    size INTEGER,
    mtime REAL,
    status TEXT NOT NULL,
    error_kind TEXT,
    error TEXT,
    warnings TEXT,
    format TEXT,
    pages INTEGER,
    chunks INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    parsers INTEGER
);
CREATE TABLE IF NOT EXISTS chunks (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    page_end INTEGER,
    heading_path TEXT NOT NULL,
    section_index INTEGER,
    char_start INTEGER,
    char_end INTEGER,
    kind TEXT,
    vector BLOB NOT NULL,
    unit TEXT,
    parent_start INTEGER,
    parent_end INTEGER,
    parent_text TEXT
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_chunk_id ON chunks(chunk_id);
"""


@dataclass(frozen=True)
class DocumentRow:
    id: int
    path: str
    name: str
    root: str | None
    sha256: str | None
    size: int | None
    mtime: float | None
    status: str
    error_kind: str | None
    error: str | None
    warnings: list[str]
    format: str | None
    pages: int | None
    chunks: int
    added_at: float
    updated_at: float
    parsers: int | None = None  # ingest.PARSERS_VERSION a failure was recorded under; None: before it

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "name": self.name, "status": self.status,
                "chunks": self.chunks, "error_kind": self.error_kind or "", "error": self.error or "",
                "warnings": self.warnings, "size": self.size, "sha256": self.sha256, "format": self.format,
                "pages": self.pages, "mtime": self.mtime, "updated_at": self.updated_at}


def connect(path: Path, create: bool = True) -> sqlite3.Connection:
    """A connection in WAL mode; `create=False` opens only a file that exists (opening a KB must never
    leave an empty kb.sqlite where a concurrent delete just removed one)."""
    target = str(path) if create else Path(path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False, uri=not create)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, bump: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; a committed write bumps the generation."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        if bump:
            conn.execute("UPDATE manifest SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key='generation'")
        conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR); a second ROLLBACK
        # would raise "no transaction is active" and hide the real error (e.g. "database or disk is full")
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass
        raise


# Columns added after schema 1 shipped: (name, SQL type). Nullable, so old rows stay valid.
# unit/parent_*: the article a chunk belongs to (ingest.Chunk); parent_text only when the chunk is a piece.
ADDED_CHUNK_COLUMNS = (("unit", "TEXT"), ("parent_start", "INTEGER"), ("parent_end", "INTEGER"),
                       ("parent_text", "TEXT"))
# parsers: ingest.PARSERS_VERSION a failure was recorded under (NULL: before the column, i.e. 1).
ADDED_DOCUMENT_COLUMNS = (("parsers", "INTEGER"),)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def chunk_columns(conn: sqlite3.Connection) -> set[str]:
    return _columns(conn, "chunks")


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a KB made by an earlier version lacks. A KB that cannot be written (read-only
    file) is left as it is: reads fall back to the old columns (see chunk_rows, _doc)."""
    wanted = (("chunks", ADDED_CHUNK_COLUMNS), ("documents", ADDED_DOCUMENT_COLUMNS))
    missing = [(table, name, kind) for table, cols in wanted for have in [_columns(conn, table)]
               for name, kind in cols if have and name not in have]
    if not missing:
        return
    try:
        with transaction(conn, bump=False):
            for table, name, kind in missing:
                if name not in _columns(conn, table):  # another process may have added it meanwhile
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    except sqlite3.OperationalError:
        pass


def init_db(conn: sqlite3.Connection, manifest: dict) -> None:
    with transaction(conn, bump=False):
        for stmt in _SCHEMA.strip().split(";"):
            if stmt.strip():
                conn.execute(stmt)
        rows = {"schema_version": str(SCHEMA_VERSION), "generation": "0", "created_at": str(time.time())}
        rows.update({k: json.dumps(v, ensure_ascii=False) for k, v in manifest.items()})
        for key, value in rows.items():
            conn.execute("INSERT OR IGNORE INTO manifest(key, value) VALUES (?, ?)", (key, value))


def read_manifest(conn: sqlite3.Connection) -> dict:
    try:
        rows = conn.execute("SELECT key, value FROM manifest").fetchall()
    except sqlite3.OperationalError as exc:  # no manifest table: some other SQLite file
        raise SchemaError(f"kb.sqlite is not a Zhida knowledge base ({exc})") from exc
    # any other DatabaseError ("file is not a database", "malformed") is damage: the caller names the KB
    out: dict = {}
    for row in rows:
        key, value = row["key"], row["value"]
        if key in ("schema_version", "generation"):
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise SchemaError(f"kb.sqlite has an unreadable {key} ({value!r}); it was not written by Zhida "
                                  "or is damaged") from None
        elif key == "created_at":
            out[key] = float(value)
        else:
            out[key] = json.loads(value)
    version = out.get("schema_version")
    if version is None:
        raise SchemaError("kb.sqlite has no schema version; it was not written by Zhida")
    if version < SCHEMA_VERSION:
        raise SchemaError(f"this knowledge base has schema {version}, older than this Zhida can migrate (it reads "
                          f"{SCHEMA_VERSION}); delete it and ingest the files again")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"this knowledge base was written by a newer Zhida (schema {version}, this version "
                          f"reads up to {SCHEMA_VERSION}); upgrade Zhida to open it")
    return out


def generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM manifest WHERE key='generation'").fetchone()
    return int(row["value"]) if row else 0


def set_manifest(conn: sqlite3.Connection, key: str, value) -> None:
    conn.execute("INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False)))


def _doc(row: sqlite3.Row) -> DocumentRow:
    return DocumentRow(id=row["id"], path=row["path"], name=row["name"], root=row["root"], sha256=row["sha256"],
                       size=row["size"], mtime=row["mtime"], status=row["status"], error_kind=row["error_kind"],
                       error=row["error"], warnings=json.loads(row["warnings"] or "[]"), format=row["format"],
                       pages=row["pages"], chunks=row["chunks"], added_at=row["added_at"],
                       updated_at=row["updated_at"], parsers=row["parsers"] if "parsers" in row.keys() else None)


def documents(conn: sqlite3.Connection) -> list[DocumentRow]:
    return [_doc(r) for r in conn.execute("SELECT * FROM documents ORDER BY path")]


def document_by_path(conn: sqlite3.Connection, path: str) -> DocumentRow | None:
    row = conn.execute("SELECT * FROM documents WHERE path=?", (path,)).fetchone()
    return _doc(row) if row else None


def document_by_id(conn: sqlite3.Connection, doc_id: int) -> DocumentRow | None:
    row = conn.execute("SELECT * FROM documents WHERE id=?", (doc_id,)).fetchone()
    return _doc(row) if row else None


def vectors_for_chunk_ids(conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    ids = list(dict.fromkeys(chunk_ids))
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        q = f"SELECT chunk_id, vector FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
        for row in conn.execute(q, part):
            out[row["chunk_id"]] = row["vector"]
    return out


def upsert_document(conn: sqlite3.Connection, *, path: str, name: str, root: str | None, sha256: str | None,
                    size: int | None, mtime: float | None, status: str, error_kind: str = "", error: str = "",
                    warnings: Sequence[str] = (), fmt: str | None = None, pages: int | None = None,
                    chunks: int = 0, parsers: int | None = None) -> int:
    now = time.time()
    existing = conn.execute("SELECT id FROM documents WHERE path=?", (path,)).fetchone()
    values = (name, root, sha256, size, mtime, status, error_kind or None, error or None,
              json.dumps(list(warnings), ensure_ascii=False), fmt, pages, chunks, parsers, now)
    if existing:
        conn.execute("UPDATE documents SET name=?, root=?, sha256=?, size=?, mtime=?, status=?, error_kind=?, "
                     "error=?, warnings=?, format=?, pages=?, chunks=?, parsers=?, updated_at=? WHERE id=?",
                     values + (existing["id"],))
        return int(existing["id"])
    cur = conn.execute("INSERT INTO documents(name, root, sha256, size, mtime, status, error_kind, error, warnings, "
                       "format, pages, chunks, parsers, updated_at, path, added_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values + (path, now))
    return int(cur.lastrowid)


def replace_chunks(conn: sqlite3.Connection, doc_id: int, chunks, vectors: np.ndarray) -> None:
    conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    # getattr: the benchmark writes plain namespaces that predate the parent fields
    conn.executemany(
        "INSERT INTO chunks(chunk_id, doc_id, position, text, page, page_end, heading_path, section_index, "
        "char_start, char_end, kind, vector, unit, parent_start, parent_end, parent_text) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(c.id, doc_id, c.position, c.text, c.page, c.page_end, json.dumps(list(c.heading_path), ensure_ascii=False),
          c.section_index, c.char_start, c.char_end, c.kind, vectors[i].tobytes(), getattr(c, "unit", "") or None,
          getattr(c, "parent_start", None), getattr(c, "parent_end", None), getattr(c, "parent_text", "") or None)
         for i, c in enumerate(chunks)])


def delete_document(conn: sqlite3.Connection, doc_id: int) -> None:
    conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
    conn.execute("DELETE FROM documents WHERE id=?", (doc_id,))


def chunk_rows(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
    """Rows to cite: text, page, heading path, document, and `unit`/`parent_text` (NULL in a KB that
    could not be migrated, or for chunks ingested before them)."""
    out: dict[int, sqlite3.Row] = {}
    parent = ("c.unit, c.parent_text" if "parent_text" in chunk_columns(conn)
              else "NULL AS unit, NULL AS parent_text")
    for start in range(0, len(row_ids), 500):
        part = list(row_ids[start:start + 500])
        q = (f"SELECT c.row_id, c.chunk_id, c.text, c.page, c.page_end, c.heading_path, {parent}, d.name, d.path "
             f"FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.row_id IN ({','.join('?' * len(part))})")
        for row in conn.execute(q, part):
            out[int(row["row_id"])] = row
    return out


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    docs = conn.execute("SELECT status, COUNT(*) AS n FROM documents GROUP BY status").fetchall()
    by = {r["status"]: r["n"] for r in docs}
    n_chunks = conn.execute("SELECT COUNT(*) AS n FROM chunks").fetchone()["n"]
    return {"documents": sum(by.values()), "ok": by.get("ok", 0), "failed": by.get("failed", 0), "chunks": n_chunks}


# ---- reading chunks as stored (source viewer, chunk browser) ------------------------------------
_STORED = ("c.chunk_id, c.doc_id, c.position, c.text, c.page, c.page_end, c.heading_path, c.section_index, "
           "c.char_start, c.char_end, c.kind")


def _stored_chunk(row: sqlite3.Row, parent: bool) -> dict:
    out = {k: row[k] for k in ("chunk_id", "doc_id", "position", "text", "page", "page_end", "section_index",
                               "char_start", "char_end", "kind")}
    out["heading_path"] = json.loads(row["heading_path"] or "[]")
    out["unit"] = (row["unit"] or "") if parent else ""
    out["parent_text"] = (row["parent_text"] or "") if parent else ""
    return out


def chunk_by_id(conn: sqlite3.Connection, chunk_id: str) -> dict | None:
    """One chunk by its stable id, with its span in its section; None when this KB has no such chunk."""
    parent = "parent_text" in chunk_columns(conn)
    cols = _STORED + (", c.unit, c.parent_text" if parent else "")
    row = conn.execute(f"SELECT {cols} FROM chunks c WHERE c.chunk_id=? LIMIT 1", (chunk_id,)).fetchone()
    return _stored_chunk(row, parent) if row else None


def document_chunks(conn: sqlite3.Connection, doc_id: int, section_index: int | None = None) -> list[dict]:
    """A document's chunks in reading order (only one section's with `section_index`)."""
    parent = "parent_text" in chunk_columns(conn)
    cols = _STORED + (", c.unit, c.parent_text" if parent else "")
    q, args = f"SELECT {cols} FROM chunks c WHERE c.doc_id=?", [doc_id]
    if section_index is not None:
        q += " AND c.section_index=?"
        args.append(section_index)
    return [_stored_chunk(r, parent) for r in conn.execute(q + " ORDER BY c.position", args)]


def row_ids_of_documents(conn: sqlite3.Connection, doc_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(row ids of those documents' chunks, the doc ids this KB does not have)."""
    ids = sorted({int(d) for d in doc_ids})
    have = {int(r["id"]) for r in conn.execute(
        f"SELECT id FROM documents WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else set()
    rows = [int(r["row_id"]) for r in conn.execute(
        f"SELECT row_id FROM chunks WHERE doc_id IN ({','.join('?' * len(ids))})", ids)] if ids else []
    return rows, [d for d in ids if d not in have]
