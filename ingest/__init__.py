"""Ingestion: files -> clean sections (with page and heading path) -> chunks.

Usable as a library on its own: plain paths in, frozen dataclasses out. Knows
nothing of retrieval, knowledge bases or the app.
"""
from __future__ import annotations

from pathlib import Path

from ingest.chunking import chunk_document
from ingest.errors import (CorruptFile, EmptyFile, EncryptedFile, FileTooLarge, IngestError, UndecodableFile,
                           UnsupportedFile)
from ingest.loaders import SUFFIX_FORMATS, load_by_format, resolve_format, sniff_format
from ingest.types import Chunk, ChunkSettings, LoadOptions, ParsedDocument, Section


def supported_suffixes() -> frozenset[str]:
    return frozenset(SUFFIX_FORMATS)


def load_document(path: str | Path, options: LoadOptions = LoadOptions()) -> ParsedDocument:
    """Parse one file into sections; raises an IngestError subclass with a one-line reason."""
    path = Path(path)
    try:
        if not path.is_file():
            raise UnsupportedFile(str(path), "not a regular file" if path.exists() else "file not found")
        size = path.stat().st_size
    except OSError as exc:
        raise UnsupportedFile(str(path), f"cannot read it ({exc.strerror or exc})") from exc
    if size == 0:
        raise EmptyFile(str(path), "the file is empty (0 bytes)")
    if size > options.max_bytes:
        raise FileTooLarge(str(path), f"{size / 1e6:.1f} MB is over the {options.max_bytes / 1e6:.0f} MB limit")
    fmt = resolve_format(path)
    doc = load_by_format(path, fmt, options)
    sections = [s for s in doc.sections if s.text.strip()]
    if not sections:
        hint = "; ".join(doc.warnings) if doc.warnings else "no text found"
        raise EmptyFile(str(path), hint)
    return ParsedDocument(source=doc.source, sections=sections, warnings=doc.warnings, pages=doc.pages,
                          format=doc.format)


__all__ = ["Chunk", "ChunkSettings", "CorruptFile", "EmptyFile", "EncryptedFile", "FileTooLarge", "IngestError",
           "LoadOptions", "ParsedDocument", "Section", "UndecodableFile", "UnsupportedFile", "chunk_document",
           "load_document", "sniff_format", "supported_suffixes"]
