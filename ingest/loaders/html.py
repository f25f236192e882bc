"""HTML: the main text only (no script, style, nav, header, footer, aside); h1-h6 become the heading path."""
from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ingest.cleaning import clean_line, join_lines, markdown_table
from ingest.encoding import detect_and_decode
from ingest.errors import EmptyFile
from ingest.structure import SectionBuilder
from ingest.types import LoadOptions, ParsedDocument

_DROP = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "iframe",
         "svg", "canvas", "form", "button", "select", "input", "textarea", "object", "embed", "link", "meta")
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_BLOCKS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
           "pre", "table", "figure", "figcaption", "address", "details", "summary", "hr", "br",
           "h1", "h2", "h3", "h4", "h5", "h6", "center", "body", "tr", "td", "th", "caption"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        m = _META_CHARSET.search(data[:4096])
        if m:
            declared = m.group(1).decode("ascii", "ignore").lower()
            try:
                text = data.decode(_ALIASES.get(declared, declared))
                return text.replace("\r\n", "\n").replace("\r", "\n"), declared
            except (LookupError, UnicodeDecodeError):
                pass  # the declaration lies: detect instead
    return detect_and_decode(data, str(path))


def load(path: Path, options: LoadOptions) -> ParsedDocument:
    text, encoding = _decode(path.read_bytes(), path)
    soup = BeautifulSoup(text, "lxml")
    for node in soup.find_all(string=lambda s: isinstance(s, Comment)):
        node.extract()
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": True}):
        if not tag.decomposed and str(tag.get("role", "")).lower() in _DROP_ROLES:
            tag.decompose()
    for tag in soup.find_all(attrs={"hidden": True}):
        if not tag.decomposed:
            tag.decompose()
    root = _main(soup)
    builder = SectionBuilder()
    if root is not None:
        _walk(root, builder)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    sections = builder.build()
    if not sections and not title:
        raise EmptyFile(str(path), "the page has no visible text")
    return ParsedDocument(source=str(path), sections=sections, warnings=[], format="html")


def _main(soup: BeautifulSoup) -> Tag | None:
    mains = soup.find_all("main")
    if len(mains) == 1:
        return mains[0]
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _inline_text(node: Tag | NavigableString) -> str:
    if isinstance(node, NavigableString):
        return str(node)
    parts = []
    for s in node.descendants:
        if isinstance(s, NavigableString) and not isinstance(s, Comment):
            parts.append(str(s))
        elif isinstance(s, Tag) and s.name == "br":
            parts.append("\n")
    return "".join(parts)


def _emit_text(raw: str, builder: SectionBuilder, prefix: str = "") -> None:
    lines = [clean_line(x) for x in raw.split("\n")]
    # HTML source line breaks are not text line breaks: join them (no spaces inside CJK text)
    text = join_lines([x for x in lines if x])
    if text:
        builder.block(prefix + text)


def _has_block_child(tag: Tag) -> bool:
    return any(isinstance(c, Tag) and c.name in _BLOCKS for c in tag.descendants)


def _walk(tag: Tag, builder: SectionBuilder) -> None:
    inline: list[str] = []

    def flush_inline() -> None:
        if inline:
            _emit_text("".join(inline), builder)
            inline.clear()

    for child in tag.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            flush_inline()
            builder.heading(child.get_text(" ", strip=True), level=int(name[1]) * 10)
        elif name == "table":
            flush_inline()
            rows = []
            for tr in child.find_all("tr"):
                rows.append([c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])])
            caption = child.find("caption")
            builder.table(markdown_table(rows), caption=caption.get_text(" ", strip=True) if caption else None)
        elif name == "pre":
            flush_inline()
            code = child.get_text()
            if code.strip():
                builder.block(code.strip("\n"))
        elif name == "li" and not _has_block_child(child):
            flush_inline()
            _emit_text(_inline_text(child), builder, prefix="- ")
        elif name in _BLOCKS:
            flush_inline()
            if _has_block_child(child):
                _walk(child, builder)
            else:
                _emit_text(_inline_text(child), builder)
        else:
            inline.append(_inline_text(child))
    flush_inline()
