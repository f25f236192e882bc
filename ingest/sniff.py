"""Recognise a file's real format from its first bytes, whatever its suffix says."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_BINARY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", None),  # too short to trust alone
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!", "rar"),
    (b"\x7fELF", "executable"),
    (b"MZ", None),
    (b"{\\rtf", "rtf"),
)
_HTML_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)

ZIP_KINDS = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"}


def read_head(path: Path, n: int = 8192) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def sniff_bytes(head: bytes) -> str | None:
    """Format from the first bytes alone; 'zip' and 'ole' need the whole file to say more."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(_OLE):
        return "ole"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    for magic, kind in _BINARY_MAGIC:
        if kind and head.startswith(magic):
            return kind
    body = head
    for bom in (b"\xef\xbb\xbf",):
        if body.startswith(bom):
            body = body[len(bom):]
    if _HTML_START.match(body[:2048]):
        return "html"
    if body[:2].lower() in (b"<\x00", b"\xff\xfe", b"\xfe\xff") and _HTML_START.match(
        _utf16_ascii(body[:4096])
    ):
        return "html"
    return None


def _utf16_ascii(data: bytes) -> bytes:
    for enc in ("utf-16",):
        try:
            return data.decode(enc, errors="ignore").encode("ascii", errors="ignore")
        except Exception:  # pragma: no cover - defensive
            return b""
    return b""


def sniff_format(path: str | Path) -> str | None:
    """The format the bytes of `path` say it is: 'pdf', 'docx', 'xlsx', 'pptx', 'html',
    'ole' (legacy Office), 'ole-encrypted' (password-protected Office), 'zip', an image or
    archive kind ('png', 'gzip', ...), or None when the bytes carry no signature (plain text)."""
    path = Path(path)
    try:
        head = read_head(path)
    except OSError:
        return None
    kind = sniff_bytes(head)
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return "zip"
        for marker, fmt in ZIP_KINDS.items():
            if marker in names:
                return fmt
        return "zip"
    if kind == "ole":
        try:
            data = path.read_bytes() if path.stat().st_size < 64 * 1024 * 1024 else head
        except OSError:
            data = head
        if _ENCRYPTED_PACKAGE in data:
            return "ole-encrypted"
        return "ole"
    return kind
