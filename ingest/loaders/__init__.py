"""Loader registry: the format is decided by sniffing the first bytes, then the suffix.

A `.pdf` that is really HTML is parsed as HTML; a binary file named `.txt` is
refused instead of being fed to a text decoder.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable

from ingest.errors import CorruptFile, IngestError, UnsupportedFile
from ingest.types import LoadOptions, ParsedDocument

SUFFIX_FORMATS = {
    ".pdf": "pdf", ".docx": "docx", ".txt": "txt", ".text": "txt", ".log": "txt", ".md": "md",
    ".markdown": "md", ".html": "html", ".htm": "html", ".xhtml": "html", ".csv": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".pptx": "pptx", ".doc": "doc", ".ppt": "ppt",
}
_TEXT_FORMATS = {"txt", "md", "csv", "html"}


def _loader(fmt: str) -> Callable[[Path, LoadOptions], ParsedDocument]:
    if fmt == "pdf":
        from ingest.loaders.pdf import load_pdf
        return load_pdf
    if fmt == "docx":
        from ingest.loaders.docx import load_docx
        return load_docx
    if fmt == "pptx":
        from ingest.loaders.pptx import load_pptx
        return load_pptx
    if fmt == "xlsx":
        from ingest.loaders.tables import load_xlsx
        return load_xlsx
    if fmt == "csv":
        from ingest.loaders.tables import load_csv
        return load_csv
    if fmt == "html":
        from ingest.loaders.html import load_html
        return load_html
    if fmt == "md":
        from ingest.loaders.text import load_markdown
        return load_markdown
    if fmt == "txt":
        from ingest.loaders.text import load_txt
        return load_txt
    if fmt in ("doc", "ppt"):
        from ingest.loaders.legacy import load_legacy
        return load_legacy
    raise KeyError(fmt)


def sniff_format(path: Path) -> str | None:
    """The format the bytes say, or None when they say nothing definite."""
    with open(path, "rb") as fh:
        head = fh.read(2048)
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            return "zip-corrupt"
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "ole"  # legacy Office container
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:512]:
        return "html"
    return None


def resolve_format(path: Path) -> str:
    suffix_fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    sniffed = sniff_format(path)
    if sniffed == "zip-corrupt":
        if suffix_fmt in ("docx", "xlsx", "pptx"):
            raise CorruptFile(str(path), f"truncated or damaged {suffix_fmt} (broken zip archive)")
        raise UnsupportedFile(str(path), "a damaged zip archive, not a document")
    if sniffed == "ole":
        if suffix_fmt in ("doc", "ppt"):
            return suffix_fmt
        raise UnsupportedFile(str(path), "a legacy Office file (.doc/.xls/.ppt); save it as .docx/.xlsx/.pptx")
    if sniffed in ("pdf", "docx", "xlsx", "pptx"):
        return sniffed
    if sniffed == "zip":
        raise UnsupportedFile(str(path), "a zip archive; unpack it and ingest the files inside")
    if sniffed == "html" and suffix_fmt in ("html", "pdf", "docx", "xlsx", "pptx", "txt", None):
        return "html"
    if suffix_fmt in ("pdf", "docx", "xlsx", "pptx"):
        raise CorruptFile(str(path), f"named .{suffix_fmt} but its content is not a {suffix_fmt} file")
    if suffix_fmt is None:
        raise UnsupportedFile(str(path), f"unsupported file type '{path.suffix or '(no suffix)'}'; supported: "
                                         + ", ".join(sorted(SUFFIX_FORMATS)))
    return suffix_fmt


def load_by_format(path: Path, fmt: str, options: LoadOptions) -> ParsedDocument:
    try:
        return _loader(fmt)(path, options)
    except IngestError:
        raise
    except MemoryError as exc:
        raise CorruptFile(str(path), "ran out of memory while parsing") from exc
    except Exception as exc:  # a library failing on a bad file fails that file only
        raise CorruptFile(str(path), f"{fmt} parser failed ({type(exc).__name__}: {str(exc)[:200]})") from exc
