"""Receiving uploaded files safely.

No client-supplied path ever reaches the file system: a file is written under a
server-chosen folder with a sanitised basename, and the original name is kept
only as a label. Size and count limits are enforced while the multipart body
streams in (the request is read chunk by chunk), so an oversized upload is cut
off at the limit and its partial files are deleted.
"""
from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterable
from urllib.parse import unquote

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from app.api.errors import ApiError, disk_full

_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
MAX_NAME_BYTES = 180
FORM_FIELDS = ("password",)  # the plain form fields an upload may carry (others are ignored)
MAX_FIELD_CHARS = 1024
MAX_BOUNDARY = 256  # python-multipart's own ceiling; past it the parser raises


def sanitize_filename(name: str, fallback: str = "upload") -> str:
    """A safe basename from whatever the client sent: no separators, no NUL, no dot-dot.

    `../../evil.txt` -> `evil.txt`, `C:\\x.txt` -> `x.txt`, `/etc/passwd` -> `passwd`.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\x00", "")
    name = re.split(r"[\\/]", name)[-1]  # basename under both POSIX and Windows rules
    name = _UNSAFE.sub("_", name).strip().strip(".").strip()
    if not name or set(name) <= {"_", " "}:
        return fallback
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        if not dot or len(suffix) > 16:
            stem, suffix = name, ""
        suffix = f".{suffix}" if suffix else ""
        budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = stem + suffix
    return name


def suffix_of(name: str) -> str:
    return Path(name).suffix.lower()


@dataclass
class SavedUpload:
    original_name: str  # what the client called it (shown to users)
    name: str  # sanitised basename on disk
    path: Path  # where it was written (inside the server-chosen folder)
    size: int


def _filename_from_disposition(value: bytes) -> tuple[str | None, str | None]:
    """(field name, file name) from a Content-Disposition header value."""
    _, params = parse_options_header(value)
    field = params.get(b"name")
    filename = None
    star = params.get(b"filename*")
    if star:
        raw = star.decode("latin-1")
        if "''" in raw:
            charset, _, encoded = raw.partition("''")
            try:
                filename = unquote(encoded, encoding=charset or "utf-8", errors="replace")
            except LookupError:
                filename = unquote(encoded)
    if filename is None and b"filename" in params:
        raw = params[b"filename"]
        try:
            filename = raw.decode("utf-8")
        except UnicodeDecodeError:
            filename = raw.decode("latin-1")
    return (field.decode("utf-8", "replace") if field is not None else None), filename


class _UploadSink:
    """Callbacks for python-multipart's streaming parser; writes file parts to disk as they come."""

    def __init__(self, dest: Path, *, max_bytes: int, max_files: int, suffixes: Iterable[str]):
        self.dest = dest
        self.rejected: list[dict] = []  # unsupported files: failed rows; the other files go on
        self.fields: dict[str, str] = {}  # small form fields (FORM_FIELDS), e.g. the PDF password
        self._form_field: str | None = None
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.suffixes = {s.lower() for s in suffixes}
        self.saved: list[SavedUpload] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._fh = None
        self._current: SavedUpload | None = None
        self.complete = False  # the closing boundary arrived

    # python-multipart callbacks
    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        field, filename = _filename_from_disposition(disposition)
        self._form_field = None
        if filename is None:
            self._current = None  # a plain form field: kept only if it is one of FORM_FIELDS
            if field in FORM_FIELDS:
                self._form_field = field
                self.fields[field] = ""
            return
        if len(self.saved) >= self.max_files:
            raise ApiError(413, f"too many files in one upload (limit {self.max_files})", "too_many_files")
        original = filename.replace("\x00", "")
        name = sanitize_filename(original)
        suffix = suffix_of(name)
        if suffix not in self.suffixes:
            shown = suffix or "(no extension)"
            self.rejected.append({"name": original, "path": original, "status": "failed", "chunks": 0,
                                  "reason": f"unsupported file type {shown}", "error_kind": "unsupported"})
            self._current = None
            return
        name = self._unique(name)
        path = self.dest / name
        self._current = SavedUpload(original_name=original or name, name=name, path=path, size=0)
        self.saved.append(self._current)
        self._fh = path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._form_field is not None:
            value = self.fields[self._form_field] + data[start:end].decode("utf-8", "replace")
            if len(value) > MAX_FIELD_CHARS:
                raise ApiError(400, f"the form field {self._form_field!r} is longer than {MAX_FIELD_CHARS} "
                                    "characters", "bad_request")
            self.fields[self._form_field] = value
            return
        if self._current is None or self._fh is None:
            return
        size = end - start
        self._current.size += size
        if self._current.size > self.max_bytes:
            raise ApiError(
                413,
                f"{self._current.original_name!r} is larger than the upload limit of {self.max_bytes // (1024 * 1024) or self.max_bytes} "
                + ("MB" if self.max_bytes >= 1024 * 1024 else "bytes"),
                "too_large",
            )
        self._fh.write(data[start:end])

    def on_part_end(self) -> None:
        self._close()
        self._current = None
        self._form_field = None

    def on_end(self) -> None:
        self.complete = True

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _unique(self, name: str) -> str:
        taken = {s.name for s in self.saved}
        if name not in taken:
            return name
        stem, suffix = Path(name).stem, Path(name).suffix
        n = 2
        while f"{stem} ({n}){suffix}" in taken:
            n += 1
        return f"{stem} ({n}){suffix}"


@dataclass
class UploadForm:
    """What an upload form carried: the saved files, the files refused one by one, the small fields."""

    dest: Path
    saved: list[SavedUpload]
    rejected: list[dict]
    fields: dict[str, str]


async def receive_upload_form(
    content_type: str,
    body: AsyncIterator[bytes],
    staging_root: Path,
    *,
    max_bytes: int,
    max_files: int,
    suffixes: Iterable[str],
) -> UploadForm:
    """Stream a multipart body into a fresh `staging_root/<uuid>/` folder. An unsupported file fails
    alone: it becomes a failed row and the other files go on; only a body with no supported file at all
    is refused (415). On any error (limit, no supported file, malformed body) the folder and every
    partial file in it are deleted before raising."""
    mime, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise ApiError(400, "expected a multipart/form-data body with one or more 'files' parts", "bad_request")
    if len(boundary) > MAX_BOUNDARY:  # checked before the staging folder exists, so none is left behind
        raise ApiError(400, f"the multipart boundary is {len(boundary)} characters long; at most {MAX_BOUNDARY} "
                            "are accepted (RFC 2046 asks for 70)", "bad_request")
    dest = staging_root / uuid.uuid4().hex
    sink = _UploadSink(dest, max_bytes=max_bytes, max_files=max_files, suffixes=suffixes)
    callbacks = {
        "on_part_begin": sink.on_part_begin,
        "on_part_data": sink.on_part_data,
        "on_part_end": sink.on_part_end,
        "on_header_field": sink.on_header_field,
        "on_header_value": sink.on_header_value,
        "on_header_end": sink.on_header_end,
        "on_headers_finished": sink.on_headers_finished,
        "on_end": sink.on_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        dest.mkdir(parents=True, exist_ok=False)
        async for chunk in body:
            if chunk:
                parser.write(chunk)
        parser.finalize()
        if not sink.saved and sink.rejected:
            names = ", ".join(repr(r["name"]) for r in sink.rejected[:5])
            raise ApiError(415, f"{sink.rejected[0]['reason']} for {names}; supported: "
                                f"{', '.join(sorted(sink.suffixes))}", "unsupported_type")
        if not sink.saved:
            raise ApiError(400, "no files in the upload (send them as multipart 'files' parts)", "bad_request")
        if not sink.complete:  # a body cut mid-file parses "fine" up to the cut; the missing end boundary tells
            raise ApiError(400, "the upload was cut off: the body ended before its closing multipart boundary, "
                                "so nothing was stored; send it again", "incomplete_upload")
    except ApiError:
        sink._close()
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except Exception as exc:  # malformed multipart, client went away, disk full
        sink._close()
        shutil.rmtree(dest, ignore_errors=True)
        raise (disk_full(exc) or ApiError(400, f"could not read the upload: {exc}", "bad_request")) from exc
    return UploadForm(dest, sink.saved, sink.rejected, sink.fields)


def stage_local_files(paths: Iterable[str], staging: Path, *, max_bytes: int,
                      suffixes: Iterable[str]) -> tuple[list[SavedUpload], list[dict]]:
    """Copy files already on this machine (the web UI's uploads in Gradio's cache) into `staging` under
    sanitised, de-duplicated names; the rejected ones come back as job rows with the reason."""
    allowed = set(suffixes)
    staging.mkdir(parents=True)
    saved: list[SavedUpload] = []
    rejected: list[dict] = []
    for p in paths:
        src = Path(p)
        original = src.name
        safe = sanitize_filename(original)
        if suffix_of(safe) not in allowed:
            rejected.append({"name": original, "path": original, "status": "failed", "chunks": 0,
                             "reason": f"unsupported file type {suffix_of(safe) or '(no extension)'}",
                             "error_kind": "unsupported"})
            continue
        size = src.stat().st_size
        if size > max_bytes:
            rejected.append({"name": original, "path": original, "status": "failed", "chunks": 0,
                             "reason": f"larger than the upload limit ({max_bytes // (1024 * 1024)} MB)",
                             "error_kind": "too_large"})
            continue
        taken = {s.name for s in saved}
        stem, suffix, n = Path(safe).stem, Path(safe).suffix, 2
        while safe in taken:
            safe, n = f"{stem} ({n}){suffix}", n + 1
        dest = staging / safe
        shutil.copyfile(src, dest)
        saved.append(SavedUpload(original_name=original, name=safe, path=dest, size=size))
    return saved, rejected
