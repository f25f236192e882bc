"""Sections -> retrievable chunks.

Structure first: a chunk never crosses a section boundary (so never mixes two
heading paths); a Markdown table stays whole up to
`settings.keep_tables_whole_up_to` characters and is otherwise split between
rows, every piece repeating the header row. Text is split sentence-aware by
langchain's RecursiveCharacterTextSplitter: paragraphs, lines, Chinese
sentence ends (。！？；…), English sentence ends, clauses, words.

Every chunk's `char_start:char_end` is its span in the section's text:
`section.text[char_start:char_end] == chunk.text`, except table pieces after
the first, whose text is the header rows + "\n" + that span.
"""
from __future__ import annotations

import bisect
import hashlib

from typing import TYPE_CHECKING

from ingest.cleaning import has_words
from ingest.types import Chunk, ChunkSettings, ParsedDocument, Section

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

SEPARATORS = [
    "\n\n", "\n",
    "。", "！", "？", "；", "……", "…",
    ". ", "! ", "? ", "; ",
    "，", "、", ", ", "：", ": ",
    " ", "",
]


def chunk_id(doc_sha256: str, position: int, text: str) -> str:
    """Stable id: sha256 of (document sha, position, text), 32 hex digits."""
    return hashlib.sha256(f"{doc_sha256}\x1f{position}\x1f{text}".encode("utf-8")).hexdigest()[:32]


def _splitter(settings: ChunkSettings) -> "RecursiveCharacterTextSplitter":
    # Imported here: langchain_core costs ~0.7 s of start-up, which a no-op re-index never needs.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    overlap = max(0, min(settings.chunk_overlap, settings.chunk_size // 2))
    return RecursiveCharacterTextSplitter(
        chunk_size=max(1, settings.chunk_size),
        chunk_overlap=overlap,
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
        add_start_index=False,
    )


def _spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Locate each piece (in order, possibly overlapping) inside text."""
    spans = []
    prev_start = -1
    for piece in pieces:
        start = text.find(piece, prev_start + 1)
        if start < 0:
            start = text.find(piece)
        if start < 0:  # cannot happen with strip_whitespace splitting; keep a valid span anyway
            continue
        spans.append((start, start + len(piece)))
        prev_start = start
    return spans


def split_text(text: str, settings: ChunkSettings) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentence-aware pieces of `text`."""
    if len(text.strip()) == 0:
        return []
    if len(text) <= settings.chunk_size:
        stripped = text.strip()
        start = text.find(stripped)
        return [(start, start + len(stripped))]
    return _spans(text, _splitter(settings).split_text(text))


def split_table(text: str, settings: ChunkSettings) -> list[tuple[str, int, int]]:
    """(piece text, span start, span end) for a Markdown table section."""
    if len(text) <= settings.keep_tables_whole_up_to:
        return [(text, 0, len(text))]
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    # header = everything up to and including the |---| separator row
    sep_at = next((i for i, line in enumerate(lines) if line.startswith("|") and set(line) <= set("|-: ")), None)
    if sep_at is None or sep_at + 1 >= len(lines):
        return [(text[s:e], s, e) for s, e in split_text(text, settings)]
    header = "\n".join(lines[: sep_at + 1])
    budget = max(settings.keep_tables_whole_up_to, len(header) + 1)
    pieces: list[tuple[str, int, int]] = []
    row = sep_at + 1
    first = True
    while row < len(lines):
        start_row = row
        size = len(header) + 1 + len(lines[row])
        row += 1
        while row < len(lines) and size + len(lines[row]) + 1 <= budget:
            size += len(lines[row]) + 1
            row += 1
        span_start = 0 if first else offsets[start_row]
        span_end = offsets[row - 1] + len(lines[row - 1])
        body = text[span_start:span_end]
        pieces.append((body if first else header + "\n" + body, span_start, span_end))
        first = False
    return pieces


def _page_range(section: Section, start: int, end: int) -> tuple[int | None, int | None]:
    """First and last page of the text span [start, end) (pages may interleave: footnotes)."""
    if not section.page_spans:
        return section.page, (section.page_end or section.page)
    starts = [s for s, _ in section.page_spans]
    first = max(bisect.bisect_right(starts, start) - 1, 0)
    last = max(bisect.bisect_right(starts, max(start, end - 1)) - 1, 0)
    pages = [p for _, p in section.page_spans[first:last + 1]]
    return min(pages), max(pages)


def chunk_document(doc: ParsedDocument, settings: ChunkSettings, doc_sha256: str) -> list[Chunk]:
    """Split a parsed document into chunks; deterministic for the same input."""
    chunks: list[Chunk] = []
    for index, section in enumerate(doc.sections):
        if not section.text.strip():
            continue
        if section.kind == "table":
            if not has_words(section.text):
                continue  # a blank grid has nothing to retrieve
            pieces = split_table(section.text, settings)
        else:
            pieces = [(section.text[s:e], s, e) for s, e in split_text(section.text, settings)]
        for text, start, end in pieces:
            if not text.strip():
                continue
            position = len(chunks)
            page, page_end = _page_range(section, start, end)
            chunks.append(
                Chunk(
                    id=chunk_id(doc_sha256, position, text),
                    text=text,
                    source=doc.source,
                    position=position,
                    page=page,
                    page_end=page_end,
                    heading_path=section.heading_path,
                    section_index=index,
                    char_start=start,
                    char_end=end,
                    kind=section.kind,
                )
            )
    return chunks
