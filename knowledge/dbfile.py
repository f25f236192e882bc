"""kb.sqlite as a file on disk: which file a connection holds, leftovers of killed rebuilds, damage,
and a disk that refuses writes.

Another process can swap kb.sqlite under a running server (`zhida ingest --rebuild` renames a fresh
database over it; `zhida kb delete` + re-create makes a new one). A connection keeps reading the file
it opened, so a KnowledgeBase remembers that file's (device, inode) and reopens when the name points
at another file. The pair cannot be reused while the connection holds the old file open.
"""
from __future__ import annotations

import errno
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from knowledge import db
from knowledge.errors import KBDamaged, KBNotFound, StorageError

REBUILD_PREFIX = "kb.sqlite.rebuild-"
_REBUILD = re.compile(r"^kb\.sqlite\.rebuild-(\d+)(-wal|-shm|-journal)?$")

FileId = tuple[int, int]


def identity(path: Path) -> FileId | None:
    """(device, inode) of the file at path now, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def connect(path: Path) -> tuple[sqlite3.Connection, FileId | None]:
    """A connection and the identity of the file it opened (the name is checked before and after
    opening, so a swap in between is not mistaken for the file we hold)."""
    for _ in range(5):
        before = identity(path)
        conn = db.connect(path, create=False)
        if identity(path) == before:
            return conn, before
        conn.close()
    return db.connect(path, create=False), identity(path)  # swapped five times in a row: take what is there


def open_db(path: Path, name: str) -> tuple[sqlite3.Connection, FileId | None, dict]:
    """A connection, the identity of its file and the manifest; a file SQLite cannot read is KBDamaged,
    naming the KB and the way out (nothing here ever writes over it)."""
    conn = None
    try:
        conn, file_id = connect(path)
        return conn, file_id, db.read_manifest(conn)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.OperationalError) and identity(path) is None:
            raise KBNotFound(f"knowledge base '{name}' was deleted") from None
        if is_damage(exc):
            raise KBDamaged(damage_message(name, path, exc)) from None
        raise


@contextmanager
def damage_named(name: str, path: Path) -> Iterator[None]:
    """Damage SQLite finds later (a malformed page under the chunks) is KBDamaged too."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        raise KBDamaged(damage_message(name, path, exc)) from None


@contextmanager
def storage_errors(name: str) -> Iterator[None]:
    """A full or read-only disk becomes one clear StorageError; every document is its own transaction,
    so what was committed before stays and the failed write is rolled back."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if not any(w in text for w in ("full", "disk i/o", "readonly", "read-only", "unable to open")):
            raise
        raise StorageError(_storage_message(name, str(exc))) from exc
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
            raise
        raise StorageError(_storage_message(name, exc.strerror or str(exc))) from exc


def _storage_message(name: str, why: str) -> str:
    return (f"could not write knowledge base '{name}' ({why}); it keeps its last complete state "
            "(documents finished before the error stay in, the one being written was rolled back); "
            "free some disk space and run the same command again to finish")


def rebuild_path(folder: Path) -> Path:
    return folder / f"{REBUILD_PREFIX}{os.getpid()}"


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there; only the KB lock may sweep
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: some process has that pid
        return True
    return True


def sweep_rebuilds(folder: Path, *, locked: bool) -> list[Path]:
    """Delete the half-built databases (+ -wal/-shm) of rebuilds that were killed: each can be as big as
    the KB. Under the KB's writer lock no other rebuild can be running, so every one but ours is stale;
    without it only those whose process is gone."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _REBUILD.match(entry.name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or (not locked and _alive(pid)):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def is_damage(exc: BaseException) -> bool:
    """SQLite saying the file itself is bad ("file is not a database", "database disk image is
    malformed"), as opposed to a busy lock or a full disk (OperationalError) or a connection this
    process closed meanwhile (ProgrammingError: the KB was deleted under a running request)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, (sqlite3.OperationalError,
                                                                           sqlite3.ProgrammingError))


def damage_message(name: str, path: Path, exc: BaseException) -> str:
    return (f"knowledge base '{name}' is damaged: {path} cannot be read ({exc}). Zhida does not overwrite it; "
            f"restore it from a copy, or delete it with `zhida kb delete {name}` and ingest your files again "
            f"with `zhida ingest PATH --kb {name}`")
