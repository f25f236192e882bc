"""Saved conversations: one SQLite file under $ZHIDA_HOME/server, shared by the web UI and the REST API.

A conversation belongs to one knowledge base (reopening it reopens that KB) and holds its turns in order:
the plain text (what a follow-up question is rewritten with), the HTML the chat showed (answer,
citations, mode line) and the citations as JSON, so a reload or a server restart shows it as it was.
Writes are single transactions; a KB that is deleted later leaves its conversations readable.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable

MAX_TITLE = 200
MAX_MESSAGE = 200_000  # characters; a turn longer than this is cut (an answer never is, a paste might be)
ROLES = ("user", "assistant")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, kb TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, display TEXT, citations TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_conv ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);
"""


class ConversationNotFound(LookupError):
    pass


def default_title(text: str) -> str:
    """A title from the first question: its first line, at most 40 characters."""
    line = " ".join((text or "").split())
    return (line[:40] + "…") if len(line) > 40 else line


class ConversationStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @staticmethod
    def _row(r: sqlite3.Row, n: int | None = None) -> dict[str, Any]:
        out = {"id": r["id"], "title": r["title"], "kb": r["kb"], "created": r["created"], "updated": r["updated"]}
        if n is not None:
            out["messages"] = n
        return out

    def create(self, kb: str, title: str = "") -> dict[str, Any]:
        now = time.time()
        cid = uuid.uuid4().hex
        title = (title or "").strip()[:MAX_TITLE]
        with self._lock, closing(self._connect()) as conn:
            conn.execute("INSERT INTO conversations(id, title, kb, created, updated) VALUES (?,?,?,?,?)",
                         (cid, title, kb, now, now))
        return {"id": cid, "title": title, "kb": kb, "created": now, "updated": now, "messages": 0}

    def list(self, kb: str | None = None) -> list[dict[str, Any]]:
        """Newest first, with their message counts."""
        q = ("SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
             "FROM conversations c")
        args: tuple = ()
        if kb:
            q, args = q + " WHERE c.kb = ?", (kb,)
        with closing(self._connect()) as conn:
            return [self._row(r, r["n"]) for r in conn.execute(q + " ORDER BY c.updated DESC, c.id", args)]

    def get(self, cid: str) -> dict[str, Any]:
        with closing(self._connect()) as conn:
            r = conn.execute("SELECT * FROM conversations WHERE id=?", (str(cid),)).fetchone()
            if r is None:
                raise ConversationNotFound(f"no conversation {cid!r}")
            msgs = [{"role": m["role"], "content": m["content"], "display": m["display"] or "",
                     "citations": json.loads(m["citations"] or "[]"), "created": m["created"]}
                    for m in conn.execute("SELECT * FROM messages WHERE conversation_id=? ORDER BY id", (cid,))]
        return {**self._row(r, len(msgs)), "messages": msgs}

    def rename(self, cid: str, title: str) -> dict[str, Any]:
        title = (title or "").strip()[:MAX_TITLE]
        if not title:
            raise ValueError("a conversation needs a title")
        with self._lock, closing(self._connect()) as conn:
            cur = conn.execute("UPDATE conversations SET title=?, updated=? WHERE id=?", (title, time.time(), cid))
            if not cur.rowcount:
                raise ConversationNotFound(f"no conversation {cid!r}")
        return self.get(cid)

    def delete(self, cid: str) -> None:
        with self._lock, closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM messages WHERE conversation_id=?", (cid,))
            cur = conn.execute("DELETE FROM conversations WHERE id=?", (cid,))
            conn.execute("COMMIT")
            if not cur.rowcount:
                raise ConversationNotFound(f"no conversation {cid!r}")

    def add_messages(self, cid: str, messages: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Append turns ({role, content, display?, citations?}); the first user turn names an untitled
        conversation."""
        rows = []
        now = time.time()
        for m in messages:
            role = str(m.get("role") or "")
            if role not in ROLES:
                raise ValueError(f"a message's role is 'user' or 'assistant', not {role!r}")
            rows.append((cid, role, str(m.get("content") or "")[:MAX_MESSAGE], str(m.get("display") or "") or None,
                         json.dumps(list(m.get("citations") or []), ensure_ascii=False), now))
        with self._lock, closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                r = conn.execute("SELECT title FROM conversations WHERE id=?", (cid,)).fetchone()
                if r is None:
                    raise ConversationNotFound(f"no conversation {cid!r}")
                conn.executemany("INSERT INTO messages(conversation_id, role, content, display, citations, created) "
                                 "VALUES (?,?,?,?,?,?)", rows)
                first_q = next((row[2] for row in rows if row[1] == "user"), "")
                title = r["title"] or default_title(first_q)
                conn.execute("UPDATE conversations SET updated=?, title=? WHERE id=?", (now, title, cid))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return self.get(cid)


_stores: dict[str, ConversationStore] = {}
_stores_lock = threading.Lock()


def conversation_store(home: Path | None = None) -> ConversationStore:
    """The store of $ZHIDA_HOME (one per home and process)."""
    from app.config import zhida_home

    path = Path(home or zhida_home()) / "server" / "conversations.sqlite"
    key = str(path.resolve())
    with _stores_lock:
        if key not in _stores or not path.exists():
            _stores[key] = ConversationStore(path)
        return _stores[key]
