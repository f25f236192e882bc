"""Decoding text files whose encoding nobody wrote down.

Chinese files arrive as UTF-8 (with or without BOM), UTF-16, GBK/GB18030 or
Big5. A fixed try-order beats statistical guessing on short CJK files: strict
UTF-8 first (it almost never decodes non-UTF-8 by accident), then GB18030 and
Big5 judged by how much of the result is common CJK text.
"""
from __future__ import annotations

import codecs
import re

_CJK = re.compile(r"[\u4e00-\u9fff]")
# Characters frequent in Simplified / Traditional running text respectively.
_SIMPLIFIED_HINTS = set("的这们说时会发国经过学来对开关门问间实现")
_TRADITIONAL_HINTS = set("的這們說時會發國經過學來對開關門問間實現")


class DecodeFailure(ValueError):
    pass


def _quality(text: str, hints: set[str]) -> float:
    if not text:
        return 0.0
    cjk = len(_CJK.findall(text))
    hinted = sum(1 for ch in text if ch in hints)
    bad = text.count("\ufffd") + sum(1 for ch in text if 0xE000 <= ord(ch) <= 0xF8FF)
    return (cjk + 3 * hinted - 20 * bad) / len(text)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding name). Raises DecodeFailure for binary data."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16", errors="replace"), "utf-16"
    sample = data[:4096]
    if len(sample) >= 4:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        half = len(sample) / 2
        if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
            return data.decode("utf-16-le", errors="replace"), "utf-16-le"
        if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
            return data.decode("utf-16-be", errors="replace"), "utf-16-be"
    if b"\x00" in sample:
        raise DecodeFailure("binary data (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for enc, hints in (("gb18030", _SIMPLIFIED_HINTS), ("big5", _TRADITIONAL_HINTS)):
        try:
            text = data.decode(enc)
            candidates.append((_quality(text, hints), enc, text))
        except UnicodeDecodeError:
            text = data.decode(enc, errors="replace")
            if text.count("\ufffd") < max(2, len(text) // 200):
                candidates.append((_quality(text, hints) - 0.05, enc, text))
    if candidates:
        candidates.sort(key=lambda c: -c[0])
        if candidates[0][0] > 0:
            return candidates[0][2], candidates[0][1]
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            return str(best), best.encoding
    except Exception:  # detection is best effort
        pass
    raise DecodeFailure("cannot detect the text encoding (tried UTF-8, UTF-16, GB18030, Big5)")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
