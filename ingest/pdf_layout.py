"""Page layout for PDFs: lines and blocks from PyMuPDF, reading order across columns,
repeated headers/footers, page and line numbers, and heading candidates by font.

Plain functions over small dataclasses so they are testable without a PDF.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ingest.cleaning import clean_line


@dataclass
class Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    bold: bool
    page: int

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class Block:
    lines: list[Line]
    table: str | None = None  # Markdown, for a table pseudo-block
    bbox_: tuple[float, float, float, float] | None = None
    caption: str | None = None

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        if self.bbox_ is not None:
            return self.bbox_
        return (min(l.x0 for l in self.lines), min(l.y0 for l in self.lines),
                max(l.x1 for l in self.lines), max(l.y1 for l in self.lines))


@dataclass
class PageLayout:
    number: int  # 1-based
    width: float
    height: float
    blocks: list[Block] = field(default_factory=list)


_BOLD_NAME = re.compile(r"(bold|black|heavy|semibold|demibold|,b\b|-b$)", re.I)


def _span_bold(span: dict) -> bool:
    return bool(span.get("flags", 0) & 16) or bool(_BOLD_NAME.search(span.get("font", "")))


def _dominant_dir(page_dict: dict) -> tuple[int, int]:
    weight: Counter[tuple[int, int]] = Counter()
    for b in page_dict.get("blocks", []):
        for l in b.get("lines", []):
            dx, dy = l.get("dir", (1.0, 0.0))
            key = (round(dx), round(dy))
            weight[key] += sum(len(s.get("text", "").strip()) for s in l.get("spans", []))
    return weight.most_common(1)[0][0] if weight else (1, 0)


def blocks_from_dict(page_dict: dict, page_no: int) -> tuple[list[Block], float, float]:
    """Text blocks from `page.get_text("dict")`, plus the page width and height they live in.

    Lines that run in the page's dominant direction are kept; when that direction is not
    left-to-right (a landscape page printed sideways), coordinates are rotated so the
    text reads left to right, top to bottom. Lines in other directions (margin stamps) go.
    """
    cos, sin = _dominant_dir(page_dict)
    width, height = float(page_dict.get("width", 0.0)), float(page_dict.get("height", 0.0))

    def rot(x: float, y: float) -> tuple[float, float]:
        return x * cos + y * sin, -x * sin + y * cos

    corners = [rot(x, y) for x, y in ((0, 0), (width, 0), (0, height), (width, height))]
    ox, oy = min(c[0] for c in corners), min(c[1] for c in corners)
    out_w = max(c[0] for c in corners) - ox
    out_h = max(c[1] for c in corners) - oy
    blocks: list[Block] = []
    for b in page_dict.get("blocks", []):
        if b.get("type", 0) != 0:
            continue
        lines: list[Line] = []
        for l in b.get("lines", []):
            dx, dy = l.get("dir", (1.0, 0.0))
            if (round(dx), round(dy)) != (cos, sin):
                continue  # rotated margin stamps, vertical labels
            spans = [s for s in l.get("spans", []) if s.get("text")]
            text = "".join(s["text"] for s in spans)
            cleaned = clean_line(text)
            if not cleaned:
                continue
            inked = [s for s in spans if s["text"].strip()]
            size = max((s.get("size", 0.0) for s in inked), default=0.0)
            bold = bool(inked) and all(_span_bold(s) for s in inked)
            x0, y0, x1, y1 = l["bbox"]
            pts = [rot(x, y) for x, y in ((x0, y0), (x1, y1))]
            rx0, rx1 = sorted(p[0] - ox for p in pts)
            ry0, ry1 = sorted(p[1] - oy for p in pts)
            lines.append(Line(cleaned, rx0, ry0, rx1, ry1, round(size * 2) / 2, bold, page_no))
        if lines:
            lines.sort(key=lambda l: (round(l.y0, 1), l.x0)) if (cos, sin) != (1, 0) else None
            blocks.append(Block(lines))
    return blocks, out_w, out_h


# --- headers, footers, page numbers, line numbers ----------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^(?:[-–—\s]*\d{1,4}[-–—\s]*|page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s*/\s*\d+|第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?"
    r"|[ivxlcdm]{1,6})$",
    re.I,
)
_DIGITS = re.compile(r"\d+")
MARGIN = 0.09


def _in_margin(line: Line, page: PageLayout) -> bool:
    h, w = page.height, page.width
    return line.y1 < h * MARGIN or line.y0 > h * (1 - MARGIN) or line.x1 < w * 0.07 or line.x0 > w * 0.93


def _edge_lines(page: PageLayout) -> list[Line]:
    """Lines in the page margins, plus the first and last line when they sit near an edge."""
    lines = [l for b in page.blocks for l in b.lines]
    if not lines:
        return []
    chosen = {id(l): l for l in lines if _in_margin(l, page)}
    by_y = sorted(lines, key=lambda l: (l.y0, l.x0))
    if by_y[0].y1 < page.height * 0.15:
        chosen[id(by_y[0])] = by_y[0]
    if by_y[-1].y0 > page.height * 0.85:
        chosen[id(by_y[-1])] = by_y[-1]
    return list(chosen.values())


def _key(text: str) -> str:
    return _DIGITS.sub("#", re.sub(r"\s+", "", text.lower()))


def remove_furniture(pages: list[PageLayout]) -> int:
    """Drop repeated headers/footers, bare page numbers and line-number columns. Returns lines removed."""
    n = len(pages)
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_key(l.text) for l in _edge_lines(page)})
    threshold = max(2, math.ceil(0.4 * n)) if n >= 2 else None
    removed = 0
    for page in pages:
        edge_ids = {id(l) for l in _edge_lines(page)}
        numeric_cols = _line_number_columns(page)
        for block in page.blocks:
            keep = []
            for line in block.lines:
                k = _key(line.text)
                drop = False
                if id(line) in edge_ids:
                    if threshold is not None and counts[k] >= threshold and len(k) > 0:
                        drop = True
                    elif _PAGE_NUMBER.match(line.text) and _in_margin(line, page):
                        drop = True
                if id(line) in numeric_cols:
                    drop = True
                if drop:
                    removed += 1
                else:
                    keep.append(line)
            block.lines = keep
        page.blocks = [b for b in page.blocks if b.lines or b.table]
    return removed


def _line_number_columns(page: PageLayout) -> set[int]:
    """Ids of lines that number the text lines (transcripts, legal pleadings): a column of
    small integers at one x position, mostly increasing."""
    numeric = [l for b in page.blocks for l in b.lines if re.fullmatch(r"\d{1,3}", l.text)]
    if len(numeric) < 5:
        return set()
    cols: dict[int, list[Line]] = defaultdict(list)
    for l in numeric:
        cols[round(l.x1 / 12)].append(l)
    out: set[int] = set()
    for group in cols.values():
        if len(group) < 5:
            continue
        group.sort(key=lambda l: l.y0)
        values = [int(l.text) for l in group]
        rising = sum(1 for a, b in zip(values, values[1:]) if b > a)
        if rising >= 0.8 * (len(values) - 1):
            out.update(id(l) for l in group)
    return out


# --- reading order ----------------------------------------------------------------------------

def _gutters(blocks: list[Block], width: float) -> list[tuple[float, float]]:
    """Vertical white-space channels between columns, from blocks narrower than half the text width."""
    if len(blocks) < 2:
        return []
    left = min(b.bbox[0] for b in blocks)
    right = max(b.bbox[2] for b in blocks)
    span = max(right - left, 1.0)
    narrow = [b for b in blocks if (b.bbox[2] - b.bbox[0]) < 0.55 * span]
    if len(narrow) < 2:
        return []
    intervals = sorted((b.bbox[0], b.bbox[2], b.bbox[3] - b.bbox[1]) for b in narrow)
    merged: list[list[float]] = []
    for x0, x1, h in intervals:
        if merged and x0 <= merged[-1][1] + 1.0:
            merged[-1][1] = max(merged[-1][1], x1)
            merged[-1][2] += h
        else:
            merged.append([x0, x1, h])
    if len(merged) < 2:
        return []
    total_h = max(b.bbox[3] for b in blocks) - min(b.bbox[1] for b in blocks)
    # a column must hold a real share of the text height, else it is a stray label
    cols = [m for m in merged if m[2] >= 0.15 * total_h]
    if len(cols) < 2:
        return []
    return [(a[1], b[0]) for a, b in zip(cols, cols[1:]) if b[0] - a[1] >= 4.0]


def reading_order(blocks: list[Block], width: float) -> list[Block]:
    """Order blocks: full-width blocks split the page into bands; inside a band, column by column."""
    if len(blocks) <= 1:
        return list(blocks)
    gutters = _gutters(blocks, width)
    if not gutters:
        return sorted(blocks, key=lambda b: (round(b.bbox[1]), b.bbox[0]))

    def crosses(b: Block) -> bool:
        x0, _, x1, _ = b.bbox
        return any(x0 < g0 - 1 and x1 > g1 + 1 for g0, g1 in gutters) or any(
            x0 < (g0 + g1) / 2 < x1 for g0, g1 in gutters)

    def column(b: Block) -> int:
        cx = (b.bbox[0] + b.bbox[2]) / 2
        return sum(1 for g0, g1 in gutters if cx > (g0 + g1) / 2)

    ordered: list[Block] = []
    band: list[Block] = []
    for b in sorted(blocks, key=lambda b: (b.bbox[1], b.bbox[0])):
        if crosses(b):
            ordered += sorted(band, key=lambda x: (column(x), x.bbox[1]))
            band = []
            ordered.append(b)
        else:
            band.append(b)
    ordered += sorted(band, key=lambda x: (column(x), x.bbox[1]))
    return ordered


# --- fonts ------------------------------------------------------------------------------------

def body_size(pages: list[PageLayout]) -> float:
    sizes: Counter[float] = Counter()
    for page in pages:
        for b in page.blocks:
            for l in b.lines:
                sizes[l.size] += len(l.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def body_is_bold(pages: list[PageLayout]) -> bool:
    bold = total = 0
    for page in pages:
        for b in page.blocks:
            for l in b.lines:
                total += len(l.text)
                bold += len(l.text) if l.bold else 0
    return total > 0 and bold / total > 0.5
