"""Plain text: paragraphs kept, Chinese structural headings ("第一章 ...") become the heading path."""
from __future__ import annotations

from pathlib import Path

from ingest.cleaning import clean_line
from ingest.loaders._common import read_text
from ingest.structure import SectionBuilder
from ingest.types import LoadOptions, ParsedDocument


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    text, encoding = read_text(path)
    builder = SectionBuilder()
    para: list[str] = []

    def flush() -> None:
        if para:
            builder.block("\n".join(para))
            para.clear()

    for raw in text.split("\n"):
        line = clean_line(raw)
        if not line:
            flush()
            continue
        if _is_heading_line(line):
            flush()
            builder.block(line)
            continue
        para.append(line)
    flush()
    notes = [] if encoding in ("utf-8", "ascii") else [f"decoded as {encoding}"]
    return ParsedDocument(source=str(path), sections=builder.build(), warnings=notes, format="txt")


def _is_heading_line(line: str) -> bool:
    from ingest.structure import cn_heading_level, is_toc_title

    return cn_heading_level(line) is not None or is_toc_title(line)
