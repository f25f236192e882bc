"""Markdown: ATX/setext headings become the heading path; fenced code and tables stay intact."""
from __future__ import annotations

import re
from pathlib import Path

from ingest.loaders._common import read_text
from ingest.structure import SectionBuilder
from ingest.types import LoadOptions, ParsedDocument

# Linear-time patterns only: a file is untrusted input, and one long line must not cost seconds.
# The ATX title's trailing spaces and closing #s are stripped in Python (`_atx_title`): a lazy `(.*?)`
# followed by `[ \t#]*$` retries the tail at every position, quadratic on a long line of spaces.
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
# `\s*\|?\s*` would let two runs split the same spaces every way (quadratic); `(?:\|\s*)?` cannot.
_TABLE_SEP = re.compile(r"^\s*(?:\|\s*)?:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*(?:\|\s*)?$")


def _atx_title(rest: str) -> str:
    """The heading text after `#`s and blanks: trailing blanks and closing #s dropped, as before."""
    return rest.lstrip(" \t").rstrip(" \t#")


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    text, encoding = read_text(path)
    lines = text.split("\n")
    builder = SectionBuilder(detect_cn_headings=False)
    para: list[str] = []

    def flush() -> None:
        body = "\n".join(para).strip("\n")
        para.clear()
        if body.strip():
            builder.block(body)

    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            block = [line]
            i += 1
            while i < len(lines):
                block.append(lines[i].rstrip())
                if lines[i].strip().startswith(marker[0] * len(marker)) and len(block) > 1:
                    i += 1
                    break
                i += 1
            builder.block("\n".join(block))
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            builder.heading(_atx_title(atx.group(2)), level=len(atx.group(1)) * 10)
            i += 1
            continue
        if para and _SETEXT.match(line) and len(para) == 1 and not _TABLE_ROW.match(para[0]):
            title = para.pop()
            builder.heading(title, level=10 if line.strip().startswith("=") else 20)
            i += 1
            continue
        if _TABLE_ROW.match(line) and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush()
            rows = [line.strip(), lines[i + 1].strip()]
            i += 2
            while i < len(lines) and _TABLE_ROW.match(lines[i]):
                rows.append(lines[i].strip())
                i += 1
            builder.table("\n".join(rows))
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    notes = [] if encoding in ("utf-8", "ascii") else [f"decoded as {encoding}"]
    return ParsedDocument(source=str(path), sections=builder.build(), warnings=notes, format="md")
