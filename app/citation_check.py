"""Citations of a generated answer checked against the passages instead of taken on the model's word.

A small model puts `[n]` after sentences it did not take from passage n, cites one passage for all,
or cites nothing. So every sentence of the answer is matched to the passages it was given by how
much of its wording each one holds (character bigrams for Chinese, words for other scripts — the
model copies or lightly rewords what it read, and a sentence drawn from a passage shares most of
its bigrams with it), and then:

- a `[n]` stays when passage n holds at least KEEP of the sentence and is not far behind the passage
  holding the most (within MARGIN);
- a sentence left without a valid `[n]` gets the passage holding the most of it, when that passage
  holds at least ATTACH;
- a sentence no passage supports (a lead-in, a conclusion in the model's own words) keeps no number;
- a sentence too short to judge (fewer than MIN_UNITS units: 「可以。」, 「要承担责任。」, which echo the
  question's words that every retrieved passage shares) keeps the numbers it has and gets none.

The numbers stay those of the passages the model was given; `app.answering.map_citations` then
turns them into the citation list.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

KEEP = 0.3
ATTACH = 0.45
MARGIN = 0.3
MIN_UNITS = 5

_MARK = re.compile(r"\[(\d{1,3})\]")
# English function words: every sentence and passage has them, so they would count as support
_EN_STOP = frozenset("a an and are as at be by for from has have in is it its of on or that the this to was "
                     "were will with".split())
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# a sentence ends at Chinese/English end punctuation (with closing quotes and any [n] right after it)
# or at a line break
_SENTENCE = re.compile(r"(?:[。！？；!?;]+|\.(?=\s|$|\[))[”’」』）)\"']*(?:[ \t]*\[\d{1,3}\])*|\n+")


@dataclass(frozen=True)
class CheckedText:
    """The answer with verified citations, and what the check changed (for benchmarks and logs)."""

    text: str
    kept: int
    dropped: int
    added: int


def units(text: str) -> set[str]:
    """Comparable pieces of `text`: bigrams of each run of Chinese characters (whitespace inside a run,
    from PDF line wrapping, ignored; a lone character counts as itself) and lower-cased words of
    other scripts but English function words."""
    text = _MARK.sub(" ", _CJK_GAP.sub("", text))
    out: set[str] = set()
    for run in _CJK_RUN.findall(text):
        if len(run) > 1:
            out.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.add(run)
    words = (w.lower() for w in _WORD.findall(_CJK_RUN.sub(" ", text)))
    out.update(w for w in words if w not in _EN_STOP)
    return out


def support(sentence: set[str], passage: set[str]) -> float:
    """Share of the sentence's units the passage holds."""
    return len(sentence & passage) / len(sentence) if sentence else 0.0


def _pieces(text: str) -> list[str]:
    """`text` cut into sentences (each with its trailing [n] and separator); joined they are `text`.

    A quotation (“…”, 「…」) is one piece up to its end however many clauses it holds: a model quoting
    an article with （一）…；（二）…； quotes one passage, which should get one number, not one per clause."""
    out, pos = [], 0
    for m in _SENTENCE.finditer(text):
        if m.group(0)[0] != "\n" and _open_quotes(text[pos:m.start()]) > 0:
            continue
        if m.end() > pos:
            out.append(text[pos:m.end()])
            pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _open_quotes(text: str) -> int:
    """How many quotations are open at the end of `text`."""
    return text.count("“") - text.count("”") + text.count("「") - text.count("」")


def check_citations(text: str, passages: Sequence[str]) -> CheckedText:
    """`text` with each sentence's [n] kept, dropped or attached by the rules of the module docstring.

    `passages[i]` is the text of the passage the model saw as [i+1]."""
    pset = [units(p) for p in passages]
    pieces = _pieces(text)
    claims = [[int(n) for n in _MARK.findall(p)] for p in pieces]
    bodies = [_MARK.sub("", p) for p in pieces]
    # numbers on a piece with no words of its own (`[1]` alone on the next line) belong to the sentence before
    last = None  # the nearest piece before with words of its own
    for i in range(len(pieces)):
        if units(bodies[i]):
            last = i
        elif claims[i] and last is not None:
            claims[last] += claims[i]
            claims[i] = []
    kept = dropped = added = 0
    out = []
    for piece, body, claimed in zip(pieces, bodies, claims):
        sent = units(body)
        invented = sum(1 for n in claimed if not 1 <= n <= len(pset))
        claimed = list(dict.fromkeys(n for n in claimed if 1 <= n <= len(pset)))
        if len(sent) < MIN_UNITS:
            chosen = claimed
        else:
            scores = [support(sent, p) for p in pset]
            best = max(range(len(scores)), key=scores.__getitem__) if scores else -1
            top = scores[best] if scores else 0.0
            chosen = [n for n in claimed if scores[n - 1] >= KEEP and scores[n - 1] >= top - MARGIN]
            if not chosen and top >= ATTACH:
                chosen = [best + 1]
        kept += sum(1 for n in chosen if n in claimed)
        dropped += invented + sum(1 for n in claimed if n not in chosen)
        added += sum(1 for n in chosen if n not in claimed)
        out.append(_place(piece, body, chosen))
    return CheckedText("".join(out), kept, dropped, added)


def _place(piece: str, body: str, numbers: Sequence[int]) -> str:
    """The sentence with `numbers` where the model put its first number (so 「五天[1]。」 keeps its
    style), or after the end punctuation and before the line break when it put none."""
    marks = "".join(f"[{n}]" for n in numbers)
    first = _MARK.search(piece)
    if first is not None:
        head = _MARK.sub("", piece[:first.start()])
        return head + marks + body[len(head):]
    if not numbers:
        return body
    core = body.rstrip()
    return core + marks + body[len(core):]
