"""Text clean-up shared by the loaders: whitespace, CJK spacing, line joining, Markdown tables.

Chinese text carries no spaces between words, so a PDF line break or a
letter-spaced heading ("总 则") must not leave a space between two CJK
characters; English lines join with one space and hyphenated words are mended.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

# CJK ideographs, extension A, compatibility ideographs, kana, hangul, CJK/full-width punctuation.
_CJK_CLASS = (
    "\u2e80-\u2fff\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff65"
)
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
# Unicode spaces that should behave like ASCII space (U+3000 is handled separately).
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\t\f\v]")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_CJK_GAP = re.compile(f"(?<=[{_CJK_CLASS}])([ \u3000]+)(?=[{_CJK_CLASS}])")
_MULTI_SPACE = re.compile(" {2,}")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
IDEOGRAPHIC_SPACE = "\u3000"
SENTENCE_END = tuple("。！？；：.!?;:…」』）)\"”")


def is_cjk(ch: str) -> bool:
    return bool(ch) and _CJK_CHAR.match(ch) is not None


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if is_cjk(c)) / len(chars)


def _fix_cjk_gap(match: re.Match) -> str:
    gap = match.group(1)
    # A wide gap ("第一条  为了", "目  录") is a deliberate separator: keep one ideographic space.
    # A single space between two CJK characters is letter-spacing or a layout artefact: drop it.
    return IDEOGRAPHIC_SPACE if (len(gap) > 1 or IDEOGRAPHIC_SPACE in gap) else ""


def clean_line(text: str) -> str:
    """Normalise one line: odd spaces, zero-width marks, CJK gaps, repeated spaces."""
    text = unicodedata.normalize("NFKC", text) if _needs_nfkc(text) else text
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub("", text)
    text = _ODD_SPACES.sub(" ", text)
    text = _CJK_GAP.sub(_fix_cjk_gap, text)
    text = _MULTI_SPACE.sub(" ", text)
    return text.strip(" \u3000")


_CN_NUMBERED = re.compile(r"^(第[零〇一二三四五六七八九十百千万两0-9０-９]+(?:部分|分编|编|篇|章|节|条))(?=\S)")


def clean_heading(text: str) -> str:
    """A heading for the heading path: one line, ASCII spaces only ("第一编 总则")."""
    text = clean_line(text.replace("\r", " ").replace("\n", " "))
    text = _CJK_GAP.sub("", text).strip()  # letter-spaced titles: "监  护" -> "监护"
    m = _CN_NUMBERED.match(text)
    if m:  # "第一编总则" -> "第一编 总则": one space after the structural number
        text = m.group(1) + " " + text[m.end():]
    return text


_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}


def _needs_nfkc(text: str) -> bool:
    # Only ligatures are folded; NFKC on everything would turn full-width CJK punctuation into ASCII.
    return any(c in _LIGATURES for c in text)


def clean_text(text: str) -> str:
    """Normalise a multi-line block: clean every line, keep at most one blank line in a row."""
    out: list[str] = []
    blank = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = clean_line(raw)
        if not line:
            if out and not blank:
                out.append("")
            blank = True
            continue
        blank = False
        out.append(line)
    return "\n".join(out).strip("\n")


def join_lines(lines: Iterable[str]) -> str:
    """Join wrapped lines of one paragraph: no space inside CJK text, hyphenation mended."""
    result = ""
    for line in lines:
        line = line.strip(" ")
        if not line:
            continue
        if not result:
            result = line
            continue
        result = join_pair(result, line)
    return result


def join_pair(left: str, right: str) -> str:
    last, first = left[-1], right[0]
    if last in "-\u2010\u00ad" and len(left) > 1 and left[-2].isalpha() and first.islower():
        return left[:-1] + right  # "compli-" + "cated" -> "complicated"
    if last in "-\u2010\u2013\u2014/":
        return left + right  # "737–" + "9" keeps the dash, no space
    if is_cjk(last) or is_cjk(first):
        return left + right
    return left + " " + right


# --- Markdown tables ---------------------------------------------------------------------------

def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    text = " ".join(clean_line(part) for part in text.replace("\r", "\n").split("\n") if part.strip())
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Sequence[object]], keep_empty: bool = False) -> str:
    """Rows (first one is the header) as a GitHub-flavoured Markdown table; '' when empty.

    Empty rows and columns are dropped, unless `keep_empty` asks for the bare grid of a
    table whose cells are all blank (a form skeleton still shows where the table is).
    """
    cells = [[_cell(v) for v in row] for row in rows if len(row)]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    if not any(any(row) for row in cells):
        if not keep_empty:
            return ""
        keep = list(range(width))
    else:
        cells = [row for row in cells if any(row)]
        # Drop columns that are empty everywhere.
        keep = [i for i in range(width) if any(i < len(row) and row[i] for row in cells)]
    cells = [[row[i] if i < len(row) else "" for i in keep] for row in cells]
    header, body = cells[0], cells[1:]
    lines = [_row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [_row(row) for row in body]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def has_words(text: str) -> bool:
    """True when text holds any letter, digit or ideograph (not only table pipes and dashes)."""
    return any(c.isalnum() for c in text)
