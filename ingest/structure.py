"""From a stream of headings, paragraphs and tables to `Section`s with heading paths.

Every loader feeds a `SectionBuilder`; it owns the heading stack, recognises
Chinese structural headings by pattern ("第一编 总则", "第二分编", "第三章",
"第四节", "附则", "第二章 物权的设立、变更、转让和消灭"), and keeps a table of
contents as a section of kind "toc" instead of letting its entries pose as
headings: under a "目录"/"Contents" title, or as a run of entry lines ending
in page numbers or dotted leaders ("第一章 总则 ........ 3"). The chunker never
indexes a "toc" section: its entries would be retrieved and quoted as answers.
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
# a table-of-contents entry: a title, a dotted leader, a page number ("总则 ........ 3"); or a
# structural title ("第一章 总则", "Chapter 2 …", "Article 5", "3.2 …"), a wide gap and a page number
_TOC_LEADER = re.compile(r"^(?P<title>\S.*?)[\s\u3000]*(?:(?:[.．·•][ \u3000]?){3,}|[…⋯_]{3,})[\s\u3000]*"
                         r"(?P<page>[0-9０-９]{1,4}|[ivxlcIVXLC]{1,6})$")
_TOC_GAP = re.compile(rf"^(?P<title>(?:第[{_CN_NUM}]+(?:部分|分编|编|篇|章|节|条)|附[\s\u3000]*则|(?:Chapter|Part|Section|"
                      r"Article|Appendix|Annex|CHAPTER|PART|SECTION|ARTICLE)\s+\w+|§+\s*\d\S*|\d+(?:\.\d+)+)"
                      r"(?:[\s\u3000]\S.*?)?)(?:[\s\u3000]{2,}|\t+|[\s\u3000]+(?=[0-9０-９]{1,4}$))"
                      r"(?P<page>[0-9０-９]{1,4})$")
# leaders inside a paragraph of entries run together: long runs only, never prose's "……". The run is
# found first and what follows it (blanks, a page number) is matched at that one place: a pattern that
# began with [\s]* would be retried at every blank of a long run of blanks (quadratic: a 240 KB line
# of spaces took minutes).
_TOC_LEADER_RUN = re.compile(r"(?:[.．·•][ \u3000]?){4,}|[…⋯]{3,}|_{4,}")
_TOC_AFTER_LEADER = re.compile(r"[\s\u3000]*(?:[0-9０-９]{1,4}|[ivxlcIVXLC]{1,6}\b)?[\s\u3000]*")
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
        # An enumeration comma is a title's ("物权的设立、变更、转让和消灭"), not right after the number
        # ("第一章、第二章的规定").
        if rest and (len(rest) > 30 or any(p in rest for p in "，。；：,;（）()") or rest.startswith("、")):
            return None
        if is_toc_entry(text):
            return None  # "第一章 总则 ...... 3" is a contents line pointing at the heading
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


def toc_titles(text: str) -> list[str]:
    """The entry titles when a paragraph is a contents line, or several run together (a PDF joins
    the lines of a contents page); [] for anything else."""
    text = text.strip()
    parts = _split_at_leaders(text)
    titles = [t.strip() for t in parts if t.strip()]
    if len(parts) >= 3 and len(titles) >= 2 and all(len(t) <= MAX_HEADING_CHARS for t in titles):
        return titles
    if is_toc_entry(text):
        m = _TOC_LEADER.match(text) or _TOC_GAP.match(text)
        return [m.group("title").strip()]
    return []


def _split_at_leaders(text: str) -> list[str]:
    """The text between dotted leaders (each with the page number after it), in linear time."""
    parts, pos = [], 0
    for m in _TOC_LEADER_RUN.finditer(text):
        if m.start() < pos:
            continue  # inside what the previous leader's page number swallowed
        parts.append(text[pos:m.start()])
        pos = _TOC_AFTER_LEADER.match(text, m.end()).end()
    parts.append(text[pos:])
    return parts


def is_toc_entry(text: str) -> bool:
    """A contents line: "第一章 总则 ........ 3", "Article 5 ..... 12", "第二节 监护  8"."""
    text = text.strip()
    if not text or len(text) > 120 or "\n" in text:
        return False
    m = _TOC_LEADER.match(text) or _TOC_GAP.match(text)
    return m is not None and any(c.isalpha() for c in m.group("title"))


@dataclass
class _Pending:
    parts: list[str] = field(default_factory=list)
    page_spans: list[tuple[int, int]] = field(default_factory=list)  # (char offset, page)
    length: int = 0
    first_page: int | None = None
    last_page: int | None = None
    toc: bool = False  # the parts are contents entries


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
        self._toc_first: str | None = None  # the first contents entry, normalised

    # -- headings ---------------------------------------------------------------------------
    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)

    def heading(self, text: str, level: float, page: int | None = None) -> None:
        title = clean_heading(text)
        if not title:
            return
        if self._toc_mode:
            if self._toc_first is not None and _norm(title) == self._toc_first:
                self._end_toc()  # the body starts: its first heading repeats the first entry
            else:  # (not any entry: "第一章 一般规定" is in every 编 of the Civil Code)
                self._toc_first = self._toc_first or _norm(title)
                self._append(clean_line(text), page, toc=True)
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
        titles = toc_titles(stripped)
        if titles:
            self._toc_first = self._toc_first or _norm(titles[0])
            self._append(stripped, page, toc=True)
            return
        level = cn_heading_level(stripped) if self._detect_cn else None
        if level is not None:
            self.heading(stripped, level, page)
            return
        if self._toc_mode and (len(stripped) > MAX_HEADING_CHARS or is_article_start(stripped)):
            self._end_toc()
        self._append(stripped, page)

    def _end_toc(self) -> None:
        """The body starts: close the contents section and drop its title from the heading path
        (the body's chapters are not under "目录")."""
        self.flush()
        self._toc_mode = False
        self._stack = [(lvl, t) for lvl, t in self._stack if not is_toc_title(t)]

    def _append(self, text: str, page: int | None, toc: bool | None = None) -> None:
        """Add a paragraph to the pending section; contents entries and body text never share one."""
        toc = self._toc_mode if toc is None else toc
        if self._pending.parts and self._pending.toc != toc:
            self.flush()
        p = self._pending
        p.toc = toc
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
                    kind="toc" if p.toc else "text",
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
