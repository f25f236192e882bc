"""Watched folders of `zhida serve`: a knowledge base follows folders on the server's disk.

Each KB's list lives with the KB, in `kbs/<name>/watched_folders.json` (written atomically), so it
survives restarts and goes when the KB is deleted. While the server runs, one FolderWatcher per KB
(knowledge.watching) turns changes into batches and each touched folder gets a folder-sync job: the
same journaled job as `POST /api/kbs/{name}/ingest` (app.api.context), so it shows in /api/jobs, is
resumed after a crash (app.api.recovery) and its last run is the folder's "last sync". On start every
watched folder is synced once, which catches what changed while the server was down.

A folder whose sync cannot start (the KB is busy with a CLI ingest, the folder is unmounted) keeps
its reason in `error` and is retried after RETRY_S. Only the server that holds the home's serve lock
(the one that resumes jobs) watches, so two servers on one home do not sync twice.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from app.api.errors import ApiError
from app.config import zhida_home
from app.jobs import QUEUED

log = logging.getLogger(__name__)

FILE = "watched_folders.json"
MAX_FOLDERS = 32
RETRY_S = 10.0

_instances: "weakref.WeakKeyDictionary[Any, FolderSync]" = weakref.WeakKeyDictionary()
_instances_lock = threading.Lock()


def for_context(ctx) -> "FolderSync":
    """The FolderSync of a server context (one per AppContext; the API and the UI share it)."""
    with _instances_lock:
        sync = _instances.get(ctx)
        if sync is None:
            sync = _instances[ctx] = FolderSync(ctx)
        return sync


def _overlaps(a: str, b: str) -> bool:
    """Whether one folder is the other or inside it."""
    return a == b or b.startswith(a.rstrip(os.sep) + os.sep) or a.startswith(b.rstrip(os.sep) + os.sep)


class FolderSync:
    def __init__(self, ctx):
        self.ctx = ctx
        self._lock = threading.RLock()
        self._watchers: dict[str, Any] = {}  # kb -> FolderWatcher
        self._threads: dict[str, threading.Thread] = {}
        self._queued: dict[tuple[str, str], str] = {}  # (kb, folder) -> id of its queued sync job
        self._errors: dict[tuple[str, str], str] = {}
        self._running = False

    # ---- the stored list -------------------------------------------------------------------
    def _file(self, kb: str) -> Path:
        return self.ctx.kb_dir(kb) / FILE

    def folders(self, kb: str) -> list[str]:
        path = self._file(kb)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", path, exc)
            return []
        return [str(f) for f in data.get("folders") or [] if isinstance(f, str)]

    def _write(self, kb: str, folders: list[str]) -> None:
        path = self._file(kb)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"folders": folders}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def set_folders(self, kb: str, wanted: list[str]) -> list[dict[str, Any]]:
        """Replace the KB's watched folders (each an existing folder on the server); new ones sync now."""
        self.ctx.require_kb(kb)
        if len(wanted) > MAX_FOLDERS:
            raise ApiError(400, f"too many watched folders (limit {MAX_FOLDERS})", "bad_request")
        folders: list[str] = []
        for raw in wanted:
            if not isinstance(raw, str) or not raw.strip():
                raise ApiError(400, "each folder must be a non-empty path", "bad_request")
            p = Path(raw.strip()).expanduser()
            if not p.is_absolute():
                raise ApiError(400, f"{raw} is not an absolute path on the server", "bad_request")
            if not p.is_dir():
                raise ApiError(400, f"{raw} is not a folder on the server", "bad_request")
            resolved = str(p.resolve())
            home = str(zhida_home().resolve())
            if _overlaps(resolved, home):
                raise ApiError(400, f"{raw} holds or lies inside Zhida's own data folder ({home}): its "
                                    "uploads would be indexed twice; watch a folder of documents instead",
                               "bad_request")
            if resolved not in folders:
                folders.append(resolved)
        with self._lock:
            old = self.folders(kb)
            self._write(kb, folders)
            for f in set(old) - set(folders):
                self._errors.pop((kb, f), None)
                self._queued.pop((kb, f), None)
            if self._running:
                self._restart(kb, folders)
                for f in folders:
                    if f not in old:
                        self._sync(kb, f)
        return self.status(kb)

    # ---- what the UI and GET show ------------------------------------------------------------
    def status(self, kb: str) -> list[dict[str, Any]]:
        self.ctx.require_kb(kb)
        jobs = [j for j in self.ctx.recent_jobs(kb) if j.get("kind") == "folder"]
        out = []
        for f in self.folders(kb):
            last = next((j for j in jobs if (j.get("meta") or {}).get("path") == f), None)
            row: dict[str, Any] = {"path": f, "exists": Path(f).is_dir(), "watching": self.watching(kb),
                                   "error": self._errors.get((kb, f)), "last_sync": None, "failures": []}
            if last is not None:
                row["last_sync"] = {"job_id": last["id"], "status": last["status"], "finished": last.get("finished"),
                                    "summary": last.get("summary") or {}, "error": last.get("error")}
                row["failures"] = [{"path": r.get("path"), "reason": r.get("reason")}
                                   for r in last.get("files") or [] if r.get("status") == "failed"]
            out.append(row)
        return out

    def _listed(self, kb: str) -> list[str]:
        try:
            return self.folders(kb)
        except ApiError:
            return []

    def watching(self, kb: str) -> bool:
        with self._lock:
            return kb in self._watchers

    # ---- running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Watch every KB's folders and sync each once (the server just started)."""
        with self._lock:
            self._running = True
            for kb in self.ctx.kb_names():
                try:
                    folders = self.folders(kb)
                except Exception:  # a KB that cannot be opened has no folders to watch
                    continue
                if folders:
                    self._restart(kb, folders)
                    for f in folders:
                        self._sync(kb, f)

    def stop(self) -> None:
        with self._lock:
            self._running = False
            watchers = list(self._watchers.values())
            self._watchers.clear()
        for w in watchers:
            w.stop()

    def _restart(self, kb: str, folders: list[str]) -> None:
        # caller holds the lock
        old = self._watchers.pop(kb, None)
        if old is not None:
            old.stop()
        present = [f for f in folders if Path(f).is_dir()]
        for f in folders:
            if f not in present:
                self._errors[(kb, f)] = f"{f} is not a folder on the server now (unmounted or deleted?)"
        if not present:
            return
        from app.watching import watcher_for

        try:
            watcher = watcher_for([Path(f) for f in present], self.ctx.settings)
        except OSError as exc:  # inotify watch limit, permissions
            for f in present:
                self._errors[(kb, f)] = f"cannot watch it: {exc}"
            return
        self._watchers[kb] = watcher
        t = threading.Thread(target=self._loop, args=(kb, watcher), name=f"zhida-watch-{kb}", daemon=True)
        self._threads[kb] = t
        t.start()

    def _loop(self, kb: str, watcher) -> None:
        retry_at = 0.0
        while True:
            with self._lock:
                if self._watchers.get(kb) is not watcher:
                    return  # stopped or replaced
            batch = watcher.wait_changes(timeout=1.0)
            if batch is None:
                with self._lock:
                    failed = [f for (k, f), _ in self._errors.items() if k == kb]
                if failed and time.monotonic() >= retry_at:
                    retry_at = time.monotonic() + RETRY_S
                    if any(Path(f).is_dir() and f not in watcher.roots for f in failed):
                        with self._lock:  # a folder is back (remounted): watch it too; a new loop takes over
                            if self._watchers.get(kb) is watcher:
                                self._restart(kb, self.folders(kb))
                                for f in failed:
                                    self._sync(kb, f)
                        return
                    for f in failed:
                        self._sync(kb, f)
                continue
            for f in watcher.roots:
                if any(p == f or p.startswith(f.rstrip(os.sep) + os.sep) for p in batch):
                    self._sync(kb, f)

    def _sync(self, kb: str, folder: str) -> None:
        """Queue a folder-sync job, unless one for this folder is still waiting to start."""
        key = (kb, folder)
        with self._lock:
            try:
                listed = folder in self.folders(kb)
            except ApiError:  # the KB is gone
                listed = False
            if not listed:  # unlisted meanwhile, or the KB deleted (and perhaps created anew, without it)
                w = self._watchers.get(kb)
                if w is not None and not any(f in w.roots for f in self._listed(kb)):
                    self._watchers.pop(kb, None)
                    threading.Thread(target=w.stop, daemon=True).start()
                return
            queued = self._queued.get(key)
            if queued:
                job = self.ctx.jobs.get(queued)
                if job is not None and job.status == QUEUED:
                    return  # it will see this change when it runs
            try:
                job = self.ctx.start_folder_job(kb, folder)
            except ApiError as exc:
                if exc.status == 404:  # the KB was deleted: stop watching it
                    w = self._watchers.pop(kb, None)
                    if w is not None:
                        threading.Thread(target=w.stop, daemon=True).start()
                    return
                self._errors[key] = exc.message
                return
            except Exception as exc:
                log.warning("cannot sync %s into %s", folder, kb, exc_info=True)
                self._errors[key] = f"{type(exc).__name__}: {exc}"
                return
            self._errors.pop(key, None)
            self._queued[key] = job.id
