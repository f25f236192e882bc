"""Word .docx: headings (Heading N / Title styles, outline levels, Chinese patterns), paragraphs,
list items and tables as Markdown, in document order (walks the body XML)."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingest.cleaning import clean_line, has_words, markdown_table
from ingest.errors import CorruptFile
from ingest.loaders import ocr
from ingest.structure import SectionBuilder
from ingest.types import LoadOptions, ParsedDocument

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A_BLIP = "{http://schemas.openxmlformats.org/drawingml/2006/main}blip"
_R_EMBED = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed"
_HEADING_STYLE = re.compile(r"^(heading|标题|titre|überschrift)\s*(\d)$", re.I)


def _style_level(style, cache: dict) -> float | None:
    """Heading level of a paragraph style (following based-on), in SectionBuilder units (10 per level)."""
    if style is None:
        return None
    key = style.style_id
    if key in cache:
        return cache[key]
    level: float | None = None
    seen = set()
    s = style
    while s is not None and s.style_id not in seen:
        seen.add(s.style_id)
        name = (s.name or "").strip()
        m = _HEADING_STYLE.match(name)
        if m:
            level = int(m.group(2)) * 10
            break
        if name.lower() in ("title", "标题"):
            level = 5
            break
        ppr = s.element.pPr
        outline = ppr.find(f"{_W}outlineLvl") if ppr is not None else None
        if outline is not None:
            val = int(outline.get(f"{_W}val", "9"))
            if val < 9:
                level = (val + 1) * 10
                break
        s = s.base_style
    cache[key] = level
    return level


def _paragraph_level(p, style_cache: dict) -> float | None:
    ppr = p._p.pPr
    if ppr is not None:
        outline = ppr.find(f"{_W}outlineLvl")
        if outline is not None:
            val = int(outline.get(f"{_W}val", "9"))
            if val < 9:
                return (val + 1) * 10
    try:
        style = p.style
    except (KeyError, ValueError):
        return None
    return _style_level(style, style_cache)


def _is_list_item(p) -> bool:
    ppr = p._p.pPr
    if ppr is not None and ppr.find(f"{_W}numPr") is not None:
        return True
    try:
        name = (p.style.name or "").lower() if p.style is not None else ""
    except (KeyError, ValueError):
        return False
    return name.startswith("list") or "列表" in name


def _table_rows(table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, last = [], None
        for cell in row.cells:
            if cell._tc is last:  # a merged cell repeats: keep it once
                continue
            last = cell._tc
            cells.append(" ".join(clean_line(p.text) for p in cell.paragraphs if p.text.strip()))
        rows.append(cells)
    return rows


def _ocr_image(document, rid: str | None) -> str:
    if not rid:
        return ""
    try:
        blob = document.part.related_parts[rid].blob
    except (KeyError, AttributeError):
        return ""
    return ocr.ocr_bytes(blob)


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise CorruptFile(str(path), f"not a readable .docx document ({type(exc).__name__})") from None

    builder = SectionBuilder()
    style_cache: dict = {}
    empty_tables = [0]
    images = [0, 0]  # pictures seen, pictures OCR read text from
    use_ocr = options.ocr and ocr.available()

    def visit(container) -> None:
        for child in container.iterchildren():
            tag = child.tag
            if tag == f"{_W}p":
                p = Paragraph(child, document._body)
                text = clean_line(p.text.replace("\n", " "))
                for blip in child.iter(_A_BLIP):
                    images[0] += 1
                    image_text = _ocr_image(document, blip.get(_R_EMBED)) if use_ocr else ""
                    if image_text:
                        images[1] += 1
                        builder.block(image_text)
                if not text:
                    continue
                level = _paragraph_level(p, style_cache)
                if level is not None and len(text) <= 200:
                    builder.block(text, style_level=level)
                elif _is_list_item(p):
                    builder.block("- " + text)
                else:
                    builder.block(text)
            elif tag == f"{_W}tbl":
                md = markdown_table(_table_rows(Table(child, document._body)), keep_empty=True)
                if md and not has_words(md):
                    empty_tables[0] += 1
                builder.table(md)
            elif tag == f"{_W}sdt":
                content = child.find(f"{_W}sdtContent")
                if content is not None:
                    visit(content)

    try:
        visit(document.element.body)
    except (KeyError, ValueError) as exc:
        raise CorruptFile(str(path), f"document body is damaged ({type(exc).__name__})") from None
    warnings = []
    if images[0] and not use_ocr:
        hint = "OCR is switched off" if ocr.available() else "install OCR support with `pip install zhida[ocr]` to read it"
        warnings.append(f"{images[0]} image(s) were skipped; any text inside them is not read ({hint})")
    elif images[1]:
        warnings.append(f"OCR read text from {images[1]} of {images[0]} image(s); check the text")
    if empty_tables[0]:
        warnings.append(f"{empty_tables[0]} table(s) have no text in any cell; kept as empty Markdown grids")
    return ParsedDocument(source=str(path), sections=builder.build(), warnings=warnings, format="docx")
