"""HTML: the main text under its h1-h6 headings; scripts, styles, navigation, headers, footers dropped."""
from __future__ import annotations

import re
from pathlib import Path

from ingest.loaders.text import read_text
from ingest.types import LoadOptions, ParsedDocument, Section

_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe"]
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption", "caption"}


def html_sections(markup: str, source: str) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": re.compile("navigation|banner|contentinfo")}):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush():
        text = "\n".join(t for t in buf if t).strip()
        if text:
            sections.append(Section(text=text, heading_path=tuple(h for _, h in stack)))
        buf.clear()

    for el in root.find_all(list(_HEADINGS) + list(_BLOCKS) + ["table"]):
        if el.name in _HEADINGS:
            flush()
            level = _HEADINGS[el.name]
            while stack and stack[-1][0] >= level:
                stack.pop()
            title = el.get_text(" ", strip=True)
            if title:
                stack.append((level, title))
        elif el.name == "table":
            flush()
            rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])] for tr in el.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                from ingest.loaders.tables import markdown_table

                sections.append(Section(text=markdown_table(rows), heading_path=tuple(h for _, h in stack),
                                        kind="table"))
        elif el.find_parent("table") is None and not el.find(list(_BLOCKS)):
            buf.append(el.get_text(" ", strip=True))
    flush()
    if not sections:
        text = root.get_text("\n", strip=True)
        if text:
            sections.append(Section(text=text))
    return sections


def load_html(path: Path, options: LoadOptions) -> ParsedDocument:
    markup, _ = read_text(path)
    return ParsedDocument(source=str(path), sections=html_sections(markup, str(path)), format="html")
