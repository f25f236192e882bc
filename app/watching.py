"""`zhida ingest PATH... --kb NAME --watch`: keep a knowledge base in step with its folders.

The watcher (knowledge.watching) starts before the first sync, so nothing changed during it is missed;
each debounced batch of changes then re-runs the same incremental sync as `zhida ingest`, over the
same paths with the same options, and prints one line per document that changed (added, updated,
removed, failed, skipped). The sync runs in the main thread, so Ctrl-C interrupts it like any ingest:
the document being written is rolled back by its transaction, the lock and the parser process are
released, and the next start finishes the work.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

RETRY_S = 5.0  # after a failed sync (KB busy, disk full), wait this long before trying again


def watch_settings(settings: dict[str, Any]):
    """ingest.watch in the config -> WatchSettings."""
    from knowledge.watching import WatchSettings

    w = (settings.get("ingest") or {}).get("watch") or {}
    return WatchSettings(debounce_s=float(w.get("debounce_s", 1.0)), settle_s=float(w.get("settle_s", 1.0)),
                         max_delay_s=float(w.get("max_delay_s", 30.0)), polling=bool(w.get("polling", False)),
                         poll_interval_s=float(w.get("poll_interval_s", 2.0)))


def watcher_for(folders: Sequence[Path], settings: dict[str, Any], exclude: Sequence[str] | None = None,
                polling: bool | None = None):
    """A started FolderWatcher over `folders` that ignores files the sync would not read."""
    from dataclasses import replace

    from ingest import supported_suffixes
    from knowledge.watching import FolderWatcher, supported_file

    ws = watch_settings(settings)
    if polling is not None:
        ws = replace(ws, polling=polling)
    patterns = list(exclude if exclude is not None else (settings.get("ingest") or {}).get("exclude") or [])
    return FolderWatcher(folders, ws, wanted=supported_file(patterns, supported_suffixes())).start()


def change_json(f) -> str:
    """`--json`: one object a line per change, the fields of the first report's `files`."""
    import json

    return json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "path": f.path, "status": f.status,
                       "chunks": f.chunks, "reason": f.reason, "error_kind": f.error_kind}, ensure_ascii=False)


def change_line(f) -> str:
    """One printed line for a document that changed (a FileResult that is not `unchanged`)."""
    stamp = time.strftime("%H:%M:%S")
    if f.status in ("failed", "skipped"):
        return f"{stamp} {f.status:<8} {f.path}: {f.reason}"
    if f.status == "removed":
        return f"{stamp} {f.status:<8} {f.path}"
    return f"{stamp} {f.status:<8} {f.path} ({f.chunks} chunks)"


def run(watcher, sync: Callable[[], Any], echo: Callable[[str], None], err: Callable[[str], None],
        line: Callable[[Any], str] = change_line) -> None:
    """Sync after each batch of changes until Ctrl-C; returns when interrupted."""
    import signal

    def _terminate(*_):  # `kill PID` stops it as cleanly as Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    err(f"watching {len(watcher.roots)} folder(s) for changes; Ctrl-C stops")
    try:
        while True:
            if watcher.wait_changes(timeout=1.0) is None:
                continue
            try:
                report = sync()
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # busy (another ingest), full disk ...: say so and try again later
                err(f"sync failed, retrying in {RETRY_S:g} s: {exc}")
                watcher.mark_all_changed()
                time.sleep(RETRY_S)
                continue
            for f in report.files:
                if f.status != "unchanged":
                    echo(line(f))
            sys.stdout.flush()
    except KeyboardInterrupt:
        err("stopped watching")
    finally:
        watcher.stop()
        signal.signal(signal.SIGTERM, previous)
