"""Sections -> retrievable chunks.

Structure first: a chunk never crosses a section boundary (so never mixes two
heading paths); a table of contents (kind "toc") is never chunked, as its
entries would be retrieved and quoted as if they were answers; a Markdown table
stays whole up to `settings.keep_tables_whole_up_to` characters and is otherwise
split between rows, every piece repeating the header row.

Numbered legal text follows the document's own units (ingest.units): one
article per chunk, whole with its items when it fits in `chunk_size`, never
merged with the next one (a citation is an article, and a merged chunk would
quote two). A longer article is split between its items and paragraphs, each
piece after the first led by the article's head so it reads on its own; every
piece knows its article (`Chunk.unit`, `parent_start:parent_end`,
`parent_text`). Text before the first article, and every section without
articles, is split sentence-aware by langchain's RecursiveCharacterTextSplitter:
paragraphs, lines, Chinese sentence ends (。！？；…), English sentence ends,
clauses, words; a lead-in paragraph ending in a colon that the splitter left at
the end of a piece moves to the next piece, with what it introduces.

Every chunk's `char_start:char_end` is its span in the section's text:
`section.text[char_start:char_end] == chunk.text`, except table pieces after
the first (header rows + "\n" + that span) and article pieces after the first
(the article's head + paragraph break + that span).
"""
from __future__ import annotations

import bisect
import hashlib
import re

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ingest.cleaning import has_words
from ingest.types import Chunk, ChunkSettings, ParsedDocument, Section
from ingest.units import Unit, find_units, heading_unit

# Bumped when the same text would chunk differently; a KB records the version it was created with
# (informational: a KB made by an older chunker keeps working, its changed files get this one).
# 2: articles whole (ingest.units); 3: a lead-in ending in a colon moves to the piece with its list.
CHUNKER_VERSION = 3

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

SEPARATORS = [
    "\n\n", "\n",
    "。", "！", "？", "；", "……", "…",
    ". ", "! ", "? ", "; ",
    "，", "、", ", ", "：", ": ",
    " ", "",
]


def chunk_id(doc_sha256: str, position: int, text: str) -> str:
    """Stable id: sha256 of (document sha, position, text), 32 hex digits."""
    return hashlib.sha256(f"{doc_sha256}\x1f{position}\x1f{text}".encode("utf-8")).hexdigest()[:32]


def _splitter(settings: ChunkSettings) -> "RecursiveCharacterTextSplitter":
    # Imported here: langchain_core costs ~0.7 s of start-up, which a no-op re-index never needs.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    overlap = max(0, min(settings.chunk_overlap, settings.chunk_size // 2))
    return RecursiveCharacterTextSplitter(
        chunk_size=max(1, settings.chunk_size),
        chunk_overlap=overlap,
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
        add_start_index=False,
    )


def _spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Locate each piece (in order, possibly overlapping) inside text."""
    spans = []
    prev_start = -1
    for piece in pieces:
        start = text.find(piece, prev_start + 1)
        if start < 0:
            start = text.find(piece)
        if start < 0:  # cannot happen with strip_whitespace splitting; keep a valid span anyway
            continue
        spans.append((start, start + len(piece)))
        prev_start = start
    return spans


def split_text(text: str, settings: ChunkSettings) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentence-aware pieces of `text`."""
    if len(text.strip()) == 0:
        return []
    if len(text) <= settings.chunk_size:
        stripped = text.strip()
        start = text.find(stripped)
        return [(start, start + len(stripped))]
    return _keep_lead_ins(text, _spans(text, _splitter(settings).split_text(text)), settings.chunk_size)


def _keep_lead_ins(text: str, spans: list[tuple[int, int]], chunk_size: int) -> list[tuple[int, int]]:
    """A piece that ends with a lead-in paragraph ("要使用大语言模型，可以把 answer.llm 设为：", "From the
    command line:") hands it to the next piece, which holds what it introduces: the splitter fills pieces
    paragraph by paragraph, so it cut between the two, and one chunk announced a list that the next held
    without its subject. Only when the next piece still fits in `chunk_size` with the lead-in."""
    out = list(spans)
    for i in range(len(out) - 1):
        start, end = out[i]
        piece = text[start:end]
        if not piece.endswith((":", "：")):
            continue
        cut = piece.rfind("\n\n")
        if cut <= 0:
            continue  # the piece is the lead-in alone
        lead = start + cut + 2
        while lead < end and text[lead].isspace():
            lead += 1
        if out[i + 1][1] - min(out[i + 1][0], lead) > chunk_size:
            continue
        before = text[start:lead].rstrip()
        out[i] = (start, start + len(before))
        out[i + 1] = (min(out[i + 1][0], lead), out[i + 1][1])
    return out


def split_table(text: str, settings: ChunkSettings) -> list[tuple[str, int, int]]:
    """(piece text, span start, span end) for a Markdown table section."""
    if len(text) <= settings.keep_tables_whole_up_to:
        return [(text, 0, len(text))]
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    # header = everything up to and including the |---| separator row
    sep_at = next((i for i, line in enumerate(lines) if line.startswith("|") and set(line) <= set("|-: ")), None)
    if sep_at is None or sep_at + 1 >= len(lines):
        return [(text[s:e], s, e) for s, e in split_text(text, settings)]
    header = "\n".join(lines[: sep_at + 1])
    budget = max(settings.keep_tables_whole_up_to, len(header) + 1)
    pieces: list[tuple[str, int, int]] = []
    row = sep_at + 1
    first = True
    while row < len(lines):
        start_row = row
        size = len(header) + 1 + len(lines[row])
        row += 1
        while row < len(lines) and size + len(lines[row]) + 1 <= budget:
            size += len(lines[row]) + 1
            row += 1
        span_start = 0 if first else offsets[start_row]
        span_end = offsets[row - 1] + len(lines[row - 1])
        body = text[span_start:span_end]
        pieces.append((body if first else header + "\n" + body, span_start, span_end))
        first = False
    return pieces


def _page_range(section: Section, start: int, end: int) -> tuple[int | None, int | None]:
    """First and last page of the text span [start, end) (pages may interleave: footnotes)."""
    if not section.page_spans:
        return section.page, (section.page_end or section.page)
    starts = [s for s, _ in section.page_spans]
    first = max(bisect.bisect_right(starts, start) - 1, 0)
    last = max(bisect.bisect_right(starts, max(start, end - 1)) - 1, 0)
    pages = [p for _, p in section.page_spans[first:last + 1]]
    return min(pages), max(pages)


@dataclass(frozen=True)
class _Piece:
    text: str
    start: int  # span in the section text (text ends with it)
    end: int
    unit: str = ""
    parent_start: int | None = None
    parent_end: int | None = None
    parent_text: str = ""


def _head(text: str, unit: Unit, first_para: int, sep: str, cap: int) -> str:
    """What leads a piece of an article that starts at paragraph `first_para`: the article's
    first paragraph, plus the lead-in of its items when the piece starts at an item, shortened
    to the label and the lead-in (or its last sentence) when that would take more than `cap`."""
    label = unit.label
    if first_para == 0:
        return label  # the rest of a first paragraph too long for one chunk
    paras = unit.paragraphs
    first = text[paras[0][0]:paras[0][1]]
    if not unit.label_in_text:
        first = label + sep + first
    lead_at = None
    if paras[first_para][2]:
        # the lead-in of a list ends with a colon ("居住权合同一般包括下列条款："); a paragraph that
        # merely follows an earlier item ("The FAA must receive comments …") leads nothing
        before = [i for i in range(first_para) if not paras[i][2]
                  and text[paras[i][0]:paras[i][1]].rstrip().endswith(("：", ":"))]
        lead_at = before[-1] if before else None
    if lead_at is None:
        return first if len(first) <= cap else label
    lead = text[paras[lead_at][0]:paras[lead_at][1]]
    if lead_at == 0 and unit.label_in_text:
        lead = lead[len(label):].strip()  # the first paragraph is the lead-in: do not repeat the label
    candidates = [first if lead_at == 0 else first + sep + lead, label + sep + lead]
    # sentence ends only: "；" and "; " also end clauses ("December 6, 2018; corrected …")
    sentences = [x for x in re.split(r"(?<=[。！？])|(?<=[.!?] )", lead) if x.strip()]
    if len(sentences) > 1:
        candidates.append(label + sep + sentences[-1].strip())
    return next((c for c in candidates if len(c) <= cap), label)


def _article_pieces(text: str, unit: Unit, settings: ChunkSettings) -> list[_Piece]:
    """One article: whole when it fits, else split between its items and paragraphs (an item
    keeps the paragraphs that follow it), a paragraph longer than a chunk between sentences."""
    size = max(1, settings.chunk_size)
    whole = text[unit.start:unit.end]
    if len(whole) <= size:
        return [_Piece(whole, unit.start, unit.end, unit.label, unit.start, unit.end)]
    sep = "\n" if "\n" in text and "\n\n" not in text else "\n\n"  # the section's paragraph break
    cap = max(len(unit.label), size // 3)
    paras = unit.paragraphs
    heads = [_head(text, unit, i, sep, cap) for i in range(len(paras))]

    def cost(start: int, end: int, para: int) -> int:
        return end - start if start == unit.start else len(heads[para]) + len(sep) + end - start

    # groups: each paragraph before the first item, then each item with the non-items after it
    groups: list[list[int]] = []
    seen_item = False
    for i, (_, _, item) in enumerate(paras):
        if item or not seen_item:
            groups.append([i])
        else:
            groups[-1].append(i)
        seen_item = seen_item or item
    atoms: list[tuple[int, int, int]] = []  # (start, end, paragraph): each fits in a chunk alone
    for group in groups:
        start, end = paras[group[0]][0], paras[group[-1]][1]
        if cost(start, end, group[0]) <= size:
            atoms.append((start, end, group[0]))
            continue
        for i in group:
            ps, pe, _ = paras[i]
            if cost(ps, pe, i) <= size:
                atoms.append((ps, pe, i))
                continue
            budget = max(1, size - len(heads[i]) - len(sep))
            atoms.extend((ps + s, ps + e, i) for s, e in split_text(text[ps:pe], replace(settings, chunk_size=budget)))
    merged: list[tuple[int, int, int]] = []
    for start, end, para in atoms:
        if merged and end > merged[-1][1] and cost(merged[-1][0], end, merged[-1][2]) <= size:
            merged[-1] = (merged[-1][0], end, merged[-1][2])
        else:
            merged.append((start, end, para))
    pieces = []
    for start, end, para in merged:
        body = text[start:end]
        piece = body if start == unit.start else heads[para] + sep + body
        pieces.append(_Piece(piece, start, end, unit.label, unit.start, unit.end, whole))
    return pieces


def split_section(text: str, settings: ChunkSettings, heading: str = "") -> list[_Piece]:
    """A text section's pieces: its preamble as prose, then its articles (ingest.units); the
    whole section is one article when its heading is an article's label."""
    preamble_end, units = find_units(text)
    if not units and heading:
        unit = heading_unit(text, heading)
        preamble_end, units = (0, [unit]) if unit else (preamble_end, units)
    pieces = [_Piece(text[s:e], s, e) for s, e in split_text(text[:preamble_end], settings)]
    for unit in units:
        pieces.extend(_article_pieces(text, unit, settings))
    return pieces


def chunk_document(doc: ParsedDocument, settings: ChunkSettings, doc_sha256: str) -> list[Chunk]:
    """Split a parsed document into chunks; deterministic for the same input."""
    chunks: list[Chunk] = []
    for index, section in enumerate(doc.sections):
        if not section.text.strip() or section.kind == "toc":
            continue
        if section.kind == "table":
            if not has_words(section.text):
                continue  # a blank grid has nothing to retrieve
            pieces = [_Piece(t, s, e) for t, s, e in split_table(section.text, settings)]
        else:
            pieces = split_section(section.text, settings, (section.heading_path or ("",))[-1])
        for p in pieces:
            if not p.text.strip():
                continue
            position = len(chunks)
            page, page_end = _page_range(section, p.start, p.end)
            chunks.append(
                Chunk(
                    id=chunk_id(doc_sha256, position, p.text),
                    text=p.text,
                    source=doc.source,
                    position=position,
                    page=page,
                    page_end=page_end,
                    heading_path=section.heading_path,
                    section_index=index,
                    char_start=p.start,
                    char_end=p.end,
                    kind=section.kind,
                    unit=p.unit,
                    parent_start=p.parent_start,
                    parent_end=p.parent_end,
                    parent_text=p.parent_text,
                )
            )
    return chunks
