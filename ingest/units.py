"""The document's own numbered units: articles and the items inside them.

Statutes and regulations are cited by article ("第三百六十七条", "Article 12",
"§ 39.13"), so an article is the unit a chunk should hold: cutting one in the
middle leaves an answer ending at "居住权合同一般包括下列条款：" without the
clauses. This module only *finds* units in a section's text; the chunker
(ingest.chunking) decides how they become chunks.

A unit starts at a paragraph that opens with an article marker and runs to the
next one (or the end of the section); text before the first article is a
preamble, chunked as prose. Inside a unit, paragraphs that open with an item
marker ("（一）", "(a)", "1.", "一、", "•") are items: a long article is split
between its items and paragraphs (款), never inside one while it fits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_CN_NUM = "零〇一二三四五六七八九十百千万两壹贰叁肆伍陆柒捌玖拾佰仟0-9０-９"

# An article marker must be the paragraph's label, not a cross-reference that happens to start it
# ("第十条规定的…", "Section 3 of the Act …"): after the label comes white space, the end of the
# paragraph, or (glued, as OCR writes it) anything but the words of a reference.
_ARTICLE_FAMILIES: tuple[tuple[str, re.Pattern, int], ...] = (
    ("cn", re.compile(rf"^第[{_CN_NUM}]+条(?:之[{_CN_NUM}]+)?(?=[\s\u3000]|$|[^规的所和、，,至或及中第之])"), 1),
    ("article", re.compile(r"^(?:Article|ARTICLE|Art\.)[ \u00a0]+\d+[A-Za-z]?(?:[.\-]\d+)*(?=$|[\s.:—–\-])"
                           r"(?![ \u00a0]+(?:of|to|and|or|in|shall|is|are|was|says|provides)\b)"), 1),
    ("section_sign", re.compile(r"^§{1,2}[ \u00a0]*\d+[A-Za-z]?(?:[.\-–]\d+[A-Za-z]?)*(?=$|[\s.:—–])"
                                r"(?![ \u00a0]+(?:of|to|and|or|in|shall|is|are|was|says|provides)\b)"), 1),
    ("section", re.compile(r"^(?:Section|SECTION|Sec\.)[ \u00a0]+\d+[A-Za-z]?(?:\.\d+)*(?=$|[.:—–]|\s+[A-Z(“\"‘'])"),
     2),
)

_ITEM = re.compile(
    r"^(?:"
    r"[（(][一二三四五六七八九十百]+[）)]"      # （一） (一)
    r"|[（(]\d{1,3}[）)]"                       # （1） (1)
    r"|\((?:[a-z]{1,2}|[ivxlc]{1,6}|[A-Z])\)"   # (a) (iv) (A)
    r"|[一二三四五六七八九十百]+、"              # 一、
    r"|\d{1,3}(?:[.．](?!\d)|、|\))"            # 1. 1、 1)
    r"|[a-z]\)"                                 # a)
    r"|[•·▪■●○◦\-–*](?=\s)"                     # bullets
    r")"
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n")


@dataclass(frozen=True)
class Unit:
    """One article: its span in the section text, its label and its paragraphs.

    `paragraphs` are (start, end, is_item) spans in the section text, stripped of white space;
    the first one holds the label, unless the label is the section's heading (`label_in_text`
    False: a Markdown "### 第十条" or a docx article styled as a heading).
    """

    start: int
    end: int
    label: str  # "第三百六十七条", "Article 12", "§ 39.13"
    paragraphs: tuple[tuple[int, int, bool], ...]
    label_in_text: bool = True


def paragraphs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Stripped (start, end) spans of the paragraphs of text[start:end]: split at blank lines,
    or at line breaks when the text has no blank line (a one-paragraph-per-line section)."""
    end = len(text) if end is None else end
    body = text[start:end]
    breaks = _PARAGRAPH_BREAK if _PARAGRAPH_BREAK.search(body) else re.compile(r"\n")
    out = []
    pos = 0
    for m in list(breaks.finditer(body)) + [None]:
        stop = m.start() if m else len(body)
        piece = body[pos:stop]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            out.append((start + pos + lead, start + pos + lead + len(stripped)))
        pos = m.end() if m else len(body)
    return out


def article_label(paragraph: str, family: str | None = None) -> str | None:
    """The article marker opening a paragraph ("第十条", "Article 12", "§ 3"), or None."""
    paragraph = paragraph.lstrip()
    for name, pattern, _ in _ARTICLE_FAMILIES:
        if family is not None and name != family:
            continue
        m = pattern.match(paragraph)
        if m:
            return m.group(0).strip()
    return None


def is_item(paragraph: str) -> bool:
    """An enumerated item or bullet ("（一）…", "(a) …", "1. …", "•  …")."""
    return _ITEM.match(paragraph.lstrip()) is not None


def _spaced(paragraph: str, family: str | None = None) -> bool:
    """The label stands apart: white space or the end after it ("第十条　…", not "第十条路线…")."""
    label = article_label(paragraph, family)
    rest = paragraph.lstrip()[len(label):] if label else ""
    return label is not None and (not rest or not rest[0].isalnum() or rest[0] in " \u3000\u00a0")


def heading_unit(text: str, heading: str) -> Unit | None:
    """The whole section as one article when its heading is the article's label ("Article 12 …")."""
    label = article_label(heading) if _spaced(heading) else None
    spans = paragraphs(text)
    if not label or not spans:
        return None
    parts = tuple((s, e, is_item(text[s:e])) for s, e in spans)
    return Unit(start=spans[0][0], end=spans[-1][1], label=label, paragraphs=parts, label_in_text=False)


def find_units(text: str) -> tuple[int, list[Unit]]:
    """(end of the preamble, articles) of a section's text; (len(text), []) when it has none.

    One family of markers is used per section, the first (in the order of _ARTICLE_FAMILIES)
    that opens enough paragraphs, so "Section 2" in a statute of "Article"s is not a new unit.
    """
    paras = paragraphs(text)
    for name, _, needed in _ARTICLE_FAMILIES:
        starts = [i for i, (s, e) in enumerate(paras) if article_label(text[s:e], name)]
        if len(starts) == 1 and not _spaced(text[paras[starts[0]][0]:paras[starts[0]][1]], name):
            continue  # one glued "第一条路线是…" in prose is no statute; OCR'd articles come several at once
        if len(starts) >= needed:
            break
    else:
        return len(text), []
    units = []
    for n, first in enumerate(starts):
        last = starts[n + 1] if n + 1 < len(starts) else len(paras)
        spans = paras[first:last]
        label = article_label(text[spans[0][0]:spans[0][1]], name) or ""
        parts = tuple((s, e, i > 0 and is_item(text[s:e])) for i, (s, e) in enumerate(spans))
        units.append(Unit(start=spans[0][0], end=spans[-1][1], label=label, paragraphs=parts))
    return units[0].start, units
