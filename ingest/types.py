"""Plain values that leave the ingest layer.

They are frozen so a chunk that has been hashed into an id cannot change
afterwards, and so they can cross thread/process boundaries safely.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, from one page (or page range).

    Loaders emit sections in reading order; the chunker never merges text
    across two sections with different heading paths.
    """

    text: str
    page: int | None = None  # 1-based; None for formats without pages
    heading_path: tuple[str, ...] = ()
    kind: str = "text"  # "text" | "table" (Markdown) | "heading"
    page_end: int | None = None  # last page when a section spans pages
    # Where each page starts inside `text` as (char offset, page), when the section spans
    # pages; lets the chunker give every chunk its own page range. Empty: all on `page`.
    page_spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader saw in one file."""

    source: str
    sections: list[Section]
    warnings: list[str] = field(default_factory=list)
    pages: int | None = None
    format: str = ""  # "pdf", "docx", "txt", ...


@dataclass(frozen=True)
class ChunkSettings:
    """Index-level chunking settings (baked into a KB's manifest)."""

    chunk_size: int = 500  # characters
    chunk_overlap: int = 80
    keep_tables_whole_up_to: int = 1500  # a table up to this size stays one chunk


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage. `id` is stable: hash(doc sha + position + text)."""

    id: str
    text: str
    source: str
    position: int  # index of the chunk within its document
    page: int | None = None
    page_end: int | None = None
    heading_path: tuple[str, ...] = ()
    section_index: int = 0
    char_start: int = 0  # span inside the section's text
    char_end: int = 0
    kind: str = "text"


@dataclass(frozen=True)
class LoadOptions:
    """Per-call loader options (limits and credentials)."""

    password: str | None = None
    max_bytes: int = 200 * 1024 * 1024
    ocr: bool = True  # use RapidOCR on image-only pages when it is installed
