"""PDF: PyMuPDF text in reading order, tables as Markdown (pdfplumber), OCR for scanned pages.

Per page: text lines -> header/footer/page-number/line-number removal ->
tables found on pages with ruling lines (their text leaves the prose) ->
blocks ordered column by column -> paragraphs (wrapped lines joined, no spaces
inside Chinese text, hyphenation mended, paragraphs running on across pages
joined) -> headings from font size/bold and Chinese structural patterns.
"""
from __future__ import annotations

import re
from pathlib import Path

from ingest.cleaning import is_cjk, join_lines
from ingest.errors import CorruptFile, EncryptedFile
from ingest.loaders import ocr as ocr_mod
from ingest.loaders import pdf_tables
from ingest.pdf_layout import (
    Block,
    Line,
    PageLayout,
    blocks_from_dict,
    body_is_bold,
    body_size,
    reading_order,
    remove_furniture,
)
from ingest.structure import SectionBuilder, cn_heading_level, is_article_start, is_toc_title
from ingest.types import LoadOptions, ParsedDocument

_BULLET = re.compile(r"^([•●○■□◆◇▪►\-–*]|\(?\d{1,2}[.)]|（[一二三四五六七八九十\d]+）|\([a-z]\)|[一二三四五六七八九十]+、)\s*")
_TERMINAL = tuple("。！？；：.!?;:") + ("。”", "。」")
MIN_PAGE_TEXT = 12  # characters; below this a page with a big image counts as scanned


def _open(path: Path, options: LoadOptions):
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    if hasattr(pymupdf.TOOLS, "mupdf_display_warnings"):
        pymupdf.TOOLS.mupdf_display_warnings(False)
    pymupdf.TOOLS.mupdf_warnings(reset=True)
    try:
        doc = pymupdf.open(str(path), filetype="pdf")
    except Exception as exc:  # FileDataError, RuntimeError, ...
        raise CorruptFile(str(path), f"damaged PDF that cannot be repaired ({_short(exc)})") from None
    if doc.needs_pass:
        if not options.password:
            doc.close()
            raise EncryptedFile(str(path), "the PDF is password-protected; give the password (--password)")
        if not doc.authenticate(options.password):
            doc.close()
            raise EncryptedFile(str(path), "wrong password for this PDF")
    if doc.page_count == 0:
        doc.close()
        raise CorruptFile(str(path), "the PDF has no pages")
    return doc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _image_coverage(page) -> float:
    area = abs(page.rect) or 1.0
    covered = 0.0
    try:
        for info in page.get_image_info():
            x0, y0, x1, y1 = info["bbox"]
            covered += max(0.0, x1 - x0) * max(0.0, y1 - y0)
    except Exception:
        return 0.0
    return min(covered / area, 1.0)


# MuPDF also warns about things that are not damage (a glyph its font cannot encode while extracting
# text from a perfectly good CJK PDF); only these words mean it had to repair the file.
_DAMAGE_WORDS = ("repair", "xref", "zlib", "broken", "syntax", "expected", "trailer", "eof", "corrupt", "damaged",
                 "invalid", "object", "stream")


def _is_damage(warning: str) -> bool:
    w = warning.strip().lower()
    return bool(w) and any(word in w for word in _DAMAGE_WORDS)


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    import pymupdf

    doc = _open(path, options)
    warnings: list[str] = []
    try:
        pages, scanned, ocr_pages, failed = [], [], [], []
        ocr_engine = ocr_mod.engine() if options.ocr else None
        for index in range(doc.page_count):
            number = index + 1
            try:
                page = doc[index]
                flags = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
                blocks, width, height = blocks_from_dict(page.get_text("dict", flags=flags), number)
                layout = PageLayout(number, width, height, blocks)
                chars = sum(len(l.text) for b in blocks for l in b.lines)
                if chars < MIN_PAGE_TEXT and _image_coverage(page) > 0.3:
                    if ocr_engine is not None:
                        layout.blocks = ocr_mod.ocr_page(ocr_engine, page, number) or blocks
                        ocr_pages.append(number)
                    else:
                        scanned.append(number)
                elif pdf_tables.has_ruling_lines(page):
                    layout.blocks = blocks  # tables are merged in below, once all pages are read
                    layout.table_candidate = True  # type: ignore[attr-defined]
                pages.append(layout)
            except Exception as exc:  # one unreadable page must not sink the document
                failed.append(number)
                warnings.append(f"page {number} could not be read ({_short(exc)})")
        if failed and len(failed) == doc.page_count:
            raise CorruptFile(str(path), f"no page could be read ({warnings[0]})")

        candidates = [p.number for p in pages if getattr(p, "table_candidate", False)]
        if candidates:
            tables = pdf_tables.find_tables(path, candidates, options.password, warnings)
            for layout in pages:
                found = tables.get(layout.number)
                if found:
                    pdf_tables.merge_tables(layout, found)

        remove_furniture(pages)
        sections = _assemble(pages)
        if scanned:
            what = "no OCR was requested" if not options.ocr and ocr_mod.available() else \
                "install OCR support with `pip install zhida[ocr]` to read them"
            warnings.append(
                f"{len(scanned)} page(s) are scanned images without a text layer ({_ranges(scanned)}); {what}"
            )
        if ocr_pages:
            warnings.append(f"OCR read {len(ocr_pages)} scanned page(s) ({_ranges(ocr_pages)}); check the text")
        repaired = [w for w in pymupdf.TOOLS.mupdf_warnings(reset=True).splitlines() if _is_damage(w)]
        if repaired or getattr(doc, "is_repaired", False):
            detail = f" ({repaired[0].strip()[:120]})" if repaired else ""
            warnings.append(f"the PDF is damaged; PyMuPDF repaired what it could{detail}")
        return ParsedDocument(source=str(path), sections=sections, warnings=warnings,
                              pages=doc.page_count, format="pdf")
    finally:
        doc.close()


def _ranges(numbers: list[int]) -> str:
    out, start, prev = [], None, None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else f"{start}")
    return "pages " + ", ".join(out) if len(numbers) > 1 else f"page {numbers[0]}"


# --- assembly -------------------------------------------------------------------------------------

class _Fonts:
    def __init__(self, pages: list[PageLayout]):
        self.body = body_size(pages)
        self.body_bold = body_is_bold(pages)
        sizes = sorted({l.size for p in pages for b in p.blocks for l in b.lines if self.is_big(l)}, reverse=True)
        self.rank = {s: i for i, s in enumerate(sizes)}
        self.bold_level = (len(sizes) + 1) * 10 - 5

    def is_big(self, line: Line) -> bool:
        return line.size >= self.body * 1.15 and any(c.isalnum() or is_cjk(c) for c in line.text)

    def level(self, line: Line, block: Block) -> float | None:
        if self.is_big(line):
            return self.rank[line.size] * 10 + 5
        if line.bold and not self.body_bold and line.size >= self.body * 0.95 and len(block.lines) <= 3 \
                and all(l.bold for l in block.lines) and not line.text.rstrip().endswith((".", ",", ";")) \
                and any(c.isalpha() or is_cjk(c) for c in line.text):
            return self.bold_level
        return None


def _starts_item(text: str) -> bool:
    return bool(_BULLET.match(text)) or is_article_start(text)


def _pitch(ordered: list[Block]) -> float:
    """Typical baseline-to-baseline distance of body lines on a page."""
    deltas = []
    prev: Line | None = None
    for block in ordered:
        for line in block.lines:
            if prev is not None and line.size == prev.size:
                dy = line.y1 - prev.y1
                if 0 < dy < 3 * line.height:
                    deltas.append(round(dy, 1))
            prev = line
    if not deltas:
        return 0.0
    deltas.sort()
    return deltas[len(deltas) // 2]


def _assemble(pages: list[PageLayout]) -> list:
    fonts = _Fonts(pages)
    builder = SectionBuilder()
    last_line: Line | None = None  # last body line, for paragraphs running on across pages/columns
    last_right = 0.0
    pending_notes: list[Block] = []

    def emit_notes() -> None:
        for note in pending_notes:
            para_lines: list[Line] = []
            for line in note.lines:
                if para_lines and _new_paragraph(para_lines[-1], line, 0.0, note.bbox[0], note.bbox[2]):
                    builder.block(join_lines([l.text for l in para_lines]), para_lines[0].page)
                    para_lines = []
                para_lines.append(line)
            if para_lines:
                builder.block(join_lines([l.text for l in para_lines]), para_lines[0].page)
        pending_notes.clear()

    for page in pages:
        para: list[Line] = []
        heading: list[Line] = []
        heading_level: float | None = None
        first_para_on_page = True
        carried = last_line  # the previous page's last body line
        ordered = reading_order(page.blocks, page.width)
        # footnotes (small print in the lower half) wait until the section ends, so a paragraph
        # running from one column (or page) into the next is not cut in two by them
        notes = [b for b in ordered if _is_footnote(b, fonts.body, page.height)]
        ordered = [b for b in ordered if not any(b is n for n in notes)]
        pitch = _pitch(ordered)

        def flush_para() -> None:
            nonlocal first_para_on_page
            if not para:
                return
            text = join_lines([l.text for l in para])
            runs_on = (
                first_para_on_page and builder.has_pending and carried is not None
                and carried.page != para[0].page and not carried.text.endswith(_TERMINAL)
                and not _starts_item(para[0].text) and cn_heading_level(para[0].text) is None
            )
            if runs_on:
                builder.continue_paragraph(text, para[0].page)
            else:
                builder.block(text, para[0].page)
            first_para_on_page = False
            para.clear()

        def flush_heading() -> None:
            nonlocal heading_level, first_para_on_page
            if not heading:
                return
            flush_para()
            emit_notes()
            text = join_lines([l.text for l in heading])
            if len(text) > 150 or is_toc_title(text) or cn_heading_level(text) is not None:
                builder.block(text, heading[0].page)  # patterns decide their own level
            else:
                builder.block(text, heading[0].page, style_level=heading_level)
            heading.clear()
            heading_level = None
            first_para_on_page = False

        for block in ordered:
            if block.table is not None:
                flush_heading()
                flush_para()
                emit_notes()
                builder.table(block.table, page.number)
                first_para_on_page = False
                continue
            left = min(l.x0 for l in block.lines)
            right = max(l.x1 for l in block.lines)
            for i, line in enumerate(block.lines):
                level = fonts.level(line, block)
                if level is not None:
                    if heading and (heading_level != level or line.y0 - heading[-1].y1 > line.height
                                    or cn_heading_level(line.text) is not None
                                    or cn_heading_level(heading[0].text) is not None):
                        flush_heading()
                    flush_para()
                    heading.append(line)
                    heading_level = level
                    continue
                flush_heading()
                if cn_heading_level(line.text) is not None or is_toc_title(line.text):
                    flush_para()
                    emit_notes()
                    builder.block(line.text, line.page)
                    first_para_on_page = False
                    continue
                if para:
                    prev_right = right if i > 0 else last_right
                    if _new_paragraph(para[-1], line, pitch, left, prev_right):
                        flush_para()
                para.append(line)
                last_line = line
            last_right = right
        flush_heading()
        flush_para()
        pending_notes.extend(notes)
    emit_notes()
    return builder.build()


def _is_footnote(block: Block, body: float, page_height: float) -> bool:
    if block.table is not None or not block.lines:
        return False
    return block.bbox[1] > 0.5 * page_height and max(l.size for l in block.lines) <= 0.8 * body \
        and len(block.lines) >= 1 and re.match(r"^[\d*†‡§]{1,3}\s*\S", block.lines[0].text) is not None


def _new_paragraph(prev: Line, line: Line, pitch: float, left: float, prev_right: float) -> bool:
    """Does `line` open a new paragraph after `prev`?"""
    if _starts_item(line.text):
        return True
    if line.page != prev.page or line.y0 < prev.y0 - 2 * line.height:
        return prev.text.endswith(_TERMINAL)  # next column/page: runs on unless the sentence ended
    if abs(line.size - prev.size) >= 1.0:
        return True
    dy = line.y1 - prev.y1
    if dy > max(1.35 * pitch, 1.6 * line.height) if pitch else dy > 1.8 * line.height:
        return True
    if line.x0 - prev.x0 > 0.9 * line.size and line.x0 - left > 0.9 * line.size:
        return True  # first-line indent
    if prev.text.endswith(_TERMINAL) and prev.x1 < prev_right - 3 * max(prev.size, 1.0):
        return True  # the previous line stopped short after a full stop
    return False
