"""From a stream of headings, paragraphs and tables to `Section`s with heading paths.

Every loader feeds a `SectionBuilder`; it owns the heading stack, recognises
Chinese structural headings by pattern ("第一编 总则", "第二分编", "第三章",
"第四节", "附则"), and keeps a table of contents ("目录") as plain text instead
of letting its entries pose as headings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.cleaning import clean_heading, clean_line
from ingest.types import Section

_CN_NUM = "零〇一二三四五六七八九十百千万两壹贰叁肆伍陆柒捌玖拾佰仟0-9０-９"
# Levels leave room between them so styled headings (Heading N -> 10*N) interleave sensibly.
_CN_HEADING = re.compile(
    rf"^第[{_CN_NUM}]+(?P<unit>部分|分编|编|篇|章|节)(?:[\s\u3000]*\S.*|[\s\u3000]*)$"
)
_CN_LEVELS = {"部分": 10, "篇": 10, "编": 10, "分编": 20, "章": 30, "节": 40}
_CN_ANNEX = re.compile(r"^(附[\s\u3000]*则|总[\s\u3000]*则|附[\s\u3000]*录)$")
_TOC_TITLE = re.compile(r"^(目[\s\u3000]*录|table of contents|contents)$", re.IGNORECASE)
_ARTICLE = re.compile(rf"^第[{_CN_NUM}]+条")
MAX_HEADING_CHARS = 60


def cn_heading_level(text: str) -> int | None:
    """Level of a Chinese structural heading ("第一编 总则" -> 10), or None."""
    text = text.strip()
    if not text or len(text) > MAX_HEADING_CHARS:
        return None
    m = _CN_HEADING.match(text)
    if m:
        after = text[m.end("unit"):]
        rest = after.strip(" \u3000")
        # "第一章规定的..." is a sentence, not a heading: a heading's title is short and unpunctuated.
        if rest and (len(rest) > 30 or any(p in rest for p in "，。；：,;、（）()")):
            return None
        if rest and after[:1] not in (" ", "\u3000") and (len(rest) > 20 or rest.startswith(("的", "规定", "所"))):
            return None  # glued to the number: only a short title counts (OCR drops the space)
        return _CN_LEVELS[m.group("unit")]
    if _CN_ANNEX.match(text):
        return 10
    return None


def is_article_start(text: str) -> bool:
    """'第十条 ...' opens a new article (a paragraph, never a heading)."""
    return _ARTICLE.match(text.strip()) is not None


def is_toc_title(text: str) -> bool:
    return _TOC_TITLE.match(text.strip()) is not None


@dataclass
class _Pending:
    parts: list[str] = field(default_factory=list)
    page_spans: list[tuple[int, int]] = field(default_factory=list)  # (char offset, page)
    length: int = 0
    first_page: int | None = None
    last_page: int | None = None


class SectionBuilder:
    """Collects blocks in reading order and emits `Section`s.

    `paragraph_sep` joins paragraphs inside one section.
    """

    def __init__(self, paragraph_sep: str = "\n\n", detect_cn_headings: bool = True):
        self.sections: list[Section] = []
        self._stack: list[tuple[float, str]] = []
        self._pending = _Pending()
        self._sep = paragraph_sep
        self._detect_cn = detect_cn_headings
        self._toc_mode = False
        self._toc_first: str | None = None

    # -- headings ---------------------------------------------------------------------------
    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)

    def heading(self, text: str, level: float, page: int | None = None) -> None:
        title = clean_heading(text)
        if not title:
            return
        if self._toc_mode:
            if self._toc_first is None:
                self._toc_first = title
            elif _norm(title) == _norm(self._toc_first):
                self._toc_mode = False  # the body starts: its first heading repeats the first entry
            if self._toc_mode:
                self._append(clean_line(text), page)
                return
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    def block(self, text: str, page: int | None = None, style_level: float | None = None) -> None:
        """A paragraph, or a heading when styled as one or when it matches a Chinese pattern."""
        stripped = text.strip()
        if not stripped:
            return
        if style_level is not None:
            self.heading(stripped, style_level, page)
            return
        if is_toc_title(stripped):
            self.flush()
            self._stack = [(lvl, t) for lvl, t in self._stack if lvl < 10]
            self._stack.append((10, clean_heading(stripped)))
            self._toc_mode, self._toc_first = True, None
            return
        level = cn_heading_level(stripped) if self._detect_cn else None
        if level is not None:
            self.heading(stripped, level, page)
            return
        if self._toc_mode and (len(stripped) > MAX_HEADING_CHARS or is_article_start(stripped)):
            self._toc_mode = False
        self._append(stripped, page)

    def _append(self, text: str, page: int | None) -> None:
        p = self._pending
        if p.parts:
            p.length += len(self._sep)
        if page is not None:
            p.first_page = page if p.first_page is None else min(p.first_page, page)
            if not p.page_spans or p.page_spans[-1][1] != page:
                p.page_spans.append((p.length, page))
            p.last_page = page if p.last_page is None else max(p.last_page, page)
        p.parts.append(text)
        p.length += len(text)

    def continue_paragraph(self, text: str, page: int | None) -> None:
        """Append to the last paragraph (a paragraph that runs on to the next page)."""
        p = self._pending
        if not p.parts:
            self._append(text, page)
            return
        from ingest.cleaning import join_pair

        joined = join_pair(p.parts[-1], text)
        added = len(joined) - len(p.parts[-1])
        if page is not None and (not p.page_spans or p.page_spans[-1][1] != page):
            p.page_spans.append((p.length + (added - len(text)), page))
            p.first_page = page if p.first_page is None else min(p.first_page, page)
            p.last_page = page if p.last_page is None else max(p.last_page, page)
        p.parts[-1] = joined
        p.length += added

    @property
    def has_pending(self) -> bool:
        return bool(self._pending.parts)

    # -- tables and output -----------------------------------------------------------------------
    def table(self, markdown: str, page: int | None = None, caption: str | None = None) -> None:
        if not markdown.strip():
            return
        self.flush()
        path = self.heading_path + ((clean_heading(caption),) if caption else ())
        self.sections.append(Section(text=markdown, page=page, heading_path=path, kind="table", page_end=page))

    def flush(self) -> None:
        p = self._pending
        if p.parts:
            text = self._sep.join(p.parts)
            spans = tuple(p.page_spans) if len(p.page_spans) > 1 else ()
            self.sections.append(
                Section(
                    text=text,
                    page=p.first_page,
                    heading_path=self.heading_path,
                    kind="text",
                    page_end=p.last_page,
                    page_spans=spans,
                )
            )
        self._pending = _Pending()

    def build(self) -> list[Section]:
        self.flush()
        return self.sections


def _norm(text: str) -> str:
    return re.sub(r"[\s\u3000]+", "", text)
