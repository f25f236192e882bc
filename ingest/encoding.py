"""Turn the bytes of a text file into str: BOMs, UTF-16 without BOM, UTF-8, GB18030/GBK, Big5.

Chinese legacy encodings are decided by a fixed try-order judged on decode
errors and on how many decoded characters are *common* Chinese characters, so
Big5 text is never misread as GBK (GBK accepts most Big5 byte pairs, but turns
them into kana, Greek letters and rare ideographs). charset-normalizer is the
fallback for everything else (Shift-JIS, cp1252, ...).
"""
from __future__ import annotations

import codecs
import re

from ingest.errors import UndecodableFile

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_PUNCT_RANGES = ((0x3000, 0x303F), (0xFF00, 0xFF65), (0x2000, 0x206F), (0xFE30, 0xFE4F))
MIN_CJK_SCORE = 0.6


def _is_punct(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _PUNCT_RANGES)


def _common_gb(ch: str) -> bool:
    """In GB2312 (the 6763 everyday simplified characters plus symbols)."""
    try:
        b = ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(b) == 2 and 0xB0 <= b[0] <= 0xF7


def _common_big5(ch: str) -> bool:
    """In Big5's frequently-used block (A440-C67E, 5401 characters)."""
    try:
        b = ch.encode("big5")
    except UnicodeEncodeError:
        return False
    return len(b) == 2 and 0xA4 <= b[0] <= 0xC6


def _score(text: str, common) -> float:
    """Share of non-ASCII, non-punctuation characters that are common ideographs."""
    total = hits = 0
    for ch in text:
        cp = ord(ch)
        if cp < 0x80 or _is_punct(cp):
            continue
        total += 1
        if 0x4E00 <= cp <= 0x9FFF and common(ch):
            hits += 1
    return hits / total if total else 0.0


def _utf16_without_bom(data: bytes) -> str | None:
    """ASCII-heavy UTF-16 has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    ne, no = even.count(0) / len(even), odd.count(0) / len(odd)
    if no > 0.3 and ne < 0.05:
        return "utf-16-le"
    if ne > 0.3 and no < 0.05:
        return "utf-16-be"
    return None


def _plausible(text: str) -> bool:
    """Mostly ASCII, CJK or other letters: not binary bytes paired into random code points."""
    if not text:
        return False
    good = sum(1 for c in text if c.isspace() or (c.isprintable() and (ord(c) < 0x250 and ord(c) > 0x1f
               or 0x3000 <= ord(c) <= 0x9FFF or 0xFF00 <= ord(c) <= 0xFFEF or 0x370 <= ord(c) <= 0x52F)))
    return good / len(text) >= 0.9 and sum(1 for c in text if 0x100 <= ord(c) < 0x250) < 0.05 * len(text)


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


# C0 control characters other than whitespace, and DEL: never part of a text's words.
_STRAY_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
# Binary bytes read as a single-byte code page give ~10% control characters; text that was pasted from a
# terminal or an old DOS file carries a few (a DOS end-of-file mark, ESC) and is still text.
MAX_CONTROL_SHARE = 0.05


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\n\r\t\f\v") or 0xFFF0 <= ord(c) <= 0xFFFF)
    return bad / len(text) > MAX_CONTROL_SHARE


def detect_and_decode(data: bytes, path: str = "<bytes>") -> tuple[str, str]:
    """Decode `data`; return (text with LF line ends, encoding name). Raises UndecodableFile."""
    text, encoding = _decode(data, path)
    if _looks_binary(text):
        raise UndecodableFile(path, f"looks like binary data, not text (decoded as {encoding})")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return _STRAY_CONTROLS.sub("", text), encoding


def _decode(data: bytes, path: str) -> tuple[str, str]:
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom):], name)
            if text is None:
                text = data[len(bom):].decode(name, errors="replace")
            return text, name + ("-sig" if name == "utf-8" else "")
    utf16 = _utf16_without_bom(data)
    if utf16:
        text = _strict(data, utf16)
        if text is not None and _plausible(text):
            return text, utf16
    if b"\x00" in data[:8192]:
        raise UndecodableFile(path, "contains NUL bytes: binary data, not text")
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    candidates = []
    for name, common in (("gb18030", _common_gb), ("big5", _common_big5)):
        decoded = _strict(data, name) if name == "gb18030" else (_strict(data, "big5") or _strict(data, "cp950"))
        if decoded is not None:
            candidates.append((_score(decoded, common), name, decoded))
    if candidates:
        score, name, decoded = max(candidates, key=lambda c: c[0])  # ties keep gb18030 (listed first)
        if score >= MIN_CJK_SCORE:
            return decoded, name
    return _fallback(data, path, candidates)


def _fallback(data: bytes, path: str, candidates) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        text = str(best)
        if not _looks_binary(text):
            return text, best.encoding
    if candidates:
        score, name, decoded = max(candidates, key=lambda c: c[0])
        if score > 0.3:
            return decoded, name
    raise UndecodableFile(path, "could not detect the text encoding (tried UTF-8, UTF-16, GB18030, Big5 and others)")
