"""Which files an ingest reads: the candidates under the folders and files it was given.

Only regular files inside those folders are read (DESIGN: trust boundary). A FIFO blocks its reader
forever and a device never ends (/dev/zero), so both are skipped with a reason; a symbolic link out
of the folders (`passwd.txt -> /etc/passwd`) is skipped unless the user asks to follow links.
"""
from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ingest import supported_suffixes
from knowledge.types import FileResult


class NotRegularFile(OSError):
    """The path is a FIFO, device, socket ...: reading one blocks forever or never ends (/dev/zero)."""


def file_sha256(path: Path) -> str:
    """The content hash, read only if the open file is a regular file. O_NONBLOCK makes opening a FIFO
    return at once instead of waiting for a writer; fstat on the open descriptor means a file swapped
    for a FIFO or device after the directory walk is refused too, not read forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({special_kind(mode)})")
        h = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def special_kind(mode: int) -> str:
    """What a non-regular file is, in words for the report."""
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return what
    return "not a regular file"


@dataclass(frozen=True)
class Candidate:
    path: Path
    root: str | None  # the folder it was found in (None when named explicitly)
    name: str


def _matches(name: str, rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


def _inside(target: str, roots: Sequence[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def skipped(path: Path | str, reason: str, kind: str) -> FileResult:
    return FileResult(path=str(path), status="skipped", reason=reason, error_kind=kind)


def admit(path: Path, roots: Sequence[str], follow_links: bool) -> FileResult | None:
    """Why a file found in a folder must not be read (a skip for the report), or None to read it.

    Only regular files are read: a FIFO blocks the reader forever and a device never ends. A symbolic
    link is followed only to a target inside the folders being ingested, unless follow_links: a folder
    holding `passwd.txt -> /etc/passwd` must not put /etc/passwd in the knowledge base."""
    if path.is_symlink() and not follow_links:
        target = os.path.realpath(path)
        if not _inside(target, roots):
            return skipped(path, f"symbolic link to {target}, outside the folders being ingested "
                            "(--follow-links includes it)", "link_outside")
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # a broken link or a file gone since the walk: triage reports why it cannot be read
    if not stat.S_ISREG(mode):
        return skipped(path, f"not a regular file ({special_kind(mode)})", "not_regular")
    return None


def collect(paths: Iterable[str | Path], include: Sequence[str], exclude: Sequence[str], *,
            follow_links: bool = False) -> tuple[list[Candidate], list[str], list[FileResult]]:
    """Files to consider, the folders walked (for removals), and results for paths that are not read:
    those that do not exist (failed) and links or special files refused by `admit` (skipped).

    A file named directly is what the user chose (its link is resolved), but only a regular one is read.
    Linked folders are walked only with follow_links (each real folder once, so a link loop ends)."""
    suffixes = supported_suffixes()
    out: list[Candidate] = []
    roots: list[str] = []
    refused: list[FileResult] = []
    seen: set[str] = set()
    resolved: list[tuple[str | Path, Path]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        try:
            p = p.resolve()
        except OSError:
            pass
        resolved.append((raw, p))
        if p.is_dir():
            roots.append(str(p))
    for raw, p in resolved:
        if p.is_dir():
            visited = {os.path.realpath(p)}
            for dirpath, dirnames, filenames in os.walk(p, followlinks=follow_links):
                keep = []
                for d in sorted(d for d in dirnames if not d.startswith(".")):
                    sub = Path(dirpath) / d
                    if sub.is_symlink():
                        real = os.path.realpath(sub)
                        if _inside(real, roots) or real in visited:
                            continue  # walked where it points (a link back up would loop)
                        if not follow_links:
                            refused.append(skipped(sub, f"symbolic link to the folder {real}, outside the "
                                                    "folders being ingested (--follow-links includes it)",
                                                    "link_outside"))
                            continue
                        visited.add(real)
                    keep.append(d)
                dirnames[:] = keep
                for fn in sorted(filenames):
                    full = Path(dirpath) / fn
                    rel = str(full.relative_to(p))
                    if Path(fn).suffix.lower() not in suffixes or _matches(fn, rel, exclude):
                        continue
                    if include and not _matches(fn, rel, include):
                        continue
                    if str(full) in seen:
                        continue
                    seen.add(str(full))
                    why = admit(full, roots, follow_links)
                    if why is not None:
                        refused.append(why)
                    else:
                        out.append(Candidate(full, str(p), rel))
        elif p.exists():
            if str(p) in seen:
                continue
            seen.add(str(p))
            mode = p.stat().st_mode
            if stat.S_ISREG(mode):
                out.append(Candidate(p, None, p.name))
            else:
                refused.append(skipped(raw, f"not a regular file ({special_kind(mode)})", "not_regular"))
        else:
            refused.append(FileResult(path=str(raw), status="failed", reason="no such file or folder",
                                      error_kind="not_found"))
    return out, roots, refused
