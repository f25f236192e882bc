"""A parser stand-in for the isolation tests: behaves badly on files whose name says so,
and parses normally otherwise. Runs inside the worker (ParserPool(work="tests.reliability.hostile:work"))."""
from __future__ import annotations

import os
import time
from pathlib import Path


def work(path, options, chunk_settings, sha, limits):
    from ingest.isolated import _work

    name = Path(path).name
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("segv"):
        import ctypes

        ctypes.string_at(0)
    if name.startswith("exit"):
        os._exit(3)
    if name.startswith("hog"):
        blocks = []
        while True:  # until RLIMIT_AS says no
            blocks.append(bytearray(64 * 1024 * 1024))
    if name.startswith("pid"):
        return ("err", "test", str(os.getpid()))
    return _work(path, options, chunk_settings, sha, limits)
