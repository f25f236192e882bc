"""Ingest: files in, `Section`s and `Chunk`s out.

    load_document(path, options) -> ParsedDocument   # raises IngestError subclasses
    chunk_document(doc, settings, doc_sha256) -> list[Chunk]
    supported_suffixes() -> frozenset[str]
    sniff_format(path) -> str | None

The format is chosen by the file's bytes first and its suffix second, so a
`.pdf` that is really HTML is parsed as HTML and a text file named `.docx` is
refused instead of crashing a parser. This package imports nothing from
`knowledge`, `retrieval` or `app`.
"""
from __future__ import annotations

import importlib
import os
import stat
from dataclasses import replace
from pathlib import Path

from ingest.chunking import chunk_document
from ingest.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    FileTooLarge,
    IngestError,
    UndecodableFile,
    UnsupportedFile,
)
from ingest.sniff import sniff_format
from ingest.types import Chunk, ChunkSettings, LoadOptions, ParsedDocument, Section

# Which loaders a failure was recorded under. Bump it when a loader starts reading files it refused (or
# fails them for a reason that may no longer hold): a knowledge base then retries, once, every failed
# file recorded under a lower number, instead of keeping it failed until the file itself changes.
# 2: text with a few stray control characters is text (ingest.encoding.MAX_CONTROL_SHARE).
PARSERS_VERSION = 2

__all__ = [
    "load_document", "chunk_document", "supported_suffixes", "sniff_format", "detect_format",
    "Chunk", "ChunkSettings", "LoadOptions", "ParsedDocument", "Section",
    "IngestError", "UnsupportedFile", "CorruptFile", "EncryptedFile", "EmptyFile",
    "FileTooLarge", "UndecodableFile", "MissingFile", "PARSERS_VERSION",
]


class MissingFile(IngestError):
    """The path does not exist (or vanished while being read)."""

    kind = "missing"


# format -> loader module (imported on first use, so `import ingest` stays light)
_LOADERS = {
    "pdf": "ingest.loaders.pdf",
    "docx": "ingest.loaders.docx",
    "pptx": "ingest.loaders.pptx",
    "xlsx": "ingest.loaders.xlsx",
    "csv": "ingest.loaders.csv",
    "txt": "ingest.loaders.text",
    "md": "ingest.loaders.markdown",
    "html": "ingest.loaders.html",
    "doc": "ingest.loaders.legacy",
    "ppt": "ingest.loaders.legacy",
}
_SUFFIXES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".csv": "csv", ".tsv": "csv",
    ".txt": "txt", ".text": "txt", ".log": "txt",
    ".md": "md", ".markdown": "md",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".doc": "doc",
    ".ppt": "ppt",
}
_NAMES = {
    "pdf": "PDF", "docx": "Word .docx", "pptx": "PowerPoint .pptx", "xlsx": "Excel .xlsx",
    "html": "HTML", "zip": "a zip archive", "ole": "a legacy Office (OLE) file",
    "png": "a PNG image", "jpeg": "a JPEG image", "gif": "a GIF image", "tiff": "a TIFF image",
    "gzip": "a gzip archive", "7z": "a 7z archive", "rar": "a RAR archive",
    "executable": "an executable", "rtf": "an RTF document",
}
_BINARY_CONTAINERS = {"pdf", "docx", "pptx", "xlsx"}


def supported_suffixes() -> frozenset[str]:
    """File suffixes (lower case, with the dot) that `load_document` accepts."""
    return frozenset(_SUFFIXES)


def _supported_list() -> str:
    return ", ".join(sorted(_SUFFIXES))


def detect_format(path: str | Path) -> tuple[str, list[str]]:
    """The loader format for `path` and any warnings; raises IngestError when none fits."""
    path = Path(path)
    suffix = path.suffix.lower()
    by_suffix = _SUFFIXES.get(suffix)
    sniffed = sniff_format(path)
    name = str(path)
    warnings: list[str] = []
    if sniffed == "ole-encrypted":
        raise EncryptedFile(name, "password-protected Office document; remove the password in Office and save again")
    if sniffed == "ole":
        if by_suffix in ("doc", "ppt"):
            return by_suffix, warnings
        raise UnsupportedFile(
            name, f"legacy Office binary file{f' named {suffix}' if suffix else ''}; save it as .docx/.xlsx/.pptx"
        )
    if sniffed in _LOADERS or sniffed in ("docx", "xlsx", "pptx"):
        if by_suffix and by_suffix != sniffed and not (by_suffix == "txt" and sniffed == "html"):
            warnings.append(f"named {suffix} but the content is {_NAMES.get(sniffed, sniffed)}; parsed as {sniffed}")
        elif by_suffix is None and suffix:
            warnings.append(f"unknown suffix {suffix}; the content is {_NAMES.get(sniffed, sniffed)}")
        if by_suffix in ("doc", "ppt") and sniffed in ("docx", "pptx"):
            return sniffed, warnings
        return sniffed, warnings
    if sniffed == "zip":
        if by_suffix in ("docx", "xlsx", "pptx"):
            return by_suffix, warnings  # the loader reports the broken archive as CorruptFile
        raise UnsupportedFile(name, f"a zip archive is not a document; supported types: {_supported_list()}")
    if sniffed is not None:  # images, archives, executables
        what = _NAMES.get(sniffed, sniffed)
        if by_suffix:
            raise CorruptFile(name, f"named {suffix} but the content is {what}")
        raise UnsupportedFile(name, f"{what} is not supported; supported types: {_supported_list()}")
    # no signature: plain text, or a damaged binary container
    if by_suffix in _BINARY_CONTAINERS:
        raise CorruptFile(name, f"not a valid {_NAMES[by_suffix]} file (its signature bytes are missing)")
    if by_suffix in ("doc", "ppt"):
        raise CorruptFile(name, f"not a valid legacy Office {suffix} file")
    if by_suffix is None:
        shown = suffix or "(no suffix)"
        raise UnsupportedFile(name, f"unsupported file type {shown}; supported types: {_supported_list()}")
    return by_suffix, warnings


def load_document(path: str | Path, options: LoadOptions = LoadOptions()) -> ParsedDocument:
    """Parse one file into sections in reading order.

    Raises an `IngestError` subclass (with a one-line `reason`) for any file that
    cannot be read: UnsupportedFile, CorruptFile, EncryptedFile, EmptyFile,
    FileTooLarge, UndecodableFile, MissingFile.
    """
    path = Path(path)
    name = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MissingFile(name, "file not found") from None
    except OSError as exc:
        raise MissingFile(name, f"cannot read the file: {exc.strerror or exc}") from None
    if path.is_dir():
        raise UnsupportedFile(name, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO blocks its reader, a device never ends; both stat as 0 bytes
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or \
            stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "special"
        raise UnsupportedFile(name, f"not a regular file ({kind}); only regular files are read")
    if st.st_size > options.max_bytes:
        raise FileTooLarge(name, f"{_mb(st.st_size)} is over the {_mb(options.max_bytes)} limit")
    if st.st_size == 0:
        raise EmptyFile(name, "the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise MissingFile(name, "permission denied")

    fmt, warnings = detect_format(path)
    if fmt in ("docx", "xlsx", "pptx"):
        _check_unpacked_size(path, options.max_bytes)
    module = importlib.import_module(_LOADERS[fmt])
    try:
        doc: ParsedDocument = module.load(path, options)
    except IngestError:
        raise
    except MemoryError:
        raise FileTooLarge(name, "ran out of memory while parsing") from None
    except FileNotFoundError:
        raise MissingFile(name, "file vanished while being read") from None
    except Exception as exc:  # a parser bug or a file its library cannot cope with
        raise CorruptFile(name, f"could not be parsed as {fmt}: {type(exc).__name__}: {_first_line(exc)}") from exc

    sections = [s for s in doc.sections if s.text.strip()]
    if not sections:
        reason = "no text found"
        hint = [w for w in doc.warnings if "zhida[ocr]" in w or "OCR" in w or "image" in w]
        if hint:
            reason += "; " + hint[0]
        raise EmptyFile(name, reason)
    return replace(doc, sections=sections, warnings=warnings + list(doc.warnings), format=doc.format or fmt)


def _check_unpacked_size(path: Path, max_bytes: int) -> None:
    """Refuse an Office zip whose parts unpack to more than the file size limit (a zip bomb) before any
    parser inflates them; zipfile never reads past a member's declared size, so the header is enough."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(max(0, i.file_size) for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # the loader reports the broken archive
    if total > max_bytes:
        raise FileTooLarge(str(path), f"unpacks to {_mb(total)}, over the {_mb(max_bytes)} limit (a zip bomb?)")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else "").strip() or "no detail"
