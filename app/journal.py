"""The job journal: accepted ingest work written down before the client hears 202, so a crash loses none.

Jobs run in memory (app.jobs); before this, a `kill -9` of `zhida serve` during an upload ingest left
37 of 41 accepted files in uploads/ unindexed and the job 404 after the restart, with nothing to say
so. Each accepted job is now one row in `$ZHIDA_HOME/server/jobs.sqlite` (kind, KB, what to do), and
its final snapshot is written when it ends. On start the server resumes the rows that never ended,
under the same job id (app.api.recovery), and `GET /api/jobs/<id>` answers from the journal for jobs
that finished before the restart. SQLite in its default rollback-journal mode with synchronous=FULL:
a row that was committed survives the process dying on the next instruction.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

ACCEPTED, DONE, FAILED = "accepted", "done", "failed"
KEEP_FINISHED = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kb TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    snapshot TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""


class JobJournal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:  # opened on first use: a server that never ingests writes nothing
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def accepted(self, job_id: str, kb: str, kind: str, params: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            self._db().execute("INSERT OR REPLACE INTO jobs(id, kb, kind, status, params, created, updated) "
                               "VALUES (?,?,?,?,?,?,?)",
                               (job_id, kb, kind, ACCEPTED, json.dumps(params, ensure_ascii=False), now, now))

    def finished(self, job_id: str, snapshot: dict[str, Any]) -> None:
        status = DONE if snapshot.get("status") == DONE else FAILED
        with self._lock:
            db = self._db()
            db.execute("UPDATE jobs SET status=?, snapshot=?, updated=? WHERE id=?",
                       (status, json.dumps(snapshot, ensure_ascii=False, default=str), time.time(), job_id))
            db.execute("DELETE FROM jobs WHERE status != ? AND id NOT IN (SELECT id FROM jobs WHERE status != ? "
                       "ORDER BY updated DESC LIMIT ?)", (ACCEPTED, ACCEPTED, KEEP_FINISHED))

    def record_failed(self, job_id: str, kb: str, kind: str, params: dict[str, Any], snapshot: dict[str, Any]) -> None:
        self.accepted(job_id, kb, kind, params)
        self.finished(job_id, snapshot)

    def unfinished(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._conn is None and not self.path.exists():
                return []
            rows = self._db().execute("SELECT id, kb, kind, params, created FROM jobs WHERE status=? ORDER BY created",
                                      (ACCEPTED,)).fetchall()
        return [{"id": r[0], "kb": r[1], "kind": r[2], "params": json.loads(r[3]), "created": r[4]} for r in rows]

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            if self._conn is None and not self.path.exists():
                return None
            row = self._db().execute("SELECT snapshot FROM jobs WHERE id=?", (job_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def finished_jobs(self, kb: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            if self._conn is None and not self.path.exists():
                return []
            q = "SELECT snapshot FROM jobs WHERE status != ?" + (" AND kb=?" if kb else "") + " ORDER BY updated DESC LIMIT ?"
            rows = self._db().execute(q, (ACCEPTED, kb, limit) if kb else (ACCEPTED, limit)).fetchall()
        return [json.loads(r[0]) for r in rows if r[0]]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
