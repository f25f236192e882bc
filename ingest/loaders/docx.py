"""Word .docx: headings as the heading path; paragraphs, list items and tables in document order."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingest.errors import CorruptFile
from ingest.loaders.tables import markdown_table
from ingest.types import LoadOptions, ParsedDocument, Section

_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)


def _heading_level(paragraph) -> int | None:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(style.strip())
    if m:
        return int(m.group(1))
    ppr = paragraph._p.pPr
    if ppr is not None:
        lvl = ppr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}outlineLvl")
        if lvl is not None:
            try:
                return int(lvl.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val")) + 1
            except (TypeError, ValueError):
                return None
    return None


def _is_list(paragraph) -> bool:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    return "list" in style.lower() or paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None


def load_docx(path: Path, options: LoadOptions) -> ParsedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptFile(str(path), f"not a readable .docx ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:
        raise CorruptFile(str(path), f"python-docx could not open it ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush():
        text = "\n".join(buf).strip()
        if text:
            sections.append(Section(text=text, heading_path=tuple(h for _, h in stack)))
        buf.clear()

    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            level = _heading_level(para)
            if level is not None and len(text) <= 200:
                flush()
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, text))
            else:
                buf.append(("- " + text) if _is_list(para) else text)
        elif tag == "tbl":
            flush()
            table = Table(child, document)
            rows = []
            for row in table.rows:
                cells, last = [], None
                for cell in row.cells:
                    if cell._tc is last:  # merged cells repeat; keep one
                        continue
                    last = cell._tc
                    cells.append(cell.text.strip())
                rows.append(cells)
            rows = [r for r in rows if any(r)]
            if rows:
                sections.append(Section(text=markdown_table(rows), heading_path=tuple(h for _, h in stack),
                                        kind="table"))
    flush()
    warnings = []
    if not sections:
        n_tables = len(document.tables)
        n_images = len(document.inline_shapes)
        warnings.append(f"{path.name}: no text in the document ({n_tables} table(s) with empty cells, "
                        f"{n_images} image(s))")
    return ParsedDocument(source=str(path), sections=sections, warnings=warnings, format="docx")
