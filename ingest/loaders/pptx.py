"""PowerPoint .pptx: one section per slide (page = slide number, title as heading)."""
from __future__ import annotations

from pathlib import Path

from ingest.errors import CorruptFile
from ingest.loaders.tables import markdown_table
from ingest.types import LoadOptions, ParsedDocument, Section


def load_pptx(path: Path, options: LoadOptions) -> ParsedDocument:
    from pptx import Presentation

    try:
        prs = Presentation(str(path))
    except Exception as exc:
        raise CorruptFile(str(path), f"not a readable .pptx ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    for number, slide in enumerate(prs.slides, 1):
        title = ""
        if slide.shapes.title is not None and slide.shapes.title.has_text_frame:
            title = slide.shapes.title.text_frame.text.strip()
        parts = []
        for shape in slide.shapes:
            if shape == slide.shapes.title:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[c.text.strip() for c in r.cells] for r in shape.table.rows]
                if rows:
                    parts.append(markdown_table(rows))
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                text = shape.text_frame.text.strip()
                if text:
                    parts.append(text)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(notes)
        text = "\n".join(parts).strip()
        if text or title:
            sections.append(Section(text=text or title, page=number, heading_path=(title,) if title else ()))
    return ParsedDocument(source=str(path), sections=sections, pages=len(prs.slides), format="pptx")
