"""Showing a passage where it came from: a PDF page with the passage highlighted, or a section as HTML.

Pure rendering, no HTTP: the source routes (app.api.routes_sources) and the tests call these.

- PDF: the page is rendered by PyMuPDF and the passage is found on it from the chunk's own text. The
  chunk text is cleaned (whitespace joined, hyphens undone, tables as Markdown), so it is not searched
  as one string: both sides are reduced to their non-space characters (NFKC, lower case) and the passage
  is matched in pieces of `PIECE` characters, each piece first where the previous one ended, then
  anywhere on the page. That finds a passage that wraps lines, crosses into the next page (each page
  highlights its own part) or runs down two columns in another order than the text layer. What it
  misses: text that exists only as an image (OCR'd pages), and pieces shorter than PIECE at the end.
- Other formats: the section is rebuilt from its chunks' spans (`char_start:char_end` in the section
  text, recorded at ingest), so no file is parsed again; the passage is put inside <mark>. Document
  text is always escaped; Markdown tables become <table>.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

PIECE = 10  # characters (spaces removed) per matched piece of a passage
MAX_ZOOM = 3.0
MIN_ZOOM = 0.5
MAX_SIDE_PX = 4000
SECTION_WINDOW = 20_000  # characters of the section shown on each side of the passage  # a poster-size page is scaled down to this many pixels on its long side

_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_NOT_ON_PAGE = re.compile(r"[|]|-{3,}|\s+")


# ---- text and tables ------------------------------------------------------------------------------
def _marked(text: str, start: int, lo: int, hi: int) -> str:
    """`text` (which starts at offset `start`) escaped, with its overlap with [lo, hi) inside <mark>."""
    a, b = max(lo, start) - start, min(hi, start + len(text)) - start
    if a >= b:
        return html.escape(text)
    return (html.escape(text[:a]) + "<mark>" + html.escape(text[a:b]) + "</mark>" + html.escape(text[b:]))


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def text_html(text: str, mark: tuple[int, int] | None = None) -> str:
    """Document text as safe HTML: paragraphs, Markdown tables as <table>, [lo, hi) of it inside <mark>
    (a table row that overlaps the span is marked whole, cell by cell)."""
    lo, hi = mark if mark else (-1, -1)
    out: list[str] = []
    table: list[tuple[int, str]] = []
    para: list[tuple[int, str]] = []

    def flush_para() -> None:
        if para:
            out.append("<p>" + "<br>".join(_marked(t, s, lo, hi) for s, t in para) + "</p>")
            para.clear()

    def flush_table() -> None:
        if not table:
            return
        rows = [(s, ln) for s, ln in table if not _TABLE_SEP.match(ln)]
        has_head = len(table) > 1 and _TABLE_SEP.match(table[1][1]) is not None
        parts = ["<table class='zhida-table'>"]
        for i, (s, ln) in enumerate(rows):
            tag = "th" if has_head and i == 0 else "td"
            hit = lo < s + len(ln) and hi > s
            cells = "".join(f"<{tag}>{'<mark>' if hit else ''}{html.escape(c)}{'</mark>' if hit else ''}</{tag}>"
                            for c in _cells(ln))
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
        out.append("".join(parts))
        table.clear()

    pos = 0
    for line in text.split("\n"):
        start = pos
        pos += len(line) + 1
        if line.strip().startswith("|") and line.strip().count("|") >= 2:
            flush_para()
            table.append((start, line))
            continue
        flush_table()
        if not line.strip():
            flush_para()
            continue
        para.append((start, line))
    flush_para()
    flush_table()
    return "\n".join(out)


def own_span(chunk: dict) -> str:
    """The part of a chunk's text that is its span in the section (table and article pieces after the
    first carry a header or the article's head in front of it)."""
    text = chunk.get("text") or ""
    start, end = chunk.get("char_start") or 0, chunk.get("char_end") or 0
    if end > start and len(text) >= end - start:
        return text[len(text) - (end - start):]
    return text


@dataclass(frozen=True)
class SectionView:
    text: str
    mark: tuple[int, int]


def section_from_chunks(chunk: dict, section_chunks: Sequence[dict]) -> SectionView:
    """The section a chunk came from, stitched from the spans of that section's chunks (overlaps agree;
    a gap the chunker skipped, only ever whitespace, becomes line breaks), with the chunk's own span."""
    start, end = chunk.get("char_start") or 0, chunk.get("char_end") or 0
    spans = [(c.get("char_start") or 0, c.get("char_end") or 0, own_span(c)) for c in section_chunks]
    # a huge section (a 100 MB log is one section) is shown around the passage only
    spans = [s for s in spans if s[1] > s[0] and s[1] > start - SECTION_WINDOW and s[0] < end + SECTION_WINDOW]
    if end <= start or not spans:  # a KB without spans: the passage alone, all marked
        text = chunk.get("text") or ""
        return SectionView(text, (0, len(text)))
    base = min(s for s, _, _ in spans)
    buf = ["\n"] * (max(e for _, e, _ in spans) - base)
    for s, e, t in spans:
        buf[s - base:e - base] = list(t[: e - s].ljust(e - s))
    return SectionView("".join(buf), (start - base, end - base))


# ---- PDF pages ------------------------------------------------------------------------------------
def _norm(c: str) -> str:
    return unicodedata.normalize("NFKC", c).lower()


def _page_chars(page) -> tuple[str, list[tuple[float, float, float, float]]]:
    """The page's non-space characters in text-layer order, normalised, with each one's box."""
    chars: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    raw = page.get_text("rawdict")
    for block in raw.get("blocks", []):
        for line in block.get("lines", []):
            for span in line.get("spans", []):
                for ch in span.get("chars", []):
                    n = _norm(ch["c"])
                    for piece in n:
                        if not piece.isspace():
                            chars.append(piece)
                            boxes.append(tuple(ch["bbox"]))
    return "".join(chars), boxes


def find_passage(page_text: str, passage: str) -> tuple[list[int], float]:
    """Indexes of `page_text` characters that belong to `passage`, and the share of the passage found.

    Pieces of PIECE characters; each is looked for first right where the previous one ended (reading
    on), then anywhere on the page (a column jump, a line the text layer ordered differently)."""
    target = _norm(_NOT_ON_PAGE.sub("", passage))
    target = "".join(c for c in target if not c.isspace())
    if not target or not page_text:
        return [], 0.0
    hits: set[int] = set()
    found = 0
    pieces = [target[i:i + PIECE] for i in range(0, len(target), PIECE)]
    cursor = 0
    for piece in pieces:
        if len(piece) < min(PIECE, len(target)) and len(pieces) > 1:
            # the short tail: only right after the previous piece, where it cannot be a chance match
            if page_text.startswith(piece, cursor):
                hits.update(range(cursor, cursor + len(piece)))
                found += 1
            continue
        at = cursor if page_text.startswith(piece, cursor) else page_text.find(piece)
        if at < 0:
            continue
        hits.update(range(at, at + len(piece)))
        found += 1
        cursor = at + len(piece)
    return sorted(hits), found / len(pieces)


def _line_rects(boxes: list[tuple[float, float, float, float]], idx: list[int]):
    """Character boxes merged into one rectangle per run on the same line."""
    rects: list[list[float]] = []
    prev = -2
    for i in idx:
        x0, y0, x1, y1 = boxes[i]
        if rects and i == prev + 1:
            r = rects[-1]
            same_line = min(r[3], y1) - max(r[1], y0) > 0.5 * min(r[3] - r[1], y1 - y0) and x0 >= r[0] - 1
            if same_line:
                r[0], r[1], r[2], r[3] = min(r[0], x0), min(r[1], y0), max(r[2], x1), max(r[3], y1)
                prev = i
                continue
        rects.append([x0, y0, x1, y1])
        prev = i
    return rects


@dataclass(frozen=True)
class PageImage:
    png: bytes
    page: int  # 1-based
    pages: int
    coverage: float  # share of the passage found on this page (0 when not highlighted)
    rects: int


class PdfLocked(Exception):
    """The PDF needs a password the server does not keep."""


def pdf_page_count(path: Path) -> int:
    import pymupdf

    with pymupdf.open(str(path)) as doc:
        if doc.needs_pass and not doc.authenticate(""):
            raise PdfLocked(str(path))
        return doc.page_count


def render_pdf_page(path: Path, page: int, passage: str | None, zoom: float = 1.5) -> PageImage:
    """Page `page` (1-based) as PNG, with `passage` highlighted when given. ValueError: no such page."""
    import pymupdf

    zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
    with pymupdf.open(str(path)) as doc:
        if doc.needs_pass and not doc.authenticate(""):
            raise PdfLocked(str(path))
        if not 1 <= page <= doc.page_count:
            raise ValueError(f"page {page} is outside the document (pages 1-{doc.page_count})")
        p = doc[page - 1]
        coverage, n = 0.0, 0
        if passage:
            text, boxes = _page_chars(p)
            idx, coverage = find_passage(text, passage)
            for r in _line_rects(boxes, idx):
                annot = p.add_highlight_annot(pymupdf.Rect(r))
                annot.set_colors(stroke=(1.0, 0.85, 0.1))
                annot.update()
                n += 1
        side = max(p.rect.width, p.rect.height) * zoom
        if side > MAX_SIDE_PX:
            zoom *= MAX_SIDE_PX / side
        pix = p.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), annots=True)
        return PageImage(pix.tobytes("png"), page, doc.page_count, coverage if n else 0.0, n)
