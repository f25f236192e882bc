"""The one place the benchmarks touch Zhida's own APIs (retrieval, knowledge, CLI).

Everything else in benchmarks/ goes through these functions, so an API rename
is a one-file change here. A piece that is not importable yet raises NotReady
and the benchmark reports "not run (reason)" instead of crashing.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.common import ZHIDA_MODEL

BENCH_MODEL = ZHIDA_MODEL


class NotReady(RuntimeError):
    """A Zhida API the benchmark needs is missing."""


def _need(module: str, *names: str):
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise NotReady(f"{module} not importable: {exc}") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise NotReady(f"{module} lacks {', '.join(missing)}")
    return mod


_EMBEDDERS: dict[str, Any] = {}


def embedder(name: str = BENCH_MODEL):
    if name not in _EMBEDDERS:
        retrieval = _need("retrieval", "load_embedder")
        _EMBEDDERS[name] = retrieval.load_embedder(name)
    return _EMBEDDERS[name]


def synthetic_retriever(corpus, log: Callable[[str], None] = print):
    raise NotReady("retrieval layer not landed yet")


def ingest_files(home: Path, files: Sequence[Path], model: str = BENCH_MODEL, log: Callable[[str], None] = print
                 ) -> dict[str, Any]:
    raise NotReady("knowledge layer not landed yet")


def eval_command(folder: Path, limit: int | None, modes: Sequence[str]) -> list[str]:
    cmd = [str(Path(sys.executable).with_name("zhida")), "eval", str(folder), "--embedding", BENCH_MODEL, "--json"]
    for m in modes:
        cmd += ["--mode", m]
    if limit:
        cmd += ["--limit", str(limit)]
    return cmd
