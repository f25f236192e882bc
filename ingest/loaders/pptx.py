"""PowerPoint .pptx: one heading per slide (its title), page = slide number; tables as Markdown; notes kept."""
from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.cleaning import clean_heading, clean_line, markdown_table
from ingest.errors import CorruptFile
from ingest.types import LoadOptions, ParsedDocument, Section


def _shapes(shapes):
    """Shapes in reading order (top to bottom, then left to right), groups flattened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    ordered = sorted(shapes, key=lambda s: ((s.top or 0) // 10000, s.left or 0))
    for shape in ordered:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _frame_text(frame) -> str:
    lines = []
    for para in frame.paragraphs:
        text = clean_line(para.text)
        if text:
            lines.append(("  " * (para.level or 0)) + text if para.level else text)
    return "\n".join(lines)


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        prs = Presentation(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise CorruptFile(str(path), f"not a readable .pptx presentation ({type(exc).__name__})") from None
    sections: list[Section] = []
    for number, slide in enumerate(prs.slides, start=1):
        title_shape = slide.shapes.title
        title = clean_heading(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
        path_ = (title or f"Slide {number}",)
        texts: list[str] = []
        for shape in _shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                if texts:
                    sections.append(Section("\n".join(texts), number, path_, "text", number))
                    texts = []
                rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                md = markdown_table(rows)
                if md:
                    sections.append(Section(md, number, path_, "table", number))
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                text = _frame_text(shape.text_frame)
                if text:
                    texts.append(text)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            note_text = _frame_text(notes) if notes is not None else ""
            if note_text:
                texts.append(note_text)
        if texts:
            sections.append(Section("\n".join(texts), number, path_, "text", number))
        elif title and not any(s.page == number for s in sections):
            sections.append(Section(title, number, path_, "text", number))
    return ParsedDocument(source=str(path), sections=sections, pages=len(prs.slides), format="pptx")
