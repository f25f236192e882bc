"""What a running ingest job shows: files done, the current file, and chunks embedded in it.

Passed as the knowledge layer's `progress` callable; its `embedded` method is the optional
chunk-level hook of knowledge.syncing, so one 1,000-chunk PDF no longer reads "0/1" for minutes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


class JobProgress:
    def __init__(self, update: Callable[..., None], meta: Callable[[], dict[str, Any]]):
        self._update = update  # jobs.update bound to the job
        self._meta = meta  # the job's current meta

    def __call__(self, done: int | None = None, total: int | None = None, current: str = "") -> None:
        changes: dict[str, Any] = {}
        if done is not None:
            changes["processed"] = done
        if total:
            changes["total"] = total
        changes["current"] = Path(str(current)).name if current else ""
        meta = dict(self._meta())
        emb = meta.get("embedding")
        if emb and current and Path(str(current)).name != emb.get("file"):  # another file: its own count
            meta.pop("embedding")
            changes["meta"] = meta
        self._update(**changes)

    def embedded(self, done: int, total: int, path: str) -> None:
        self._update(meta={**self._meta(), "embedding": {"done": int(done), "total": int(total),
                                                          "file": Path(str(path)).name}})
