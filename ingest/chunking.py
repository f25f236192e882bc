"""Structure-first, sentence-aware chunking that knows Chinese punctuation.

A chunk never straddles two sections (so never two headings); a table stays
whole while it fits; prose is split by LangChain's recursive splitter on
paragraph, then sentence (。！？；… and . ! ? ;), then clause boundaries.
"""
from __future__ import annotations

import hashlib

from ingest.types import Chunk, ChunkSettings, ParsedDocument, Section

SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "…", ". ", "! ", "? ", "; ", "，", "、", ", ", " ", ""]


def chunk_id(doc_sha256: str, position: int, text: str) -> str:
    return hashlib.sha256(f"{doc_sha256}\x00{position}\x00{text}".encode("utf-8")).hexdigest()[:32]


def _splitter(settings: ChunkSettings):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                                          separators=SEPARATORS, keep_separator="end", add_start_index=True,
                                          strip_whitespace=True)


def _split_table(section: Section, limit: int) -> list[tuple[str, int, int]]:
    lines = section.text.split("\n")
    if len(lines) < 3:
        return [(section.text, 0, len(section.text))]
    header = "\n".join(lines[:2])
    pieces, rows, start = [], [], len(header) + 1
    offset = start
    for row in lines[2:]:
        if rows and len(header) + sum(len(r) + 1 for r in rows) + len(row) > limit:
            body = "\n".join(rows)
            pieces.append((header + "\n" + body, start, start + len(body)))
            start, rows = offset, []
        rows.append(row)
        offset += len(row) + 1
    if rows:
        body = "\n".join(rows)
        pieces.append((header + "\n" + body, start, start + len(body)))
    return pieces


def section_pieces(section: Section, settings: ChunkSettings, splitter) -> list[tuple[str, int, int]]:
    """(text, start, end) pieces of one section; spans index into section.text."""
    text = section.text
    if section.kind == "table":
        if len(text) <= max(settings.keep_tables_whole_up_to, settings.chunk_size):
            return [(text, 0, len(text))]
        return _split_table(section, max(settings.keep_tables_whole_up_to, settings.chunk_size))
    if len(text) <= settings.chunk_size:
        stripped = text.strip()
        start = text.find(stripped)
        return [(stripped, start, start + len(stripped))] if stripped else []
    pieces = []
    for d in splitter.create_documents([text]):
        start = int(d.metadata.get("start_index", -1))
        if start < 0 or text[start:start + len(d.page_content)] != d.page_content:
            start = text.find(d.page_content)
        pieces.append((d.page_content, start, start + len(d.page_content)))
    return pieces


def chunk_document(doc: ParsedDocument, settings: ChunkSettings, doc_sha256: str) -> list[Chunk]:
    splitter = _splitter(settings)
    chunks: list[Chunk] = []
    for index, section in enumerate(doc.sections):
        for text, start, end in section_pieces(section, settings, splitter):
            if not text.strip():
                continue
            position = len(chunks)
            chunks.append(Chunk(id=chunk_id(doc_sha256, position, text), text=text, source=doc.source,
                                position=position, page=section.page, page_end=section.page_end,
                                heading_path=section.heading_path, section_index=index, char_start=start,
                                char_end=end, kind=section.kind))
    return chunks
