"""Plain text and Markdown: encoding detection, Markdown headings as the heading path."""
from __future__ import annotations

import re
from pathlib import Path

from ingest.encoding import DecodeFailure, decode_bytes, normalise_newlines
from ingest.errors import UndecodableFile
from ingest.types import LoadOptions, ParsedDocument, Section

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")


def read_text(path: Path) -> tuple[str, str]:
    try:
        text, enc = decode_bytes(path.read_bytes())
    except DecodeFailure as exc:
        raise UndecodableFile(str(path), str(exc)) from exc
    return normalise_newlines(text), enc


def _paragraph_sections(text: str, heading_path: tuple[str, ...]) -> list[Section]:
    text = text.strip()
    return [Section(text=text, heading_path=heading_path)] if text else []


def load_txt(path: Path, options: LoadOptions) -> ParsedDocument:
    text, enc = read_text(path)
    return ParsedDocument(source=str(path), sections=_paragraph_sections(text, ()), format="txt")


def markdown_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    in_fence = False

    def flush():
        sections.extend(_paragraph_sections("\n".join(buf), tuple(h for _, h in stack)))
        buf.clear()

    for line in text.split("\n"):
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
            buf.append(line)
            continue
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, m.group(2).strip()))
        else:
            buf.append(line)
    flush()
    return sections


def load_markdown(path: Path, options: LoadOptions) -> ParsedDocument:
    text, _ = read_text(path)
    return ParsedDocument(source=str(path), sections=markdown_sections(text), format="md")
