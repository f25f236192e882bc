"""Helpers shared by the text-based loaders."""
from __future__ import annotations

from pathlib import Path

from ingest.encoding import detect_and_decode
from ingest.errors import EmptyFile


def read_text(path: Path) -> tuple[str, str]:
    """Decoded text (LF line ends) and the encoding used; EmptyFile when only whitespace."""
    text, encoding = detect_and_decode(path.read_bytes(), str(path))
    if not text.strip():
        raise EmptyFile(str(path), "the file contains only whitespace")
    return text, encoding


def encoding_warning(encoding: str) -> list[str]:
    if encoding in ("utf-8", "ascii", "utf-8-sig"):
        return []
    return [f"decoded as {encoding}"]
