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
    kind: str = "text"  # "text" | "table" (Markdown) | "heading" | "toc" (shown, never chunked)
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
    """One retrievable passage. `id` is stable: hash(doc sha + position + text).

    `section.text[char_start:char_end]` is the passage in its section. Two kinds of chunk put a
    little context in front of that span (so `text` ends with it): a table piece after the first
    repeats the header rows, and a piece of a long article repeats the article's head (its first
    paragraph and the lead-in of its items, e.g. "第三百六十七条 设立居住权……居住权合同一般包括下列
    条款：" before "（三）…（五）…"), so that every piece reads on its own.

    Parent unit, for numbered legal text (see ingest.units): `unit` is the label of the article the
    chunk belongs to ("第三百六十七条", "Article 12", "§ 39.13"; "" for prose, preambles and tables)
    and `parent_start:parent_end` is that whole article's span in the section text (equal to the
    chunk's own span when the chunk is the whole article; None without a unit). `parent_text` is
    the whole article when the chunk is only a piece of it, "" otherwise; `unit_text` is what a
    citation should show: the whole article, whether the chunk is all of it or a piece.
    """

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
    unit: str = ""
    parent_start: int | None = None
    parent_end: int | None = None
    parent_text: str = ""

    @property
    def unit_text(self) -> str:
        """The whole unit (article) this chunk is part of; the chunk's own text without one."""
        return self.parent_text or self.text


@dataclass(frozen=True)
class LoadOptions:
    """Per-call loader options (limits and credentials)."""

    password: str | None = None
    max_bytes: int = 200 * 1024 * 1024
    ocr: bool = True  # use RapidOCR on image-only pages when it is installed
