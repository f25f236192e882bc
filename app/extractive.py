"""Extractive answers: quote the unit of the documents that answers the question, cited.

No language model. The answer is the best-matching complete unit of one passage — a short article or
clause with its list items whole, one paragraph of prose whole, or otherwise the best-matching sentence
with the sentences around it in document order, in prose within its paragraph (a list's lead-in stays
with its items) — and a second passage only when it matches nearly as well and adds question words the
first does not hold. Nothing else is padded on.

Sentences are scored by the question's words weighted log(1 + N/df) over the N candidate sentences, so
a rare word (a name, a number, a legal term) outweighs one every passage repeats. Which passage wins
combines that match with the retriever's order, since the retriever (dense + BM25) has already read
the passage as a whole and the words of a paraphrased question may not be the passage's words.
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from typing import Sequence

from knowledge.types import RetrievedChunk

# A passage up to this long is quoted whole when it is one unit (an article, a clause, a paragraph).
MAX_ANSWER_CHARS = 360
# Sentence ends: Chinese and English, plus newlines (list items, headings).
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)]*|(?<=[.])\s+|\n+")
_ITEM = re.compile(r"^\s*(（[一二三四五六七八九十]+）|\([a-z0-9ivx]+\)|[0-9]{1,2}[.、)]|[一二三四五六七八九十]+、)")
_UNIT_START = re.compile(r"^\s*(第[零〇一二三四五六七八九十百千万0-9]+条|Article\s+\d+|§\s*\d+)", re.I)
_CJK_NEWLINE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s*\n\s*|\s*\n\s*(?=[\u3000-\u9fff\uff00-\uffef])")
# how much a later passage's match is discounted: the retriever's order is evidence too
RANK_DISCOUNT = 0.5


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int
    text: str


def sentences(text: str) -> list[_Sentence]:
    """Sentence spans of `text` (the text between them is whitespace or nothing)."""
    out, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[pos:m.end()]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(_Sentence(pos + lead, m.end(), piece.strip()))
        pos = m.end()
    if text[pos:].strip():
        lead = len(text[pos:]) - len(text[pos:].lstrip())
        out.append(_Sentence(pos + lead, len(text), text[pos:].strip()))
    return [s for s in out if len(s.text) >= 2]


def tidy(text: str) -> str:
    """Line breaks of a PDF inside Chinese text removed; elsewhere one space."""
    text = _CJK_NEWLINE.sub("", text.strip())
    return re.sub(r"\s*\n\s*", " ", text)


def _tokens(text: str) -> set[str]:
    from app.text_tokens import tokens

    return tokens(text)


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


_TITLE_LINE = re.compile(r"[^\n。！？；.!?;:：]{1,40}")


def _paragraph_of(text: str, sents: list[_Sentence]) -> list[int]:
    """Each sentence's paragraph number (paragraphs are separated by a blank line). A title line (one
    short line with no sentence punctuation, as a plain-text file starts) belongs to the paragraph
    after it: the question names the title's subject, the answer is in the text under it; and a
    paragraph after a lead-in ending in a colon belongs to the lead-in ("From the command line:" and
    the command)."""
    gaps = list(_PARAGRAPH_BREAK.finditer(text))
    breaks = [m.start() for m in gaps]
    bounds = [0] + [m.end() for m in gaps]
    texts = [text[start:breaks[n] if n < len(breaks) else len(text)].strip() for n, start in enumerate(bounds)]
    # a title joins the paragraph after it, and so does whatever follows a lead-in ending in a colon
    # (its list, its code block): paragraph n takes the number of the paragraph it belongs to
    owner = list(range(len(texts)))
    for n in range(len(texts) - 2, -1, -1):
        if _TITLE_LINE.fullmatch(texts[n]):
            owner[n] = owner[n + 1]
    for n in range(1, len(texts)):
        if texts[n - 1].endswith((":", "：")):
            owner[n] = owner[n - 1]
    return [owner[bisect.bisect_left(breaks, s.start)] for s in sents]


def _window(text: str, sents: list[_Sentence], best: int, limit: int,
            same_paragraph: bool = False) -> tuple[int, int]:
    """Span of the best sentence grown by its neighbours in document order, within `limit` characters
    (and, with `same_paragraph`, within the best sentence's paragraph: prose moves to another topic there).

    A list item pulls in its lead-in (the sentence ending in ： before the items); a lead-in pulls in
    its items; otherwise the window grows after the best sentence first (answers follow their topic
    sentence), then before it."""
    lo = hi = best
    para = _paragraph_of(text, sents) if same_paragraph else [0] * len(sents)
    length = lambda a, b: sents[b].end - sents[a].start  # noqa: E731
    if _ITEM.match(sents[best].text):
        head = best
        while head > 0 and _ITEM.match(sents[head].text):
            head -= 1
        if length(head, hi) <= limit:
            lo = head
    if sents[hi].text.rstrip().endswith(("：", ":")):
        while hi + 1 < len(sents) and _ITEM.match(sents[hi + 1].text) and length(lo, hi + 1) <= limit:
            hi += 1
    after = lambda: hi + 1 < len(sents) and length(lo, hi + 1) <= limit and para[hi + 1] == para[hi]  # noqa: E731
    before = lambda: lo > 0 and length(lo - 1, hi) <= limit and para[lo - 1] == para[lo]  # noqa: E731
    grew = True
    while grew:
        grew = False
        if after() and (hi - best) <= (best - lo):
            hi += 1
            grew = True
        elif before():
            lo -= 1
            grew = True
        elif after():
            hi += 1
            grew = True
    return sents[lo].start, sents[hi].end


def _unit_spans(text: str, sents: list[_Sentence], best: int, limit: int) -> list[tuple[int, int]]:
    """The whole passage when it is one short unit (an article, or prose of one paragraph); else the
    window around the best sentence — in prose within its paragraph, in a long article with the
    article's head sentence too (before the window, with the text between left out)."""
    body = text.strip()
    unit = bool(_UNIT_START.match(body))
    if len(body) <= limit and (unit or not _PARAGRAPH_BREAK.search(body)):
        start = text.find(body)
        return [(start, start + len(body))]
    if not unit:
        return [_window(text, sents, best, limit, same_paragraph=True)]
    if best > 0 and _ITEM.match(sents[best].text):  # a long article: its head, then the matching items
        lo, hi = _window(text, sents, best, max(1, limit - len(sents[0].text)))
        if lo <= sents[0].end:
            return [(sents[0].start, hi)]
        return [(sents[0].start, sents[0].end), (lo, hi)]
    return [_window(text, sents, best, limit)]


def extractive_answer(question: str, chunks: Sequence[RetrievedChunk], max_chars: int = MAX_ANSWER_CHARS,
                      max_passages: int = 5) -> str:
    """The answer text with [n] citations (n = the passage's position in `chunks`), or "" when no
    passage shares a word with the question."""
    q = _tokens(question)
    if not q or not chunks:
        return ""
    passages = []
    for n, c in enumerate(chunks[:max_passages], 1):
        sents = sentences(c.text)
        passages.append((n, c, sents, [_tokens(s.text) for s in sents], _tokens(c.text)))
    all_sents = [w for *_, words, _ in passages for w in words]
    if not all_sents:
        return ""
    df = {w: sum(1 for words in all_sents if w in words) for w in q}
    weight = {w: math.log(1 + len(all_sents) / df[w]) for w in q if df[w]}
    total = sum(weight.values()) or 1.0

    def match(words: set[str]) -> float:
        return sum(weight.get(w, 0.0) for w in q & words) / total

    scored = []
    for n, c, sents, words, whole in passages:
        if not sents:
            continue
        best = max(range(len(sents)), key=lambda i: (match(words[i]), -i))
        # the passage as a whole and its best sentence both count; the retriever's order breaks near-ties
        score = (0.5 * match(whole) + 0.5 * match(words[best])) / (1 + RANK_DISCOUNT * (n - 1))
        if match(whole) > 0:
            scored.append((score, -n, n, c, sents, best, whole))
    if not scored:
        return ""
    scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
    top = scored[0]
    parts = [(top[2], _unit_spans(top[3].text, top[4], top[5], max_chars), top[3])]
    covered = set(top[6]) & q
    for score, _, n, c, sents, best, whole in scored[1:]:
        adds = {w for w in (q & whole) - covered if weight.get(w, 0) >= 0.5 * max(weight.values())}
        if score >= 0.8 * top[0] and adds and not _same_unit(c, top[3]):
            parts.append((n, _unit_spans(c.text, sents, best, max_chars // 2), c))
        break  # only the runner-up is ever considered: a third passage is padding
    out = []
    for n, spans, c in parts:
        piece = "……".join(tidy(c.text[s:e]) for s, e in spans)
        out.append(f"{piece}[{n}]")
    return "\n".join(out)


def _same_unit(a: RetrievedChunk, b: RetrievedChunk) -> bool:
    return a.source == b.source and a.text == b.text
