"""End-to-end answer scoring (`zhida eval-qa`): did the answer hold the fact, cited, or refuse?

A line of QUESTIONS.jsonl is `{"id", "question", "answer_contains", "passage_contains"}`
(format: ../shared/data/qa/README.md). An answerable line (answer_contains is a string) counts
when the answer is not refused, its text contains `answer_contains` and at least one citation's
text contains `passage_contains`; an unanswerable line (answer_contains null) counts when refused.
Both comparisons ignore all whitespace, since PDF text wraps anywhere.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

_WS = re.compile(r"\s+")


class QASetError(ValueError):
    """The file is not a QUESTIONS.jsonl of the documented shape."""


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer_contains: str | None  # None: the documents do not answer it
    passage_contains: str | None

    @property
    def answerable(self) -> bool:
        return self.answer_contains is not None


def squash(text: str) -> str:
    """Text with all whitespace removed, for containment checks."""
    return _WS.sub("", text or "")


def load_qa(path: Path) -> list[QAItem]:
    path = Path(path)
    if not path.is_file():
        raise QASetError(f"{path}: no such question file")
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                items.append(QAItem(str(r["id"]), str(r["question"]), r.get("answer_contains"),
                                    r.get("passage_contains")))
            except json.JSONDecodeError as exc:
                raise QASetError(f"{path}:{lineno}: not a JSON line ({exc.msg})") from exc
            except (KeyError, TypeError) as exc:
                raise QASetError(f"{path}:{lineno}: a line needs id and question ({exc})") from exc
    if not items:
        raise QASetError(f"{path}: no questions")
    return items


def is_correct(item: QAItem, refused: bool, answer_text: str, cited_texts: Sequence[str]) -> bool:
    """The scoring rule of the module docstring."""
    if not item.answerable:
        return refused
    if refused or squash(item.answer_contains) not in squash(answer_text):
        return False
    want = squash(item.passage_contains or "")
    return any(want in squash(t) for t in cited_texts)


def gold_rank(item: QAItem, ranked_texts: Iterable[str]) -> int | None:
    """1-based rank of the first retrieved passage holding `passage_contains` (diagnosis of a miss)."""
    want = squash(item.passage_contains or "")
    if not want:
        return None
    for rank, text in enumerate(ranked_texts, 1):
        if want in squash(text):
            return rank
    return None


@dataclass(frozen=True)
class QAResult:
    """One scored question: what `zhida ask` answered, whether it counts, and how long the user waited."""

    item: QAItem
    answer: Any  # app.answering.Answer
    correct: bool
    first_token_ms: float | None
    total_ms: float


def run_questions(kb, items: Sequence[QAItem], settings: dict, llm, *, progress: bool = True) -> list[QAResult]:
    """Ask every question exactly as `zhida ask` does (app.asking) and score it: the one loop behind
    `zhida eval-qa` and `python -m benchmarks answers`, so both count the same thing."""
    import time

    from tqdm import tqdm

    from app.asking import ask_timed

    out = []
    for item in tqdm(items, desc="questions", unit="q", leave=False, disable=None if progress else True):
        t0 = time.perf_counter()
        ans, first_ms = ask_timed(kb, item.question, settings, llm)
        total_ms = round((time.perf_counter() - t0) * 1000, 2)
        ok = is_correct(item, ans.refused, ans.text, [c.text for c in ans.citations])
        out.append(QAResult(item, ans, ok, first_ms, total_ms))
    return out


def summarise(results: Sequence[tuple[QAItem, Any, bool]]) -> dict[str, Any]:
    """The `zhida eval-qa --json` object (other tools read it: keep the keys exactly).

    `results` holds (item, Answer, correct) per question (or QAResult)."""
    results = [(r.item, r.answer, r.correct) if isinstance(r, QAResult) else r for r in results]
    answerable = [r for r in results if r[0].answerable]
    unanswerable = [r for r in results if not r[0].answerable]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "answered_cited": sum(1 for r in answerable if r[2]),
        "unanswerable": len(unanswerable),
        "refused": sum(1 for r in unanswerable if r[2]),
        "misses": [{"id": item.id, "question": item.question, "refused": ans.refused, "answer": ans.text,
                    "cited": [c.text for c in ans.citations]} for item, ans, ok in results if not ok],
    }
