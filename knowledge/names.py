"""Knowledge-base names become folder names, so they are checked like untrusted paths."""
from __future__ import annotations

import re
import unicodedata

from knowledge.errors import InvalidName

MAX_NAME = 64
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_ALLOWED = re.compile(r"^[\w\u3400-\u9fff\uf900-\ufaff][\w\u3400-\u9fff\uf900-\ufaff .+-]*$")


def validate_kb_name(name: str) -> str:
    """The name, NFKC-normalised, or InvalidName saying what is wrong with it.

    NFKC, not NFC: full-width `ａ` and `a` look alike and mean the same, so they must be one name (and
    `．．` is checked as the `..` it becomes), not two knowledge bases a user cannot tell apart."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidName("a knowledge base needs a name")
    name = unicodedata.normalize("NFKC", name.strip()).strip()
    if "\x00" in name or "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise InvalidName(f"invalid knowledge base name {name!r}: no path separators, '..' or NUL bytes")
    if len(name) > MAX_NAME:
        raise InvalidName(f"invalid knowledge base name: at most {MAX_NAME} characters")
    if name.split(".")[0].lower() in _RESERVED:
        raise InvalidName(f"invalid knowledge base name {name!r}: reserved device name on Windows")
    if not _ALLOWED.match(name) or name.startswith("."):
        raise InvalidName(f"invalid knowledge base name {name!r}: use letters, digits, Chinese characters, "
                          "spaces, '-', '_', '.' or '+', starting with a letter or digit")
    return name


def name_key(name: str) -> str:
    """What two names must not share: NFKC and case folded. `A` and `a` are two folders on Linux but one
    on macOS and Windows, where a copied home directory would merge them."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()


def legacy_name(name: str) -> str:
    """The folder name an older Zhida (NFC only) made for this name."""
    return unicodedata.normalize("NFC", name.strip())
