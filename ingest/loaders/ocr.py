"""Optional OCR (RapidOCR, the `ocr` extra) for scanned pages and images.

The engine loads its ONNX models once per process (`engine()` is cached); when
rapidocr-onnxruntime is not installed every function degrades to "no OCR".
"""
from __future__ import annotations

import functools
import logging

from ingest.cleaning import clean_line
from ingest.pdf_layout import Block, Line

log = logging.getLogger(__name__)
OCR_DPI = 150
MIN_SCORE = 0.5


def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _engine():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def engine():
    """The shared RapidOCR engine, or None when the extra is not installed."""
    if not available():
        return None
    try:
        return _engine()
    except Exception as exc:  # broken install: behave as if absent, but say so in the log
        log.warning("RapidOCR could not start: %s", exc)
        return None


def ocr_image(eng, image) -> list[tuple[tuple[float, float, float, float], str]]:
    """[(bbox in image pixels, text)] for an image (numpy array, bytes or path), top to bottom."""
    result, _ = eng(image)
    out = []
    for box, text, score in result or []:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        out.append(((min(xs), min(ys), max(xs), max(ys)), str(text)))
    return out


def ocr_page(eng, page, number: int) -> list[Block]:
    """OCR one PDF page into one block of lines in page coordinates.

    Every OCR line gets the same font size (the median box height): box heights are too
    noisy to tell headings by, so only Chinese structural patterns make OCR headings.
    """
    import numpy as np

    pix = page.get_pixmap(dpi=OCR_DPI)
    img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
    if pix.n == 4:
        img = img[:, :, :3]
    elif pix.n == 1:
        img = np.repeat(img, 3, axis=2)
    scale = page.rect.width / pix.width
    items = ocr_image(eng, np.ascontiguousarray(img))
    boxes = [((x0 * scale, y0 * scale, x1 * scale, y1 * scale), clean_line(t)) for (x0, y0, x1, y1), t in items]
    boxes = [b for b in boxes if b[1]]
    if not boxes:
        return []
    heights = sorted(b[0][3] - b[0][1] for b in boxes)
    h = heights[len(heights) // 2]
    size = max(round(h * 0.8 * 2) / 2, 1.0)
    # rows: boxes whose vertical centres are within half a line of each other, left to right
    boxes.sort(key=lambda b: (b[0][1] + b[0][3]) / 2)
    rows: list[list] = []
    for box in boxes:
        cy = (box[0][1] + box[0][3]) / 2
        if rows and abs(cy - rows[-1][0]) < 0.5 * h:
            rows[-1][1].append(box)
        else:
            rows.append([cy, [box]])
    lines = []
    for _, row in rows:
        for (x0, y0, x1, y1), text in sorted(row, key=lambda b: b[0][0]):
            lines.append(Line(text, x0, y0, x1, y1, size, False, number))
    return [Block(lines)]


def ocr_bytes(data: bytes) -> str:
    """Text of an embedded image (docx/pptx pictures); '' when OCR is unavailable."""
    eng = engine()
    if eng is None:
        return ""
    try:
        items = ocr_image(eng, data)
    except Exception as exc:
        log.debug("OCR failed on an embedded image: %s", exc)
        return ""
    from ingest.cleaning import join_lines

    return join_lines([clean_line(t) for _, t in items])
