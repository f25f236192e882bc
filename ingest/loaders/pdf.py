"""PDF through PyMuPDF: reading-order text with page numbers, headings from font
size and Chinese structural patterns (编/章/节), tables as Markdown, repeated
headers/footers and page numbers removed, CJK line wraps joined without spaces,
OCR for image-only pages when RapidOCR is installed.
"""
from __future__ import annotations

import logging
import re
import statistics
from collections import Counter
from pathlib import Path

from ingest.errors import CorruptFile, EncryptedFile
from ingest.loaders.tables import markdown_table
from ingest.types import LoadOptions, ParsedDocument, Section

log = logging.getLogger(__name__)

_CJK_END = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_PAGE_NUMBER = re.compile(r"^\s*(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?(?:\s*[-–—])?\s*$"
                          r"|^\s*第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?\s*$", re.I)
_ZH_HEADING = re.compile(r"^第[一二三四五六七八九十百千零〇两\d]+(编|分编|章|节)(?:\s|$)")
_ZH_LEVEL = {"编": 1, "分编": 2, "章": 3, "节": 4}
OCR_EXTRA_HINT = "pip install 'zhida[ocr]' (rapidocr-onnxruntime)"


def _norm_line(text: str) -> str:
    return re.sub(r"\d+", "#", text.strip().lower())


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        elif _CJK_END.search(out) and _CJK_START.search(line):
            out += line
        else:
            out += " " + line
    return out


def _open(path: Path, options: LoadOptions):
    import pymupdf

    pymupdf.TOOLS.mupdf_warnings(reset=True)
    try:
        doc = pymupdf.open(str(path), filetype="pdf")
    except Exception as exc:
        raise CorruptFile(str(path), f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if doc.needs_pass:
        if not options.password:
            doc.close()
            raise EncryptedFile(str(path), "the PDF is encrypted; give its password with --password")
        if not doc.authenticate(options.password):
            doc.close()
            raise EncryptedFile(str(path), "the PDF is encrypted and the password given is wrong")
    return doc


def _page_lines(page, table_rects) -> list[dict]:
    """Text lines of a page in reading order: (text, size, bold, y0, block no)."""
    data = page.get_text("dict", flags=0)
    lines = []
    for bno, block in enumerate(data.get("blocks", [])):
        if block.get("type") != 0:
            continue
        for line in block.get("lines", []):
            spans = [s for s in line.get("spans", []) if s.get("text", "").strip()]
            if not spans:
                continue
            x0, y0, x1, y1 = line["bbox"]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if any(r.x0 <= cx <= r.x1 and r.y0 <= cy <= r.y1 for r in table_rects):
                continue
            text = "".join(s["text"] for s in line["spans"])
            size = max(s["size"] for s in spans)
            bold = all(("bold" in s.get("font", "").lower()) or (s.get("flags", 0) & 16) for s in spans)
            lines.append({"text": text.strip(), "size": round(size, 1), "bold": bool(bold), "y0": y0, "x0": x0,
                          "block": bno})
    return lines


def _ocr_page(page, engine) -> str:
    import numpy as np
    import pymupdf

    pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
    img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width)
    result, _ = engine(img)
    if not result:
        return ""
    result.sort(key=lambda r: (round(r[0][0][1] / 10), r[0][0][0]))
    return _join_lines([r[1] for r in result])


def _ocr_engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    return RapidOCR()


def load_pdf(path: Path, options: LoadOptions) -> ParsedDocument:
    doc = _open(path, options)
    warnings: list[str] = []
    repaired = bool(getattr(doc, "is_repaired", False))
    try:
        n_pages = doc.page_count
        if n_pages == 0:
            raise CorruptFile(str(path), "the PDF has no pages")
        pages: list[list[dict]] = []
        tables: list[list[tuple[float, str]]] = []
        image_only: list[int] = []
        for pno in range(n_pages):
            try:
                page = doc.load_page(pno)
            except Exception as exc:
                warnings.append(f"{path.name}: page {pno + 1} could not be read ({exc})")
                pages.append([])
                tables.append([])
                continue
            page_tables: list[tuple[float, str]] = []
            rects = []
            try:
                # find_tables costs ~0.5 s a page; only ruled pages (vector drawings) are worth it
                found = page.find_tables() if len(page.get_cdrawings()) >= 2 else None
                for t in (found.tables if found else []):
                    rows = t.extract()
                    rows = [[c or "" for c in r] for r in rows if r and any(c for c in r)]
                    if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                        page_tables.append((t.bbox[1], markdown_table(rows)))
                        import pymupdf

                        rects.append(pymupdf.Rect(t.bbox))
            except Exception as exc:  # table finding is an enhancement, never fatal
                log.debug("table detection failed on page %d of %s: %s", pno + 1, path, exc)
            lines = _page_lines(page, rects)
            if not lines and not page_tables and page.get_images():
                image_only.append(pno)
            pages.append(lines)
            tables.append(page_tables)

        ocr_text: dict[int, str] = {}
        if image_only:
            engine = _ocr_engine() if options.ocr else None
            if engine is None:
                warnings.append(f"{path.name}: {len(image_only)} page(s) are scanned images without a text layer; "
                                f"install OCR support to read them: {OCR_EXTRA_HINT}")
            else:
                for pno in image_only:
                    ocr_text[pno] = _ocr_page(doc.load_page(pno), engine)
    finally:
        doc.close()
    import pymupdf

    problems = pymupdf.TOOLS.mupdf_warnings(reset=True).strip()
    if problems or repaired:
        first = problems.splitlines()[0] if problems else "structure repaired"
        warnings.append(f"{path.name}: the PDF is damaged and was repaired by PyMuPDF ({first}); check the text")

    # Repeated headers/footers: first/last two lines that recur on many pages.
    edge = Counter()
    for lines in pages:
        for line in lines[:2] + lines[-2:]:
            edge[_norm_line(line["text"])] += 1
    threshold = max(3, int(0.5 * len(pages)))
    repeated = {t for t, c in edge.items() if c >= threshold and len(pages) >= 3}

    sizes = [line["size"] for lines in pages for line in lines for _ in range(max(1, len(line["text"]) // 10))]
    body = statistics.median(sizes) if sizes else 0.0
    heading_sizes = sorted({line["size"] for lines in pages for line in lines
                            if body and line["size"] >= body * 1.15 and len(line["text"]) <= 80}, reverse=True)[:3]

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []

    def add_paragraphs(paragraphs: list[list[str]], page_no: int) -> None:
        """Paragraphs under one heading on one page form one section, a newline between paragraphs."""
        text = "\n".join(_join_lines(p) for p in paragraphs if p).strip()
        if text:
            sections.append(Section(text=text, page=page_no, heading_path=tuple(h for _, h in stack)))

    for pno, lines in enumerate(pages):
        page_no = pno + 1
        lines = [ln for i, ln in enumerate(lines)
                 if not ((i < 2 or i >= len(lines) - 2) and _norm_line(ln["text"]) in repeated)
                 and not _PAGE_NUMBER.match(ln["text"])
                 and not re.fullmatch(r"\d{1,2}", ln["text"].strip())]
        table_iter = sorted(tables[pno])
        paragraphs: list[list[str]] = []
        current: list[str] = []
        last_block = None
        for ln in lines:
            while table_iter and table_iter[0][0] <= ln["y0"]:
                if current:
                    paragraphs.append(current)
                    current = []
                add_paragraphs(paragraphs, page_no)
                paragraphs = []
                sections.append(Section(text=table_iter.pop(0)[1], page=page_no,
                                        heading_path=tuple(h for _, h in stack), kind="table"))
            text = ln["text"]
            zh = _ZH_HEADING.match(text)
            level = None
            if zh and len(text) <= 40:
                level = _ZH_LEVEL[zh.group(1)]
            elif (ln["size"] in heading_sizes and len(text) <= 80 and not text.endswith(("。", ".", "，", ","))
                  and re.search(r"[^\W\d_]", text)):
                level = 5 + heading_sizes.index(ln["size"])
            if level is not None:
                if current:
                    paragraphs.append(current)
                    current = []
                add_paragraphs(paragraphs, page_no)
                paragraphs = []
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, text))
                last_block = ln["block"]
                continue
            if last_block is not None and ln["block"] != last_block and current:
                paragraphs.append(current)
                current = []
            current.append(text)
            last_block = ln["block"]
        if current:
            paragraphs.append(current)
        add_paragraphs(paragraphs, page_no)
        for _, table in table_iter:
            sections.append(Section(text=table, page=page_no, heading_path=tuple(h for _, h in stack), kind="table"))
        if pno in ocr_text and ocr_text[pno].strip():
            sections.append(Section(text=ocr_text[pno].strip(), page=page_no, heading_path=tuple(h for _, h in stack)))
    return ParsedDocument(source=str(path), sections=sections, warnings=warnings, pages=len(pages), format="pdf")
