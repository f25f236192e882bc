"""Tables in PDFs: pages with ruling lines go through pdfplumber's table finder; each table
becomes a Markdown pseudo-block placed where the table sits, and its text leaves the prose."""
from __future__ import annotations

from pathlib import Path

from ingest.cleaning import clean_line, markdown_table
from ingest.pdf_layout import Block, PageLayout


def has_ruling_lines(page) -> bool:
    """Cheap test (PyMuPDF vector graphics) before the slow table finder runs."""
    horizontal = vertical = 0
    try:
        drawings = page.get_drawings()
    except Exception:
        return False
    for path in drawings:
        for item in path.get("items", []):
            kind = item[0]
            if kind == "l":
                p1, p2 = item[1], item[2]
                if abs(p1.y - p2.y) < 1.0 and abs(p1.x - p2.x) > 5:
                    horizontal += 1
                elif abs(p1.x - p2.x) < 1.0 and abs(p1.y - p2.y) > 5:
                    vertical += 1
            elif kind == "re":
                r = item[1]
                if r.height < 2.0 and r.width > 5:
                    horizontal += 1
                elif r.width < 2.0 and r.height > 5:
                    vertical += 1
                elif r.width > 5 and r.height > 5:
                    horizontal += 2
                    vertical += 2
        if horizontal >= 3 and vertical >= 3:
            return True
    return False


def _expand_stacked(row: list[str]) -> list[list[str]]:
    """pdfplumber sometimes returns five table rows as one with newline-joined cells."""
    split = [c.split("\n") if c else [] for c in row]
    counts = {len(s) for s in split if s}
    if len(counts) == 1 and split and split[0] and len(split[0]) > 1:
        k = counts.pop()
        return [[(s[i] if s else "") for s in split] for i in range(k)]
    return [[" ".join(c.split("\n")) for c in row]]


def table_markdown(raw: list[list[str | None]]) -> tuple[str, str | None]:
    """(Markdown, caption) for one extracted table; ('', None) when it is not a real table."""
    rows = [[clean_line(c) if c else "" for c in (r or [])] for r in raw]
    rows = [[("\n".join(clean_line(x) for x in (raw_c or "").split("\n") if x.strip())) for raw_c in r]
            for r in raw]
    caption_parts = []
    while rows and sum(1 for c in rows[0] if c) == 1 and len(rows) > 2 and len(rows[0]) > 2:
        caption_parts.append(" ".join(next(c for c in rows[0] if c).split("\n")))
        rows = rows[1:]
    if len(rows) < 2:
        return "", None
    header = [" ".join(c.split("\n")) for c in rows[0]]
    body: list[list[str]] = []
    for r in rows[1:]:
        body += _expand_stacked(r)
    filled = [r for r in body if sum(1 for c in r if c) >= 1]
    width = max(len(r) for r in [header] + filled)
    if width < 2 or sum(1 for r in filled for c in r if c) < 3:
        return "", None
    return markdown_table([header] + filled), (" ".join(caption_parts) or None)


def find_tables(path: Path, pages: list[int], password: str | None, warnings: list[str]) -> dict[int, list]:
    """{page number: [(bbox, markdown, caption)]} for the given 1-based pages."""
    try:
        import pdfplumber
    except ImportError:  # pragma: no cover - a declared dependency
        return {}
    found: dict[int, list] = {}
    try:
        with pdfplumber.open(str(path), password=password or "") as pdf:
            for number in pages:
                if number - 1 >= len(pdf.pages):
                    continue
                page = pdf.pages[number - 1]
                x_off, y_off = page.bbox[0], page.bbox[1]
                for table in page.find_tables():
                    md, caption = table_markdown(table.extract())
                    if not md:
                        continue
                    x0, top, x1, bottom = table.bbox
                    found.setdefault(number, []).append(((x0 - x_off, top - y_off, x1 - x_off, bottom - y_off), md, caption))
    except Exception as exc:  # tables are a bonus: keep the prose if pdfplumber chokes
        warnings.append(f"table detection failed; tables are left as plain text ({type(exc).__name__})")
    return found


def merge_tables(layout: PageLayout, tables: list) -> None:
    """Replace the lines inside each table's box by one Markdown pseudo-block."""
    boxes = []
    for bbox, md, caption in tables:
        x0, y0, x1, y1 = bbox
        boxes.append((x0 - 1, y0 - 1, x1 + 1, y1 + 1))
        text = md if not caption else f"{caption}\n\n{md}"
        layout.blocks.append(Block(lines=[], table=text, bbox_=bbox, caption=caption))
    for block in layout.blocks:
        if block.table is not None:
            continue
        block.lines = [
            l for l in block.lines
            if not any(b[0] <= (l.x0 + l.x1) / 2 <= b[2] and b[1] <= l.cy <= b[3] for b in boxes)
        ]
    layout.blocks = [b for b in layout.blocks if b.lines or b.table is not None]
