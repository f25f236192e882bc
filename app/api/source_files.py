"""Which file a chunk came from, and whether the server may show it.

The trust rule (DESIGN.md, trust boundary): only files this KB indexed can be served. The request names
a KB and a chunk id; the chunk id is looked up (as a bound SQL value) in that KB's own kb.sqlite only, so
an id from another KB, a path or `../` is simply unknown. The path comes from the KB's documents table,
never from the request, and the file is served only while it is the file that was indexed: a regular
file whose size and mtime are those recorded, or failing that, whose SHA-256 is. A file that is gone or
was replaced since (a symlink now pointing elsewhere, an edited file) is refused with the reason.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.api.errors import ApiError
from knowledge.collecting import file_sha256

_CHUNK_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")


@dataclass(frozen=True)
class ChunkSource:
    kb: str
    chunk: dict[str, Any]  # the stored chunk (knowledge.db.document_chunks' shape)
    document: dict[str, Any]  # the document row (id, path, name, format, pages, size, sha256 ...)

    @property
    def path(self) -> Path:
        return Path(self.document["path"])

    @property
    def format(self) -> str:
        fmt = (self.document.get("format") or "").lower()
        return fmt or self.path.suffix.lower().lstrip(".")


def open_kb(ctx: Any, name: str):
    """The KB object itself (the source viewer reads stored chunks, which the adapter does not wrap)."""
    from app.api.errors import api_error

    ctx.require_kb(name)
    try:
        catalog = getattr(ctx, "catalog", None)
        if catalog is None:  # an adapter without one: the home's catalog (the same object services shares)
            from app import services

            catalog = services.catalog(ctx.settings)
        return catalog.open(name)
    except Exception as exc:
        err = api_error(exc)
        if err is None:
            raise
        raise err from exc


def _kb_call(fn, *args):
    from app.api.errors import api_error

    try:
        return fn(*args)
    except ApiError:
        raise
    except AttributeError as exc:  # a store without stored spans (Milvus)
        raise ApiError(501, "this knowledge base's store cannot show stored chunks; the source viewer "
                            "needs the local store", "not_implemented") from exc
    except Exception as exc:
        err = api_error(exc)
        if err is None:
            raise
        raise err from exc


def chunk_source(ctx: Any, name: str, chunk_id: str) -> ChunkSource:
    """The chunk and its document; 404 with the reason for an unknown id."""
    kb = open_kb(ctx, name)
    found = _kb_call(kb.chunk, chunk_id) if _CHUNK_ID.fullmatch(chunk_id or "") else None
    if found is None:
        raise ApiError(404, f"no chunk {chunk_id!r} in knowledge base {name!r}", "not_found")
    doc = dict(found.pop("document"))
    return ChunkSource(name, found, doc)


def document_row(ctx: Any, name: str, doc_id: str) -> dict[str, Any]:
    kb = open_kb(ctx, name)
    doc = next((d for d in _kb_call(kb.documents) if str(d["id"]) == str(doc_id)), None)
    if doc is None:
        raise ApiError(404, f"no document {doc_id!r} in knowledge base {name!r}", "not_found")
    return doc


def document_chunks(ctx: Any, name: str, doc_id: str, section_index: int | None = None) -> list[dict[str, Any]]:
    if not str(doc_id).isdigit():
        raise ApiError(404, f"no document {doc_id!r} in knowledge base {name!r}", "not_found")
    kb = open_kb(ctx, name)
    return _kb_call(kb.document_chunks, int(doc_id), section_index)


def checked_file(document: dict[str, Any]) -> Path:
    """The document's file, if it is still the one that was indexed; 404/409 with the reason if not."""
    path = Path(str(document.get("path") or ""))
    shown = document.get("name") or path.name
    try:
        st = os.stat(path)
    except OSError:
        raise ApiError(404, f"the file of {shown!r} is gone from {path.parent} (deleted or moved since it was "
                            "indexed); its passages are still searchable", "file_missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise ApiError(404, f"{shown!r} is no longer a regular file at {path}", "file_missing")
    same = (document.get("size") == st.st_size and document.get("mtime") is not None
            and abs(float(document["mtime"]) - st.st_mtime) < 1e-3)
    if not same and document.get("sha256"):
        try:
            changed = file_sha256(path) != document["sha256"]
        except OSError as exc:  # unreadable now, or swapped for a FIFO after the stat
            raise ApiError(404, f"{shown!r} cannot be read at {path} ({exc.strerror or exc})",
                           "file_missing") from None
        if changed:
            raise ApiError(409, f"the file of {shown!r} changed since it was indexed; re-index it to see its "
                                "pages", "file_changed")
    return path
