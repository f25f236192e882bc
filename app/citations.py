"""A citation and its one JSON shape, label and footnote list, for every interface.

The CLI (`zhida ask --json` and its printed sources), REST chat, `/v1` and the web UI all show a
citation through these functions, so file, page, page range and heading path cannot go missing in
one of them again (the API's converter once read a field citations did not have and dropped every
heading).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    source: str
    page: int | None
    text: str
    score: float
    page_end: int | None = None
    heading_path: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)


def citation_of(n: int, chunk: Any) -> Citation:
    """Citation number `n` for a RetrievedChunk."""
    return Citation(n=n, chunk_id=str(chunk.chunk_id), source=str(chunk.source), page=chunk.page,
                    page_end=getattr(chunk, "page_end", None), heading_path=tuple(getattr(chunk, "heading_path", ())),
                    text=chunk.text, score=round(float(chunk.score), 6))


def display_name(source: str) -> str:
    """A document's file name from its path (either slash)."""
    return Path(str(source).replace("\\", "/")).name or str(source)


def location_dict(c: Any) -> dict[str, Any]:
    """Where a passage is, for a RetrievedChunk or a Citation alike: source, name, page, page_end,
    heading (joined) and heading_path (the list)."""
    source = str(getattr(c, "source", ""))
    path = tuple(getattr(c, "heading_path", ()) or ())
    page, page_end = getattr(c, "page", None), getattr(c, "page_end", None)
    return {"source": source, "name": display_name(source), "page": page,
            "page_end": page_end,
            "heading": " > ".join(path), "heading_path": list(path)}


def citation_dict(c: Citation) -> dict[str, Any]:
    """The one JSON shape of a citation (zhida ask --json, REST chat, /v1, the UI)."""
    return {"n": c.n, "chunk_id": c.chunk_id, **location_dict(c), "text": c.text, "score": c.score}


def page_label(page: int | None, page_end: int | None, lang: str = "en") -> str:
    """'page 3', 'pages 3–5' (English) or '第 3 页', '第 3–5 页' (Chinese); '' when the page is unknown."""
    if not page:
        return ""
    ranged = page_end is not None and page_end != page
    if lang == "zh":
        return f"第 {page}–{page_end} 页" if ranged else f"第 {page} 页"
    return f"pages {page}–{page_end}" if ranged else f"page {page}"


def where(c: Mapping[str, Any], lang: str = "en", *, full_path: bool = False, sep: str = " · ") -> str:
    """'file · page 3 · Part > Chapter' for a citation dict (plain text: escape it where it is HTML)."""
    name = (c.get("source") if full_path else c.get("name")) or display_name(str(c.get("source") or ""))
    heading = c.get("heading") or " > ".join(c.get("heading_path") or ())
    bits = [name, page_label(c.get("page"), c.get("page_end"), lang), heading]
    return sep.join(b for b in bits if b)


def footnotes(citations: Sequence[Mapping[str, Any]], lang: str = "en", *, refused: bool = False) -> str:
    """The sources as Markdown footnote lines to append to an answer's text, so a client that shows
    only the message content (any OpenAI client) still shows where each [n] comes from."""
    if not citations:
        return ""
    if refused:
        title = "最接近的段落：" if lang == "zh" else "Closest passages:"
    else:
        title = "来源：" if lang == "zh" else "Sources:"
    lines = [f"[{c.get('n')}] {where(c, lang, sep='，' if lang == 'zh' else ', ')}" for c in citations]
    return "\n\n---\n" + title + "  \n" + "  \n".join(lines)


_FOOTNOTE_TITLES = ("来源：", "最接近的段落：", "Sources:", "Closest passages:")


def without_footnotes(text: str) -> str:
    """An answer as it was before `footnotes` were appended (an OpenAI client sends our own answers back
    as history: their source lists are no part of the conversation)."""
    head, sep, tail = text.rpartition("\n\n---\n")
    return head if sep and tail.startswith(_FOOTNOTE_TITLES) else text
