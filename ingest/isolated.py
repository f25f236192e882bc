"""Parse files in a worker process with a time limit and a memory limit.

A file that hangs PyMuPDF, blows up python-docx's XML parser or segfaults a C
library fails that one file with a reason; the calling process (a CLI ingest,
the server) and the other files of the batch carry on.

    with ParserPool(ParserLimits(timeout_s=300, memory_mb=2048)) as pool:
        doc, chunks = pool.parse(path, LoadOptions(), ChunkSettings(), sha256)

`parse` does what `load_document` + `chunk_document` do in-process and raises
the same `IngestError`s, plus `ParserTimeout` ("parser timed out after N s")
and `ParserCrashed` ("parser crashed (signal SIGSEGV)" / "ran out of memory").
One worker is reused across files (its imports are paid once) and replaced
after a timeout or a crash. The worker's address space is capped with
RLIMIT_AS where the platform has `resource`; elsewhere only the time limit
applies. A worker is a fresh interpreter (subprocess on POSIX), so a server's
threads and loaded models are never forked; values cross a pipe pickled, in
memory only (nothing pickled touches the disk).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import FileTooLarge, IngestError
from ingest.types import Chunk, ChunkSettings, LoadOptions, ParsedDocument


class ParserTimeout(IngestError):
    kind = "timeout"


class ParserCrashed(IngestError):
    kind = "crashed"


@dataclass(frozen=True)
class ParserLimits:
    timeout_s: float = 300.0  # wall clock per file (parse + chunk)
    memory_mb: int = 2048  # address-space cap of the worker; 0 = none
    max_chunks: int = 50_000  # a document that would make more passages (~25M characters) fails instead of
    # flooding the caller's memory and the index


# --- the worker side ---------------------------------------------------------------------

def _limit_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # Windows
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing parser leaves no core file behind
    except (ValueError, OSError):
        pass
    if memory_mb > 0:
        limit = int(memory_mb) * 1024 * 1024
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        except (ValueError, OSError, AttributeError):  # macOS and others may refuse RLIMIT_AS
            pass


def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when its parent (the fork server) goes, so a killed ingest leaves no
    parser running on a hostile file."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _work(path: str, options: LoadOptions, chunk_settings: ChunkSettings, sha: str, limits: ParserLimits):
    from ingest import chunk_document, load_document

    try:
        doc = load_document(path, options)
        chunks = chunk_document(doc, chunk_settings, sha)
    except FileTooLarge as exc:
        if "out of memory" in exc.reason and limits.memory_mb:
            return ("err", "too_large", f"ran out of memory while parsing (limit {limits.memory_mb} MB)")
        return ("err", exc.kind, exc.reason)
    except IngestError as exc:
        return ("err", exc.kind, exc.reason)
    except MemoryError:
        return ("err", "too_large", f"ran out of memory while parsing (limit {limits.memory_mb} MB)")
    except RecursionError:
        return ("err", "corrupt", "too deeply nested to parse")
    except Exception as exc:  # noqa: BLE001 - any parser bug fails this file only
        return ("err", "corrupt", f"could not be parsed: {type(exc).__name__}: {str(exc)[:200]}")
    if len(chunks) > limits.max_chunks:
        return ("err", "too_large", f"would make {len(chunks)} passages, over the limit of {limits.max_chunks}")
    return ("ok", doc, chunks)


def _resolve(work: str):
    import importlib

    module, _, attr = work.partition(":")
    return getattr(importlib.import_module(module), attr)


def _worker_main(conn, limits: ParserLimits, work: str) -> None:
    _die_with_parent()
    run = _resolve(work)
    _limit_memory(limits.memory_mb)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    except (ValueError, OSError):
        pass
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        try:
            result = run(*msg, limits)
        except MemoryError:
            result = ("err", "too_large", f"ran out of memory while parsing (limit {limits.memory_mb} MB)")
        try:
            conn.send(result)
        except MemoryError:
            conn.send(("err", "too_large", f"ran out of memory while parsing (limit {limits.memory_mb} MB)"))
        except (EOFError, OSError, BrokenPipeError):
            return
        del result, msg


# --- the caller side ----------------------------------------------------------------------

_BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
         "from ingest.isolated import _child_main; _child_main(int(sys.argv[2]), int(sys.argv[3]))")


def _child_main(rd: int, wr: int) -> None:
    """Entry point of a worker started with subprocess (POSIX): pickled messages over two pipe fds."""
    from multiprocessing.connection import Connection

    conn = _Duplex(Connection(rd, writable=False), Connection(wr, readable=False))
    limits, work = conn.recv()
    _worker_main(conn, limits, work)


class _Duplex:
    """Two one-way pipes as one connection (send/recv/poll/close)."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    def send(self, obj) -> None:
        self.writer.send(obj)

    def recv(self):
        return self.reader.recv()

    def poll(self, timeout=None) -> bool:
        return self.reader.poll(timeout)

    def close(self) -> None:
        for c in (self.reader, self.writer):
            try:
                c.close()
            except OSError:
                pass


class _Worker:
    """A parser process. POSIX: a fresh interpreter started with subprocess, so no threads, loaded models or
    the caller's __main__ are inherited, and its stdout cannot mix into the caller's (--json) output.
    Elsewhere: multiprocessing's spawn."""

    def __init__(self, limits: ParserLimits, work: str):
        if os.name == "posix":
            import json
            import subprocess
            from multiprocessing.connection import Connection

            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            try:
                self._popen = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(to_child_r), str(from_child_w)],
                    pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            finally:
                os.close(to_child_r)
                os.close(from_child_w)
            self._mp = None
            self.conn = _Duplex(Connection(from_child_r, writable=False), Connection(to_child_w, readable=False))
            self.conn.send((limits, work))
        else:  # pragma: no cover - Windows
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe(duplex=True)
            self._popen = None
            self._mp = ctx.Process(target=_worker_main, args=(child, limits, work), name="zhida-parser", daemon=True)
            self._mp.start()
            child.close()
            self.conn = parent

    def alive(self) -> bool:
        return self._popen.poll() is None if self._popen is not None else self._mp.is_alive()

    def kill(self) -> None:
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.kill()
        elif self._mp.is_alive():
            self._mp.kill()

    def wait(self, timeout: float) -> int | None:
        """Exit code (negative: killed by that signal), or None if still running after `timeout`."""
        if self._popen is not None:
            import subprocess

            try:
                return self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        self._mp.join(timeout)
        return self._mp.exitcode


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return str(code)


class _Spawner:
    """Starts worker processes from one long-lived daemon thread.

    Linux sends the parent-death signal (PR_SET_PDEATHSIG, see _die_with_parent) when the *thread* that
    started a child ends, not the process: a worker started from an ingest's parse thread was killed as
    soon as that ingest finished, so it could not be kept warm for the next one. Started from here, a
    worker lives until its pool closes it or this process dies (then it gets SIGKILL, as before)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, make):
        """make() run on the spawner thread; its result (or exception) returned here."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="zhida-parser-spawner", daemon=True)
                self._thread.start()
        done: Future = Future()
        self._jobs.put((make, done))
        return done.result()

    def _run(self) -> None:
        while True:
            make, done = self._jobs.get()
            try:
                done.set_result(make())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)
            del make, done  # not kept until the next job: a dropped pool must be collectable


_SPAWNER = _Spawner()


class ParserPool:
    """One reusable parser worker (replaced after a timeout or crash), kept until close(), whichever thread
    calls. Not thread-safe: one caller at a time."""

    def __init__(self, limits: ParserLimits = ParserLimits(), *, work: str = "ingest.isolated:_work"):
        self.limits = limits
        self.work = work  # "module:function" run in the worker (tests swap in hostile behaviour)
        self._worker: _Worker | None = None
        self.restarts = 0

    def __enter__(self) -> "ParserPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _stop(self, kill: bool) -> int | None:
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        try:
            if kill:
                worker.kill()
            else:
                try:
                    worker.conn.send(None)
                except (OSError, EOFError, ValueError):
                    pass
            code = worker.wait(5)
            if code is None:
                worker.kill()
                code = worker.wait(5)
        finally:
            worker.conn.close()
        return code

    def close(self) -> None:
        self._stop(kill=False)

    def parse(self, path: str | Path, options: LoadOptions, chunk_settings: ChunkSettings,
              sha: str) -> tuple[ParsedDocument, list[Chunk]]:
        name = str(path)
        msg = (name, options, chunk_settings, sha)
        for attempt in (1, 2):
            if self._worker is not None and not self._worker.alive():
                self._stop(kill=True)
                self.restarts += 1
            if self._worker is None:
                self._worker = _SPAWNER.start(lambda: _Worker(self.limits, self.work))
            try:
                self._worker.conn.send(msg)
                break
            except (OSError, EOFError, ValueError):  # the worker died between files: start a fresh one once
                self._stop(kill=True)
                if attempt == 2:
                    raise ParserCrashed(name, "the parser process could not be started") from None
        timeout = self.limits.timeout_s
        try:
            ready = self._worker.conn.poll(timeout if timeout and timeout > 0 else None)
            result = self._worker.conn.recv() if ready else None
        except (EOFError, OSError):
            code = self._worker.wait(5)
            self._stop(kill=True)
            self.restarts += 1
            if code is not None and code < 0:
                sig = -code
                why = f"parser crashed (signal {_signal_name(sig)})"
                if sig == signal.SIGKILL and self.limits.memory_mb:
                    why += f"; it may have run out of memory (limit {self.limits.memory_mb} MB)"
                raise ParserCrashed(name, why) from None
            raise ParserCrashed(name, f"parser crashed (exit code {code})") from None
        if not ready:
            self._stop(kill=True)
            self.restarts += 1
            raise ParserTimeout(name, f"parser timed out after {timeout:g} s")
        if result[0] == "ok":
            return result[1], result[2]
        err = IngestError(name, result[2])
        err.kind = result[1]
        raise err


def parse_in_process(path: str | Path, options: LoadOptions, chunk_settings: ChunkSettings,
                     sha: str) -> tuple[ParsedDocument, list[Chunk]]:
    """The same contract without a worker (isolation turned off, for debugging)."""
    from ingest import chunk_document, load_document

    doc = load_document(path, options)
    return doc, chunk_document(doc, chunk_settings, sha)
