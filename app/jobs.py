"""Background ingest jobs: a small thread pool so parsing and embedding never block a request.

One writer per knowledge base: jobs for the same KB run one after another (a
second job waits as "queued" until the first finishes), jobs for different KBs
run side by side. Status, per-file results and progress are kept in memory and
read by the API (`GET /api/jobs/{id}`) and the UI (polled by a timer).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class Job:
    """One ingest run; `files` holds one dict per file like the CLI's table rows."""

    id: str
    kb: str
    kind: str  # "upload" | "folder"
    status: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    total: int = 0  # files known to be in the job (0 = not known yet)
    processed: int = 0
    current: str = ""  # file being parsed/embedded right now
    files: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    error_type: str = ""
    summary: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def finished_ok(self) -> bool:
        return self.status == DONE

    def progress(self) -> float:
        if self.status in (DONE, FAILED):
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.processed / self.total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kb": self.kb,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress(), 3),
            "processed": self.processed,
            "total": self.total,
            "current": self.current,
            "files": list(self.files),
            "summary": dict(self.summary),
            "error": self.error or None,
            "error_type": self.error_type or None,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            **({"meta": dict(self.meta)} if self.meta else {}),
        }


# A job's work: gets the job (to report progress through `JobRunner.update`) and
# returns nothing; it fills `job.files`/`job.summary` itself or raises.
Work = Callable[[Job], None]


class JobRunner:
    """Thread pool with a per-KB queue, so one KB never has two writers from this process."""

    def __init__(self, max_workers: int = 2, keep_finished: int = 200,
                 on_finished: Callable[[Job], None] | None = None):
        self.on_finished = on_finished  # called with each job once it is done or failed (the journal)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="zhida-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._work: dict[str, Work] = {}
        self._pending: dict[str, deque[str]] = {}
        self._busy: set[str] = set()
        self._lock = threading.RLock()
        self._keep = keep_finished
        self._closed = False

    # -- submitting and reading -------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    def submit(self, kb: str, kind: str, work: Work, *, total: int = 0, meta: dict[str, Any] | None = None,
               files: list[dict[str, Any]] | None = None, job_id: str | None = None) -> Job:
        job = Job(id=job_id or self.new_id(), kb=kb, kind=kind, total=total, meta=dict(meta or {}),
                  files=list(files or []))
        with self._lock:
            if self._closed:
                raise RuntimeError("job runner is shut down")
            self._jobs[job.id] = job
            self._work[job.id] = work
            self._pending.setdefault(kb, deque()).append(job.id)
            self._prune()
            self._start_next(kb)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.to_dict() if job else None

    def jobs(self, kb: str | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if kb is None or j.kb == kb]

    def busy(self, kb: str) -> bool:
        """True while this process has a queued or running job for `kb`. A job that reads done is not
        busy, though its worker may still be journaling it (a client that saw "done" and deleted a
        document got 409 in that window)."""
        with self._lock:
            if self._pending.get(kb):
                return True
            return kb in self._busy and any(j.kb == kb and j.status not in (DONE, FAILED)
                                            for j in self._jobs.values())

    def update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until a job finishes (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.status in (DONE, FAILED):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout}s")
            time.sleep(0.02)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # -- internals -----------------------------------------------------------------
    def _start_next(self, kb: str) -> None:
        # caller holds self._lock
        if kb in self._busy or self._closed:
            return
        queue = self._pending.get(kb)
        if not queue:
            return
        job_id = queue.popleft()
        self._busy.add(kb)
        self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            work = self._work.pop(job_id)
            job.status = RUNNING
            job.started = time.time()
        try:
            work(job)
        except Exception as exc:  # the job reports it; the runner keeps going
            log.debug("job %s failed", job_id, exc_info=True)
            with self._lock:
                job.status = FAILED
                job.error = str(exc) or type(exc).__name__
                kind = getattr(exc, "type", None)
                job.error_type = kind if isinstance(kind, str) and kind else type(exc).__name__
        else:
            with self._lock:
                job.status = DONE
        finally:
            with self._lock:
                job.finished = time.time()
                job.current = ""
            if self.on_finished is not None:
                try:
                    self.on_finished(job)
                except Exception:  # recording must not wedge the queue
                    log.warning("could not record the end of job %s", job_id, exc_info=True)
            with self._lock:
                self._busy.discard(job.kb)
                self._start_next(job.kb)

    def _prune(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.status in (DONE, FAILED)]
        for job_id in finished[: max(0, len(finished) - self._keep)]:
            self._jobs.pop(job_id, None)
