"""What `zhida serve` does on start with work the last run accepted but never finished (app.journal).

Every journaled job that never ended is queued again under its old id, so a client polling
`GET /api/jobs/<id>` across the restart sees it run to the end; files it had already moved into
uploads/ are ingested from there (ingest is by content hash, so what was indexed before the crash is
not embedded twice). A job whose KB is gone is recorded as failed with that reason. Then each KB's
uploads/.incoming/ is swept of staging folders no resumed job needs: partial bodies of uploads that
were cut off by the crash, never acknowledged to anyone.

Only one server per ZHIDA_HOME does this: it holds `server/serve.lock` while it runs, and a second
server started on the same home leaves the first one's work and staging folders alone.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from app.jobs import FAILED, Job

log = logging.getLogger(__name__)


def _failed(row: dict[str, Any], reason: str) -> dict[str, Any]:
    job = Job(id=row["id"], kb=row["kb"], kind=row["kind"], status=FAILED, created=row.get("created") or time.time(),
              finished=time.time(), error=reason, error_type="interrupted",
              meta={"resumed": True, **({"path": row["params"].get("path")} if row["kind"] == "folder" else {})})
    return job.to_dict()


def recover(ctx) -> dict[str, int]:
    """Resume unfinished journaled jobs and sweep staging leftovers; returns counts for the log."""
    from filelock import FileLock, Timeout

    lock_path = ctx.journal.path.parent / "serve.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        log.warning("another zhida server uses %s: not resuming its jobs", lock_path.parent.parent)
        return {"resumed": 0, "failed": 0, "swept": 0}
    ctx.serve_lock = lock
    counts = {"resumed": 0, "failed": 0, "swept": 0}
    needed: set[Path] = set()
    for row in ctx.journal.unfinished():
        try:
            if not ctx.kb_exists(row["kb"]):
                raise LookupError(f"knowledge base {row['kb']!r} no longer exists")
            ctx._submit(row["id"], row["kb"], row["kind"], row["params"], resumed=True)
            needed |= {Path(f["staged"]).parent for f in row["params"].get("files") or []}
            counts["resumed"] += 1
        except Exception as exc:
            ctx.journal.finished(row["id"], _failed(row, f"the server stopped before this job finished, and it "
                                                         f"could not be resumed: {exc}"))
            counts["failed"] += 1
    for name in ctx.kb_names():
        try:
            staging = ctx.staging_dir(name)
        except Exception:
            continue
        if not staging.is_dir():
            continue
        for folder in staging.iterdir():
            if folder not in needed:
                shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
                counts["swept"] += 1
    if any(counts.values()):
        log.warning("after the last stop: %(resumed)d ingest job(s) resumed, %(failed)d could not be, "
                    "%(swept)d partial upload(s) removed", counts)
    return counts


def release(ctx) -> None:
    lock = getattr(ctx, "serve_lock", None)
    if lock is not None:
        lock.release()
        ctx.serve_lock = None
    ctx.journal.close()
