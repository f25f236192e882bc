"""Watching folders for changes (watchdog), so a knowledge base can follow them without a re-run.

`FolderWatcher` turns file-system events into batches: `wait_changes()` returns the paths that changed
once the folders have been quiet for `debounce_s` (an editor's save is several events, a copy of 500
files thousands) and every changed file has stopped changing (same size and mtime for `settle_s`), so
a file still being written is picked up when it is complete, not half. A stream of events that never
pauses is flushed every `max_delay_s` anyway, so a long copy shows progress; a file caught mid-write
then is simply read again when it changes next.

What to do with a batch is the caller's business: Zhida re-runs the incremental sync of the watched
folders (knowledge.syncing), which settles every file by size/mtime/hash and so also covers renames
(removed + added, vectors reused by chunk id), deletions and anything the events missed since the last
sync. Reads of the files (the sync's own) raise only open/close-without-write events, which are
ignored, so a sync never triggers itself.

Limits: inotify (Linux) sees changes made through this kernel only, so a folder on a network file
system (NFS, SMB, sshfs) changed by another machine raises no events: use `polling=True` (watchdog's
PollingObserver, a stat of every file each `poll_interval_s`). inotify also has a per-user watch limit
(fs.inotify.max_user_watches), one watch per sub-folder.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

log = logging.getLogger(__name__)

# events that mean content changed; reads (opened / closed_no_write) and access never count
_CHANGES = {"created", "modified", "deleted", "moved", "closed", "attrib"}


class _ShutdownRaceFilter(logging.Filter):
    """Drops watchdog's ERROR for the emitter thread's last loop after the watch was closed.

    watchdog (6.x and the installed 7.1; gorakhargosh/watchdog#963) stops an inotify emitter by closing its
    inotify handle from the stopping thread; an emitter that had already passed its "keep running?" check then
    finds the handle gone, logs "queue_events() called when the thread is inactive" at ERROR and returns as if
    there were no events. Nothing is lost (we are stopping), but a user pressing Ctrl-C would read an ERROR line
    after "stopped watching", so that one message is filtered; every other watchdog record passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in str(record.msg)


_SHUTDOWN_RACE_FILTER = _ShutdownRaceFilter()


@dataclass(frozen=True)
class WatchSettings:
    debounce_s: float = 1.0  # quiet time after the last event before a batch is handed out
    settle_s: float = 1.0  # a changed file must keep its size and mtime this long
    max_delay_s: float = 30.0  # a batch waits at most this long after its first event
    polling: bool = False  # PollingObserver (network file systems) instead of the native observer
    poll_interval_s: float = 2.0


class FolderWatcher:
    """Events of some folders (recursively) collected into debounced, settled batches of paths."""

    def __init__(self, roots: Iterable[str | Path], settings: WatchSettings = WatchSettings(), *,
                 wanted: Callable[[str], bool] | None = None):
        self.roots = [str(Path(r).expanduser().resolve()) for r in roots]
        for r in self.roots:
            if not Path(r).is_dir():
                raise NotADirectoryError(f"{r} is not a folder")
        self.settings = settings
        self._wanted = wanted or (lambda path: True)
        self._cond = threading.Condition()
        self._pending: dict[str, float] = {}  # path -> monotonic time of its last event
        self._first = 0.0  # monotonic time of the first event of the pending batch
        self._last = 0.0
        self._seen: dict[str, tuple[tuple[int, int] | None, float]] = {}  # file -> (size, mtime_ns), since
        self._stopped = False
        self._observer = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FolderWatcher":
        from watchdog.events import FileSystemEventHandler

        if self.settings.polling:
            from watchdog.observers.polling import PollingObserver

            observer = PollingObserver(timeout=self.settings.poll_interval_s)
        else:
            from watchdog.observers import Observer

            observer = Observer()
            inotify_log = logging.getLogger("watchdog.observers.inotify")
            if _SHUTDOWN_RACE_FILTER not in inotify_log.filters:
                inotify_log.addFilter(_SHUTDOWN_RACE_FILTER)
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # watchdog's thread
                watcher._event(event)

        for root in self.roots:
            observer.schedule(Handler(), root, recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            try:
                self._observer.join(timeout=5)
            except RuntimeError:  # never started
                pass
            self._observer = None

    def __enter__(self) -> "FolderWatcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- events -----------------------------------------------------------------------------
    def _event(self, event) -> None:
        if event.event_type not in _CHANGES:
            return
        if event.is_directory and event.event_type not in ("created", "deleted", "moved"):
            return  # a folder "modified" is a file event inside it, seen on its own (or ignored on purpose)
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(os.fsdecode(dest))
        paths = [p for p in paths if event.is_directory or self._wanted(self._relative(p))]
        if not paths:
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first = now
            for p in paths:
                self._pending[p] = now
                self._seen.pop(p, None)
            self._last = now
            self._cond.notify_all()

    def _relative(self, path: str) -> str:
        for r in self.roots:
            if path.startswith(r.rstrip(os.sep) + os.sep):
                return path[len(r.rstrip(os.sep)) + 1:]
        return os.path.basename(path)

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def mark_all_changed(self) -> None:
        """Treat every root as changed (a sync that failed and should be retried)."""
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first = now
            for r in self.roots:
                self._pending.setdefault(r, now)
            self._last = now
            self._cond.notify_all()

    def _unsettled(self, now: float) -> list[str]:
        """Changed files whose size or mtime moved within settle_s (caller holds the lock)."""
        out = []
        for path in self._pending:
            try:
                st = os.stat(path)
            except OSError:
                continue  # deleted (or a folder gone): nothing to wait for
            if not os.path.isfile(path):
                continue
            sig = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is None or seen[0] != sig:
                self._seen[path] = (sig, now)
                out.append(path)
            elif now - seen[1] < self.settings.settle_s:
                out.append(path)
        return out

    def wait_changes(self, timeout: float | None = None) -> list[str] | None:
        """Block until a batch is ready: its paths (sorted), or None on timeout or stop."""
        s = self.settings
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if self._pending:
                    quiet = now - self._last >= s.debounce_s
                    overdue = now - self._first >= s.max_delay_s
                    if (quiet and not self._unsettled(now)) or overdue:
                        batch = sorted(self._pending)
                        self._pending.clear()
                        self._seen.clear()
                        return batch
                    wait = min(s.debounce_s, s.settle_s) / 4
                else:
                    wait = None
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
        return None


def supported_file(patterns: Sequence[str], suffixes: Iterable[str]) -> Callable[[str], bool]:
    """`wanted` for a FolderWatcher (given a path relative to its root): files the sync would read (a
    supported suffix, no excluded name, no hidden folder on the way), so editor swap files and downloads
    in progress cause no sync."""
    import fnmatch

    suffixes = {x.lower() for x in suffixes}

    def wanted(path: str) -> bool:
        p = Path(path)
        if p.suffix.lower() not in suffixes:
            return False
        if any(part.startswith(".") for part in p.parts[:-1]):
            return False
        return not any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(path, pat) for pat in patterns)

    return wanted
